"""README's results summary and docs/results.md's full block are generated from the committed
run and checked against dvc.lock; README stays a short guide whose links to docs/ resolve."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image
from support import ROOT

from seginterp.report import readme

METHODS = ["saliency", "integrated_gradients", "deeplift"]
FIGURES = "metrics/toy/replicates/0/plots/figures"
CLAIMS = (
    "Claims of the paper on `toy`: 1 held.\n\n| claim | verdict |\n|---|---|\n"
    + "".join(f"| c{i} | held |\n" for i in range(5))
    + "\nBeyond the paper: none.\n"
)
AGREEMENT = {
    "tests": {
        name: {"label": f"{name} score", "lower_is_better": lower, "n": 12,
               "ranks": dict(zip(METHODS, ranks, strict=True))}
        for name, lower, ranks in (("infidelity", False, [1, 2, 3]), ("deletion", True, [1, 3, 2]))
    },
    "kendall_w": {"kendall_w": 0.75, "ci_low": 0.5, "ci_high": 1.0, "n": 12},
    "kendall_tau": {"infidelity_vs_deletion": {"kendall_tau": 0.333, "ci_low": -0.333,
                                               "ci_high": 1.0, "n": 12}},
}  # fmt: skip


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def _maps_png(path: Path) -> None:
    """A real maps.png of evaluate's figure code: one image, the three methods."""
    from seginterp.evaluate.figures import ImageRow, image_rows_figure

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:32, :32]
    pred = (yy - 16) ** 2 + (xx - 16) ** 2 < 64
    border = pred & ~np.roll(pred, 1, axis=0)
    maps = {m: rng.normal(size=(3, 32, 32)) for m in METHODS}
    row = ImageRow("img0", rng.integers(0, 256, (32, 32, 3)), pred, pred, border, maps)
    image_rows_figure([row], METHODS, path)


def _project(tmp_path: Path) -> Path:
    files = {
        "metrics/toy/summary.json": json.dumps(
            {"test": {"mIoU": 0.5, "mDice": 0.6}, "n": {"models": 3, "scored": 12}}
        ).encode(),
        "metrics/toy/claims.md": CLAIMS.encode(),
        "metrics/toy/agreement.json": json.dumps(AGREEMENT).encode(),
    }
    outs = []
    for rel, data in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(data)
        outs.append({"path": rel, "md5": _md5(data), "size": len(data)})
    (tmp_path / FIGURES).mkdir(parents=True)
    _maps_png(tmp_path / FIGURES / "maps.png")
    manifest = json.dumps(
        [{"md5": _md5((tmp_path / FIGURES / "maps.png").read_bytes()), "relpath": "maps.png"}]
    ).encode()
    dir_md5 = _md5(manifest) + ".dir"
    cached = tmp_path / ".dvc/cache/files/md5" / dir_md5[:2] / dir_md5[2:]
    cached.parent.mkdir(parents=True)
    cached.write_bytes(manifest)
    outs.append({"path": FIGURES, "md5": dir_md5, "nfiles": 1})
    lock = {"schema": "2.0", "stages": {"evaluate@toy": {"cmd": "x", "outs": outs}}}
    (tmp_path / "dvc.lock").write_text(yaml.safe_dump(lock))
    (tmp_path / "params.yaml").write_text(
        yaml.safe_dump({"toy": {"attribute": {"methods": METHODS}}})
    )
    (tmp_path / "README.md").write_text(f"# t\n\n{readme.BEGIN}\nold\n{readme.END}\n\ntail\n")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs/results.md").write_text(f"# r\n\n{readme.FULL_BEGIN}\n{readme.FULL_END}\n")
    return tmp_path


def test_update_writes_the_outputs_and_cites_their_md5(tmp_path: Path) -> None:
    root = _project(tmp_path)
    assert readme.update(root, ["toy"])
    text, full = (root / "README.md").read_text(), (root / "docs/results.md").read_text()
    for t in (text, full):
        assert "(3 replicate models, 12 scored image-model pairs): mIoU 0.500, mDice 0.600" in t
    # README: the picture, the tally and the first rows; docs/results.md: everything
    assert "![`toy`" in text and "(docs/img/toy-overview.png)" in text
    assert "| c2 | held |" in text and "| c3 | held |" not in text
    assert "The first 3 of 5 rows" in text and "Beyond the paper" not in text
    assert "| c4 | held |" in full and "Beyond the paper: none." in full and '"mDice": 0.6' in full
    for t in (text, full):  # the ranking agreement, both pages
        assert "| method | infidelity score ↑ (n=12) | deletion score ↓ (n=12) |" in t
        assert "| deeplift | 3 | 2 |" in t and "Kendall's W over the 2 tests: 0.75 [0.5, 1]" in t
        assert "infidelity vs deletion 0.333 [-0.333, 1]" in t
    assert f"<!-- source {FIGURES} md5 " in text
    assert text.startswith("# t\n") and text.endswith("\n\ntail\n")
    with Image.open(root / "docs/img/toy-overview.png") as im:
        width, height = im.size
    with Image.open(root / FIGURES / "maps.png") as im:
        assert 0.4 * im.size[0] < width < 0.8 * im.size[0] and height < im.size[1] * 0.9
    assert readme.check(root, ["toy"]) == []
    assert not readme.update(root, ["toy"])  # idempotent


