"""Time preprocessing: decode + binarize + resize + split + write, in images/s (printed only).

    python bench/preprocess.py                          # 200 synthetic 96 px images
    python bench/preprocess.py -n 500 --synthetic-size 400 --size 256
    python bench/preprocess.py ../shared/data/kvasir-seg-sample --size 400
    python bench/preprocess.py ../shared/data/ham10000-sample --size 256
    python bench/preprocess.py my_folder                # images/ + masks/

A folder is read with the source whose layout it has (``images/`` + ``masks/`` -> folder,
``Kvasir-SEG/`` -> kvasir-seg, ``HAM10000_images*`` -> ham10000) or ``--source``. Besides the
full ``prepare`` (threads, then one thread), it times decode + resize alone with and without JPEG
draft decoding, to show what reduced-size decoding buys.
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path

import click
import numpy as np

from seginterp.data.decode import read_image, read_mask, resize_image, resize_mask
from seginterp.data.prepare import PreprocessParams, prepare
from seginterp.data.sources.registry import SOURCES


def _detect(folder: Path) -> str:
    if (folder / "images").is_dir() and (folder / "masks").is_dir():
        return "folder"
    if (folder / "Kvasir-SEG" / "images").is_dir():
        return "kvasir-seg"
    if any(folder.glob("HAM10000_images*")):
        return "ham10000"
    raise click.UsageError(
        f"{folder}: no images/+masks/, Kvasir-SEG/ or HAM10000_images*/ inside; pass --source"
    )


def _decode(pairs: list, size: int, draft: bool) -> float:
    """Seconds to decode + resize every pair (with or without JPEG draft), one thread."""
    t = time.perf_counter()
    for p in pairs:
        img, _ = read_image(p.image_path, draft_size=size if draft else None)
        resize_image(img, size)
        resize_mask(read_mask(p.mask_path), size)
    return time.perf_counter() - t


@click.command()
@click.argument("folder", required=False, type=click.Path(exists=True, path_type=Path))
@click.option("--source", type=click.Choice(SOURCES.names()), default=None)
@click.option("-n", "--n-images", default=200, show_default=True, help="Synthetic images.")
@click.option("--synthetic-size", default=96, show_default=True, help="Synthetic image side.")
@click.option("--size", default=96, show_default=True, help="Prepared image side.")
@click.option("--workers", default=None, type=int, help="Decoding threads [default: CPUs, max 8].")
def main(
    folder: Path | None,
    source: str | None,
    n_images: int,
    synthetic_size: int,
    size: int,
    workers: int | None,
) -> None:
    """Time preprocessing of FOLDER (or of generated synthetic images) and print images/s."""
    logging.basicConfig(level=logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        if folder is None:
            src = SOURCES.get("synthetic")
            folder = Path(tmp) / "raw"
            cfg = src.parse({"source": "synthetic", "n_images": n_images, "size": synthetic_size})
            t = time.perf_counter()
            src.download(cfg, folder)
            gen = time.perf_counter() - t
            print(
                f"generate   {n_images} synthetic {synthetic_size} px: {n_images / gen:8.1f} img/s"
            )
        else:
            src = SOURCES.get(source or _detect(folder))
        pairs, rejects = src.scan(folder, None)
        n = len(pairs)
        if n == 0:
            raise click.UsageError(f"{folder}: no image/mask pairs ({len(rejects)} rejects)")
        sizes = [tuple(read_image(p.image_path, draft_size=size)[1]) for p in pairs[:50]]
        hs, ws = zip(*sizes, strict=True)
        print(
            f"{src.name}: {n} pairs, e.g. {int(np.median(ws))}x{int(np.median(hs))} px (median of "
            f"{len(sizes)}), to {size} px"
        )
        for p in pairs:  # warm the page cache so that the first timing is not penalised
            p.image_path.read_bytes()
            p.mask_path.read_bytes()
        cfg_p = PreprocessParams(image_size=size, split={"train": 0.8, "val": 0.1, "test": 0.1})
        for label, w in (("threads", workers), ("1 thread", 1)):
            out = Path(tmp) / f"prepared-{w}"
            t = time.perf_counter()
            prepare(folder, out, src.scan, None, cfg_p, workers=w)
            dt = time.perf_counter() - t
            print(f"prepare, all steps ({label:8s}): {n / dt:8.1f} img/s  ({dt:.2f} s)")
        for label, draft in (("JPEG draft", True), ("full decode", False)):
            dt = _decode(pairs, size, draft)
            print(f"decode+resize only ({label}, 1 thread): {n / dt:8.1f} img/s  ({dt:.2f} s)")


if __name__ == "__main__":
    main()
