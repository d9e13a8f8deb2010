"""The offline HTML report: built from a small fake metrics tree, rendered in headless Chromium."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from seginterp.report.__main__ import main
from seginterp.report.page import flatten, render_report, write_report
from seginterp.report.sources import ReportError, collect_sources, read_table

D = "toy"
MAGENTA = (255, 0, 255)
C0_BLUE = (31, 119, 180)  # matplotlib's first line colour
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--enable-logging=stderr",
    "--v=0",
]
needs_chromium = pytest.mark.skipif(
    not Path(CHROMIUM).is_file(),
    reason="headless Chromium not installed (apt-get install chromium; .ci/run installs it)",
)


def _fake_outputs(root: Path) -> None:
    """A miniature of the pipeline's outputs for dataset ``toy``."""
    metrics = root / "metrics" / D
    (metrics / "plots" / "layer_regions").mkdir(parents=True)
    (metrics / "plots" / "figures").mkdir()
    (metrics / "segmentation.json").write_text(json.dumps({"mIoU": 0.8125, "mDice": 0.875}))
    saliency = {"mean": 0.25, "ci95": [0.2, 0.3]}
    fragility = {"infidelity": {"0.03": {"model": {"saliency": saliency}}}}
    (metrics / "fragility.json").write_text(json.dumps(fragility))
    (metrics / "plots" / "layer_regions" / "gradcam.csv").write_text(
        "layer_index,layer,band_share,inside_share,sensitivity\n"
        "0,encoder1,0.1,0.5,\n4,bottleneck,0.3,0.4,\n9,decoder5,0.6,0.2,\n"
    )
    Image.new("RGB", (48, 48), MAGENTA).save(metrics / "plots" / "figures" / "maps.png")
    live = root / "dvclive" / D
    for split, values in (("train", [1.0, 0.7, 0.5]), ("val", [1.1, 0.9, 0.8])):
        tsv = live / "plots" / "metrics" / split / "loss.tsv"
        tsv.parent.mkdir(parents=True)
        rows = "".join(f"{i}\t{v}\t{1700000000 + i}\n" for i, v in enumerate(values))
        tsv.write_text("step\tloss\ttimestamp\n" + rows)
    (live / "metrics.json").write_text(json.dumps({"train": {"loss": 0.5}, "step": 2}))


