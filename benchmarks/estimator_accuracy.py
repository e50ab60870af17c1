"""Accuracy of the log-density estimators against exact densities (SCIENCE.md section 2).

A 2-D three-component Gaussian mixture under the linear VP schedule, sampled by the model itself from t = 1 to
1e-3 with exact scores; the estimate at the end is compared with the exact ``log q_{t_min}``. Prints the mean error
and per-path RMS (nats) per step count and estimator, and writes JSON (default benchmarks/out/estimator_accuracy.json).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

import superdiff
from superdiff.engine.analytic import GaussianMixture


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paths", type=int, default=2000)
    parser.add_argument("--steps", type=int, nargs="+", default=[250, 1000, 4000])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/estimator_accuracy.json"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    schedule = superdiff.VPLinear()
    model = GaussianMixture([[2.0, 1.0], [-1.0, -2.0], [0.0, 2.5]], [0.5, 0.8, 0.3], [0.3, 0.5, 0.2],
                            schedule=schedule)
    x0 = torch.randn(args.paths, 2, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    rows = []
    print(f"{'steps':>6s} {'estimator':>13s} {'mean error':>11s} {'RMS':>7s}   ({args.paths} paths, nats)")
    for steps in args.steps:
        for estimator, kwargs in (("ito", {}), ("kernel_ratio", {"estimator": "kernel_ratio"}),
                                  ("ito eta=0.1", {"noise_scale": 0.1}), ("ode", {"method": "ode"})):
            result = superdiff.sample([model], schedule, superdiff.Single(0), x_init=x0,
                                      log_q_init=model.log_prob(x0, 1.0), steps=steps, dtype=torch.float64,
                                      generator=torch.Generator().manual_seed(0), **kwargs)
            error = result.log_q[:, 0] - model.log_prob(result.x, result.t[-1])
            row = {"steps": steps, "estimator": estimator, "mean_error": error.mean().item(),
                   "rms": error.pow(2).mean().sqrt().item()}
            rows.append(row)
            print(f"{steps:6d} {estimator:>13s} {row['mean_error']:11.4f} {row['rms']:7.4f}", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"paths": args.paths, "rows": rows}, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
