"""torchrun support: process group setup, rank helpers, deterministic sharding, Parquet parts.

Nothing here has side effects on import. Outside torchrun (no ``RANK``/``WORLD_SIZE`` in the
environment) every helper degrades to the single-process case: rank 0 of a world of 1, and the
collectives are no-ops.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
import torch
import torch.distributed as dist

from seginterp.core.launch import Launch, launched

T = TypeVar("T")
PART_POS = "_pos"  # column of a part that orders its rows in the merged table


def under_torchrun() -> bool:
    """True when the process was started by torchrun with more than one rank."""
    return launched().world_size > 1


def active() -> bool:
    """True when a process group of more than one rank is initialized."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if active() else 0


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def is_main() -> bool:
    """True on rank 0 (and in a single process): the rank that writes shared outputs."""
    return rank() == 0


def quiet() -> bool | None:
    """tqdm's ``disable`` for a progress bar of the main rank: no bar on the other ranks, and
    none when the output is not a terminal (a log file stays free of escape codes)."""
    return None if is_main() else True


def barrier() -> None:
    if active():
        dist.barrier()


def backend_for(device: torch.device) -> str:
    return "nccl" if device.type == "cuda" else "gloo"


def local_device(device: torch.device) -> torch.device:
    """The rank's own GPU (``cuda:LOCAL_RANK``) under torchrun; ``device`` otherwise."""
    if device.type == "cuda" and under_torchrun():
        return torch.device("cuda", launched().local_rank)
    return device


@contextlib.contextmanager
def process_group(device: torch.device | str = "cpu") -> Iterator[Launch]:
    """Initialize the process group under torchrun (NCCL for CUDA, gloo for CPU); always
    destroy it on exit. A no-op outside torchrun or with a world of 1."""
    device = torch.device(device)
    launch = launched()
    if launch.world_size <= 1 or dist.is_initialized():
        yield launch
        return
    if device.type == "cuda":
        torch.cuda.set_device(launch.local_rank)
    dist.init_process_group(backend=backend_for(device))
    try:
        yield launch
    finally:
        dist.destroy_process_group()


def broadcast(obj: T, src: int = 0) -> T:
    """``obj`` of rank ``src`` on every rank (picklable objects)."""
    if not active():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def all_sum(values: Sequence[float]) -> list[float]:
    """Element-wise sum over ranks (float64 on CPU; gloo and NCCL via the group's backend)."""
    if not active():
        return [float(v) for v in values]
    nccl = dist.get_backend() == "nccl"
    dev = torch.device("cuda", torch.cuda.current_device()) if nccl else None
    t = torch.tensor(list(values), dtype=torch.float64, device=dev)
    dist.all_reduce(t)
    return [float(v) for v in t.cpu()]


def shard(n: int, rank_: int | None = None, world: int | None = None) -> range:
    """Positions ``0..n-1`` of this rank: ``i`` goes to rank ``i % world``."""
    r = rank() if rank_ is None else rank_
    w = world_size() if world is None else world
    return range(r, n, w)


def write_part(parts_dir: Path, name: str, rows: list[dict[str, Any]], positions: list[int],
               columns: Sequence[str] | None = None) -> None:  # fmt: skip
    """Write this rank's ``rows`` (``positions[j]`` = the global order key of ``rows[j]``) to
    ``parts_dir/<name>.rank<r>.parquet``; ``columns`` default to the rows' keys."""
    if len(rows) != len(positions):
        raise ValueError(f"{len(rows)} rows but {len(positions)} positions")
    parts_dir.mkdir(parents=True, exist_ok=True)
    df = pd.DataFrame(rows, columns=None if columns is None else list(columns))
    df[PART_POS] = pd.Series(positions, dtype="int64")
    df.to_parquet(parts_dir / f"{name}.rank{rank()}.parquet", index=False)


def merge_parts(parts_dir: Path, name: str, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Rank 0: concatenate every rank's part of ``name`` in global order (stable within a part).

    Rows are rebuilt from records, so the dtypes are those a single process would infer from
    the same rows (parts where a column is all-null do not force it to ``object``). ``columns``
    default to those of the first part that has rows."""
    frames = []
    for r in range(world_size()):
        p = parts_dir / f"{name}.rank{r}.parquet"
        if not p.exists():
            raise FileNotFoundError(f"rank {r} wrote no part {p}")
        frames.append(pd.read_parquet(p))
    if columns is None:
        full = [f for f in frames if len(f)] or frames
        columns = [c for c in full[0].columns if c != PART_POS]
    frames = [f for f in frames if len(f)] or frames[:1]
    df = pd.concat(frames, ignore_index=True).sort_values(PART_POS, kind="stable")
    records = [
        {k: (None if _isnull(v) else v) for k, v in rec.items() if k != PART_POS}
        for rec in df.to_dict("records")
    ]
    return pd.DataFrame(records, columns=list(columns))


def _isnull(v: Any) -> bool:
    return v is None or (isinstance(v, float) and v != v) or v is pd.NA


def remove_parts(parts_dir: Path) -> None:
    """Delete a parts directory (rank 0, after the merge)."""
    shutil.rmtree(parts_dir)


def gather_rows(
    parts_dir: Path,
    name: str,
    rows: list[dict[str, Any]],
    positions: list[int],
    columns: Sequence[str] | None = None,
) -> pd.DataFrame | None:
    """Every rank's ``rows`` as one table in global order, on rank 0 (None on the others).

    ``positions[j]`` is the global order key of ``rows[j]`` (e.g. the image position). One
    process: the rows as they are. Under torchrun: each rank writes ``parts_dir/<name>.rank<r>``,
    a barrier waits for all, rank 0 merges the parts in order and removes ``parts_dir``. The
    result equals the single-process table.
    """
    if world_size() == 1:
        return pd.DataFrame(rows, columns=None if columns is None else list(columns))
    write_part(parts_dir, name, rows, positions, columns)
    barrier()  # every rank's part is written
    if not is_main():
        return None
    merged = merge_parts(parts_dir, name, columns)
    remove_parts(parts_dir)
    return merged