class _Dom(HTMLParser):
    """Collects the report's figures (class, source, svg/path counts, svg text, img sources)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.figures: list[dict[str, Any]] = []
        self.tags: Counter[str] = Counter()
        self.ids: Counter[str] = Counter()
        self._fig: dict[str, Any] | None = None
        self._in_text = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.tags[tag] += 1
        if "id" in a:
            self.ids[a["id"]] += 1
        if tag == "figure":
            self._fig = {"class": a.get("class", "").split(), "source": a.get("data-source", "")}
            self._fig.update(svg=0, path=0, text=[], img=[])
            self.figures.append(self._fig)
        elif self._fig is not None and tag in ("svg", "path"):
            self._fig[tag] += 1
        elif self._fig is not None and tag == "img":
            self._fig["img"].append(a.get("src", ""))
        self._in_text = self._in_text or tag == "text"

    def handle_endtag(self, tag: str) -> None:
        if tag == "figure":
            self._fig = None
        elif tag == "text":
            self._in_text = False

    def handle_data(self, data: str) -> None:
        if self._fig is not None and self._in_text and data.strip():
            self._fig["text"].append(data.strip())


def _parse(html_text: str) -> _Dom:
    dom = _Dom()
    dom.feed(html_text)
    dom.close()
    return dom


def _chromium(page: Path, tmp: Path, timeout: float = 90) -> tuple[str, str, Path]:
    """Open ``page`` in headless Chromium: (dumped DOM, stderr log, screenshot path)."""
    shot = tmp / "screenshot.png"
    profile = tmp / "chromium-profile"
    args = [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--window-size=1200,2000"]
    args += [f"--screenshot={shot}", "--dump-dom", page.resolve().as_uri()]
    env = {**os.environ, "HOME": str(tmp)}
    proc = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        start_new_session=True,
    )  # fmt: skip
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    if proc.returncode != 0:
        raise AssertionError(f"chromium failed ({proc.returncode}):\n{err[-3000:]}")
    return out, err, shot


def _console_lines(stderr: str, page: Path) -> list[str]:
    """Console messages Chromium logged for ``page`` (with --enable-logging=stderr --v=0)."""
    uri = page.resolve().as_uri()
    return [ln for ln in stderr.splitlines() if ":CONSOLE" in ln and uri in ln]


def _pixels_near(img: np.ndarray, rgb: tuple[int, int, int], tol: int = 12) -> int:
    return int((np.abs(img.astype(int) - np.array(rgb)).max(axis=-1) <= tol).sum())


# ------------------------------------------------------------------------------------------ unit


def test_flatten_dots_nested_keys_and_keeps_lists_and_summaries_in_one_cell() -> None:
    summary = {"mean": 0.5, "ci_low": 0.25, "ci_high": 0.75, "n": 20}
    data = {"a": {"b": 1.234567891, "c": [1, 2]}, "d": [{"e": None}], "f": True, "s": summary}
    assert list(flatten(data)) == [
        ("a.b", "1.23457"),
        ("a.c", "[1, 2]"),
        ("d[0].e", "null"),
        ("f", "true"),
        ("s", "0.5 [0.25, 0.75] n=20"),
    ]


def test_read_table_accepts_csv_tsv_and_json_records(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(json.dumps({"rows": [{"step": 0, "x": 1.5}]}))
    assert read_table(tmp_path / "a.json").to_dict("records") == [{"step": 0, "x": 1.5}]
    (tmp_path / "b.json").write_text(json.dumps({"x": 1}))
    with pytest.raises(ReportError, match="list of records"):
        read_table(tmp_path / "b.json")


def test_report_without_outputs_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match=r"no pipeline outputs for dataset 'toy'.*dvc pull"):
        render_report(collect_sources(tmp_path, D))


def test_report_is_self_contained_and_deterministic(tmp_path: Path) -> None:
    _fake_outputs(tmp_path)
    src = collect_sources(tmp_path, D)
    assert [p.as_posix() for p in src.figures] == [f"metrics/{D}/plots/figures/maps.png"]
    assert len(src.curves) == 2 and len(src.tables) == 1 and len(src.metrics) == 3
    text = render_report(src)
    assert text == render_report(collect_sources(tmp_path, D))  # no random ids or dates
    assert "<script" not in text
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)  # nothing fetched
    dom = _parse(text)
    assert [i for i, n in dom.ids.items() if n > 1] == []  # ids unique across inline SVGs


def test_cli_reports_every_listed_dataset_and_fails_on_a_missing_one(tmp_path: Path) -> None:
    _fake_outputs(tmp_path)
    (tmp_path / "params.yaml").write_text(f"datasets:\n  - {D}\n")
    ok = CliRunner().invoke(main, ["--root", str(tmp_path)])
    assert ok.exit_code == 0, ok.output
    assert (tmp_path / "reports" / f"{D}.html").is_file()
    bad = CliRunner().invoke(main, ["--root", str(tmp_path), "--dataset", "nope"])
    assert bad.exit_code != 0 and "no report for nope" in bad.output


# ----------------------------------------------------------------------------------- chromium


@needs_chromium
def test_report_renders_offline_in_headless_chromium(tmp_path: Path) -> None:
    root = tmp_path / "project"
    _fake_outputs(root)
    page = write_report(root, D, root / "reports" / f"{D}.html")
    dom_text, stderr, shot = _chromium(page, tmp_path)

    assert _console_lines(stderr, page) == [], "the page logged console messages"
    dom = _parse(dom_text)
    assert dom.tags["script"] == 0
    plots = [f for f in dom.figures if "plot" in f["class"]]
    assert sorted(f["source"] for f in plots) == [
        f"dvclive/{D}/plots/metrics/train/loss.tsv dvclive/{D}/plots/metrics/val/loss.tsv",
        f"metrics/{D}/plots/layer_regions/gradcam.csv",
    ]
    for fig in plots:
        assert fig["svg"] == 1 and fig["path"] >= 5, fig
    curve, table = sorted(plots, key=lambda f: f["source"])
    assert {"loss", "step", "train/loss", "val/loss"} <= set(curve["text"])
    expected = {"layer_regions/gradcam", "band_share", "inside_share", "layer", "encoder1"}
    assert expected | {"bottleneck", "decoder5"} <= set(table["text"])
    images = [f for f in dom.figures if "image" in f["class"]]
    assert len(images) == 1 and images[0]["img"][0].startswith("data:image/png;base64,")
    assert dom.tags["table"] == 3 and "0.8125" in dom_text and "infidelity.0.03" in dom_text

    with Image.open(shot) as im:
        assert im.format == "PNG" and im.size == (1200, 2000)
        px = np.asarray(im.convert("RGB"))
    assert (px.min(axis=-1) < 250).mean() > 0.02, "screenshot is blank"
    assert _pixels_near(px, MAGENTA, tol=0) >= 40 * 40, "embedded PNG figure not drawn"
    assert _pixels_near(px, C0_BLUE) >= 30, "SVG plot lines not drawn"


@needs_chromium
def test_console_check_catches_page_errors_and_blocked_loads(tmp_path: Path) -> None:
    """Control: the console check above is not vacuous on this Chromium build."""
    page = tmp_path / "bad.html"
    page.write_text(
        "<!DOCTYPE html><html><head><meta http-equiv='Content-Security-Policy' "
        "content=\"default-src 'none'; script-src 'unsafe-inline'\"></head><body>"
        "<script>console.error('boom')</script><img src='http://127.0.0.1:9/x.png'></body></html>"
    )
    _, stderr, _ = _chromium(page, tmp_path)
    lines = _console_lines(stderr, page)
    assert any('"boom"' in ln for ln in lines), stderr[-3000:]
    assert any("Content Security Policy" in ln for ln in lines), stderr[-3000:]


def test_report_opens_with_the_claims_table(tmp_path):
    d = tmp_path / "metrics" / "toy"
    d.mkdir(parents=True)
    (d / "segmentation.json").write_text('{"mIoU": 0.5}')
    claims = {
        "dataset": "toy",
        "claims": [
            {"id": "x", "claim": "border positive", "source": "Fig. 5", "paper": "—",
             "ours": "0/20", "n": 20, "verdict": "not held", "why": "sign test p<0.001"}
        ],
        "counts": {"held": 0, "not held": 1, "inconclusive": 0},
    }  # fmt: skip
    (d / "claims.json").write_text(json.dumps(claims))
    page = render_report(collect_sources(tmp_path, "toy"))
    body = page.split("<body>", 1)[1]
    assert body.index("<table class='claims'") < body.index("<section id='metrics'>")
    assert "<td>border positive</td>" in body and "verdict-not-held" in body


def test_the_ranking_agreement_follows_the_claims(tmp_path):
    from evaluate.results.test_agreement import ranked

    from seginterp.evaluate.render.agreement import agreement_document
    from seginterp.evaluate.results.agreement import rows
    from seginterp.evaluate.results.table import Results, frame

    d = tmp_path / "metrics" / "toy"
    d.mkdir(parents=True)
    (d / "claims.json").write_text(json.dumps({"claims": [], "counts": {}}))
    doc = agreement_document(Results(frame(rows(ranked(1.0)))), None)
    (d / "agreement.json").write_text(json.dumps(doc))
    body = render_report(collect_sources(tmp_path, "toy")).split("<body>", 1)[1]
    assert body.index("<table class='claims'") < body.index("<table class='agreement'")
    assert "<th>deletion AUC ↓ (n=12)</th>" in body and "<td>guided_backprop</td>" in body
    assert "Kendall&#x27;s W over the 4 tests: 1 [" in body
    assert "faithfulness tests on <code>toy</code> (rank 1" in body
