"""What ``scale.numerics: portable`` costs against ``native``: train steps and one image's
explanation of the default synthetic config, each mode in fresh processes, alternated.

    python bench/numerics.py [--repeats 3] [--steps 6]

Each child applies the mode with :func:`make_deterministic` (as the stages do), then times
``--steps`` Adam steps of the default U-Net on a batch like the default's (8 × 3 × 96 × 96) and
one :meth:`Explainer.explain` with the default attribute params on one image. Prints each run,
the medians and portable ÷ native, and the hash of the trained weights (the same in every run of
one mode).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

CHILD = r"""
import hashlib, json, sys, time
from seginterp.core.determinism import make_deterministic
from seginterp.core.params import load_params
params = load_params("params.yaml")
params["scale"]["numerics"] = sys.argv[1]
make_deterministic(params)
import numpy as np, torch
from seginterp.explain.config import AttributeConfig
from seginterp.explain.engine import Explainer
from seginterp.model.net import ModelConfig, build_model
torch.manual_seed(0)
model = build_model(ModelConfig.from_params(params, "synthetic"))
g = torch.Generator().manual_seed(1)
x = torch.rand(8, 3, 96, 96, generator=g)
y = torch.zeros(8, 1, 96, 96)
y[:, :, 30:66, 24:60] = 1
opt = torch.optim.Adam(model.parameters(), lr=5e-4)
model.train()
steps = int(sys.argv[2])
t0 = time.perf_counter()
for _ in range(steps):
    opt.zero_grad()
    torch.nn.functional.binary_cross_entropy_with_logits(model(x), y).backward()
    opt.step()
step = (time.perf_counter() - t0) / steps
model.eval()
digest = hashlib.sha256(b"".join(v.numpy().tobytes() for v in model.state_dict().values()))
border = np.zeros((96, 96), bool)
border[30, 24:60] = border[65, 24:60] = border[30:66, 24] = border[30:66, 59] = True
ex = Explainer(model, AttributeConfig.from_params(params, "synthetic"), device="cpu")
t0 = time.perf_counter()
ex.explain(x[:1], border)
print(json.dumps({"step": step, "explain": time.perf_counter() - t0,
                  "weights": digest.hexdigest()[:12]}))
"""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--steps", type=int, default=6)
    a = p.parse_args()
    runs: dict[str, list[dict]] = {"native": [], "portable": []}
    for _ in range(a.repeats):
        for mode in runs:
            out = subprocess.run([sys.executable, "-c", CHILD, mode, str(a.steps)],
                                 capture_output=True, text=True, check=True)  # fmt: skip
            r = json.loads(out.stdout.strip().splitlines()[-1])
            runs[mode].append(r)
            print(f"{mode:9s} step {r['step']:.3f} s  explain {r['explain']:.3f} s  "
                  f"weights {r['weights']}", flush=True)  # fmt: skip
    med = {m: {k: statistics.median(r[k] for r in rs) for k in ("step", "explain")}
           for m, rs in runs.items()}  # fmt: skip
    for k in ("step", "explain"):
        n, q = med["native"][k], med["portable"][k]
        print(f"median {k:8s} native {n:.3f} s  portable {q:.3f} s  portable/native {q / n:.2f}")


if __name__ == "__main__":
    main()