def test_check_fails_when_dvc_lock_moves_on(tmp_path: Path) -> None:
    root = _project(tmp_path)
    readme.update(root, ["toy"])
    lock = yaml.safe_load((root / "dvc.lock").read_text())
    lock["stages"]["evaluate@toy"]["outs"][0]["md5"] = "0" * 32
    (root / "dvc.lock").write_text(yaml.safe_dump(lock))
    problems = readme.check(root, ["toy"])
    assert [p.split(":")[0] for p in problems] == ["README.md", "docs/results.md"], problems
    assert all("metrics/toy/summary.json" in p for p in problems)


def test_check_fails_when_the_figures_move_on(tmp_path: Path) -> None:
    root = _project(tmp_path)
    readme.update(root, ["toy"])
    lock = yaml.safe_load((root / "dvc.lock").read_text())
    lock["stages"]["evaluate@toy"]["outs"][3]["md5"] = "1" * 32 + ".dir"
    (root / "dvc.lock").write_text(yaml.safe_dump(lock))
    (problem,) = readme.check(root, ["toy"])
    assert problem.startswith(f"README.md: {FIGURES}: the block cites"), problem


@pytest.mark.parametrize("rel", ["README.md", "docs/results.md"])
def test_check_fails_when_a_block_is_edited_by_hand(tmp_path: Path, rel: str) -> None:
    root = _project(tmp_path)
    readme.update(root, ["toy"])
    path = root / rel
    path.write_text(path.read_text().replace("mIoU 0.500", "mIoU 0.947"))
    assert readme.check(root, ["toy"]) == [
        f"{rel}: the block differs from what the outputs render: run `make readme`"
    ]


def test_check_fails_when_the_picture_is_replaced(tmp_path: Path) -> None:
    root = _project(tmp_path)
    readme.update(root, ["toy"])
    Image.new("RGB", (10, 10), "white").save(root / "docs/img/toy-overview.png")
    assert readme.check(root, ["toy"]) == [
        "docs/img/toy-overview.png differs from what maps.png gives: run `make readme`"
    ]


def test_outputs_that_differ_from_the_lock_are_refused(tmp_path: Path) -> None:
    root = _project(tmp_path)
    (root / "metrics/toy/summary.json").write_text(json.dumps({"test": {"mIoU": 0.9}}))
    with pytest.raises(readme.ReadmeError, match=r"differs from dvc\.lock"):
        readme.render(root, ["toy"])
    root2 = _project(tmp_path / "second")
    (root2 / FIGURES / "maps.png").write_bytes(b"not the locked figure")
    with pytest.raises(readme.ReadmeError, match=r"maps\.png differs from dvc\.lock"):
        readme.picture(root2, "toy")


def test_project_readme_describes_the_committed_run() -> None:
    """README.md's summary and docs/results.md's block cite the md5s of the committed dvc.lock
    (and, where the outputs are in the workspace, equal what they render)."""
    assert readme.check(ROOT, ["synthetic"]) == []


def test_project_readme_shows_the_committed_architecture_comparison() -> None:
    """README's architecture table is rendered from comparisons/synthetic-architectures.json."""
    from seginterp.report.architectures import check_readme, table_path

    assert check_readme(ROOT / "README.md", table_path(ROOT, "synthetic")) == []


def test_project_readme_is_a_short_guide_whose_docs_links_resolve() -> None:
    """README stays within 250 lines; every docs/ page (and anchor) it links exists."""
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 250
    links = re.findall(r"\]\((docs/[^)#\s]+)(?:#([^)\s]+))?\)", text)
    pages = {page for page, _ in links if page.endswith(".md")}
    assert {"docs/results.md", "docs/explaining.md", "docs/evaluation.md"} <= pages, pages
    for page, anchor in links:
        assert (ROOT / page).is_file(), page
        if anchor:
            headings = re.findall(r"^#+ (.+)$", (ROOT / page).read_text(), re.MULTILINE)
            slugs = {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}
            assert anchor in slugs, (page, anchor, sorted(slugs))
