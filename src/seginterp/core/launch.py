"""Run a stage script in one process or under torchrun, as ``scale.nproc_per_node`` says.

    python -m seginterp.core.launch [--nproc-per-node N] [--params params.yaml] SCRIPT [ARGS]...

N defaults to ``scale.nproc_per_node`` of the params file (1 when absent). With N = 1 and no
extra torchrun arguments the script replaces this process (``python SCRIPT ARGS``, exactly the
plain command); otherwise ``python -m torch.distributed.run --standalone --nproc-per-node N
SCRIPT ARGS``. ``SEGINTERP_TORCHRUN_ARGS`` adds torchrun arguments (shell-split), e.g. for
several nodes ``--nnodes=2 --node-rank=0 --rdzv-backend=c10d --rdzv-endpoint=host:29400
--rdzv-id=job``; ``--standalone`` is then left out. Already under torchrun, the script runs as is.
Before it starts, the environment of ``scale.numerics`` is exported
(:mod:`seginterp.core.determinism`), so that NumPy, SciPy and MKL start under it.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import yaml

from seginterp.core.determinism import export_env, numerics

PARAM = ("scale", "nproc_per_node")
EXTRA_ENV = "SEGINTERP_TORCHRUN_ARGS"


@dataclass(frozen=True)
class Launch:
    """What torchrun put in the environment (rank 0 of 1 when not under torchrun)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0


def launched() -> Launch:
    """Read ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` as set by torchrun."""
    env = os.environ
    if "RANK" not in env or "WORLD_SIZE" not in env:
        return Launch()
    try:
        launch = Launch(int(env["RANK"]), int(env["WORLD_SIZE"]), int(env.get("LOCAL_RANK", 0)))
    except ValueError as e:
        raise RuntimeError(f"bad torchrun environment: {e}") from e
    if not 0 <= launch.rank < launch.world_size:
        raise RuntimeError(
            f"bad torchrun environment: RANK={launch.rank} WORLD_SIZE={launch.world_size}"
        )
    return launch


class LaunchError(ValueError):
    """The launcher's arguments or parameter are unusable."""


def scale_from_params(params_path: str | Path) -> dict[str, Any]:
    """The ``scale`` section of ``params_path``; empty when the file or the section is absent."""
    path = Path(params_path)
    if not path.exists():
        return {}
    params: Any = yaml.safe_load(path.read_text()) or {}
    section = params.get(PARAM[0]) if isinstance(params, dict) else None
    if section is None:
        return {}
    if not isinstance(section, dict):
        raise LaunchError(f"{path}: `{PARAM[0]}` must be a mapping, got {section!r}")
    return section


def nproc_from_params(params_path: str | Path) -> int:
    """``scale.nproc_per_node`` of ``params_path``; 1 when the file or the key is absent."""
    section = scale_from_params(params_path)
    return check_nproc(section.get(PARAM[1], 1), f"{params_path}: {'.'.join(PARAM)}")


def check_nproc(value: Any, where: str = "nproc_per_node") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise LaunchError(f"{where} must be an integer >= 1, got {value!r}")
    return value


def command(script: str, args: Sequence[str], nproc: int,
            torchrun_args: Sequence[str] = ()) -> list[str]:  # fmt: skip
    """The argv that runs ``script args`` on ``nproc`` processes of this node."""
    check_nproc(nproc)
    if launched().world_size > 1 or (nproc == 1 and not torchrun_args):
        return [sys.executable, script, *args]
    rdzv = any(a.startswith(("--rdzv", "--rdzv_", "--master")) for a in torchrun_args)
    head = [sys.executable, "-m", "torch.distributed.run"]
    head += [] if rdzv else ["--standalone"]
    return [*head, f"--nproc-per-node={nproc}", *torchrun_args, script, *args]


def parse(argv: Sequence[str]) -> tuple[list[str], str]:
    """The command to run and the ``scale.numerics`` mode of its params file."""
    p = argparse.ArgumentParser(prog="python -m seginterp.core.launch", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--nproc-per-node", type=int, default=None)
    p.add_argument("--params", default="params.yaml")
    p.add_argument("script")
    p.add_argument("args", nargs=argparse.REMAINDER)
    ns = p.parse_args(argv)
    nproc = ns.nproc_per_node
    nproc = nproc_from_params(ns.params) if nproc is None else check_nproc(nproc)
    extra = shlex.split(os.environ.get(EXTRA_ENV, ""))
    mode = numerics({PARAM[0]: scale_from_params(ns.params)})
    return command(ns.script, ns.args, nproc, extra), mode


def main(argv: Sequence[str] | None = None) -> NoReturn:
    cmd, mode = parse(sys.argv[1:] if argv is None else argv)
    export_env(mode)  # before the script imports NumPy or runs MKL (seginterp.core.determinism)
    sys.stdout.flush()
    os.execv(cmd[0], cmd)


if __name__ == "__main__":
    main()
