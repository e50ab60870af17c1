"""Backbones per second of the built-in Cα experts: Single vs OR vs AND at lengths 64 / 128, batch 1 / 16.

All methods load both experts (the engine scores every model at every step, so Single also tracks both log
densities); AND adds the curvature correction (one vector-Jacobian product per model per step). Throughput is
measured over ``--steps`` reverse steps (default 50) and also given per 300 steps (the default of
``sample-backbones``), assuming the per-step cost is constant, which it is: every step does the same work.

    nice -n 10 .venv/bin/python benchmarks/backbones.py            # table + benchmarks/out/backbones.json
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from superdiff.files.atomic import write_json_atomic
from superdiff.files.provenance import provenance
from superdiff.proteins.registry import load_model
from superdiff.proteins.sampling import SamplingRequest, sample_length

METHODS = ("single", "or", "and")


def measure(models, method: str, length: int, batch: int, steps: int, device: torch.device) -> float:
    """Seconds for one batch of ``batch`` designs of ``length`` residues over ``steps`` steps."""
    request = SamplingRequest(models=("a", "b"), method=method, seed=1, steps=steps)
    start = time.perf_counter()
    sample_length(models, request, length, list(range(batch)), device)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs=2, default=["builtin:helix", "builtin:strand"])
    parser.add_argument("--lengths", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default=str(Path(__file__).parent / "out" / "backbones.json"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    models = [load_model(spec, device) for spec in args.models]
    measure(models, "single", 16, 1, 2, device)  # warm-up
    rows = []
    print(f"{'L':>4s} {'batch':>5s} " + " ".join(f"{m + ' bb/s':>11s}" for m in METHODS)
          + f" {'or/single':>9s} {'and/single':>10s} {'bb/s@300 single':>15s}")
    for length in args.lengths:
        for batch in args.batches:
            rate = {}
            for method in METHODS:
                seconds = measure(models, method, length, batch, args.steps, device)
                rate[method] = batch / seconds
            row = {"length": length, "batch": batch, "steps": args.steps,
                   **{f"{m}_backbones_per_s": rate[m] for m in METHODS},
                   **{f"{m}_backbones_per_s_at_300_steps": rate[m] * args.steps / 300 for m in METHODS},
                   "or_over_single": rate["or"] / rate["single"], "and_over_single": rate["and"] / rate["single"]}
            rows.append(row)
            print(f"{length:4d} {batch:5d} " + " ".join(f"{rate[m]:11.3f}" for m in METHODS)
                  + f" {row['or_over_single']:9.2f} {row['and_over_single']:10.2f}"
                  + f" {row['single_backbones_per_s_at_300_steps']:15.4f}", flush=True)
    write_json_atomic(args.out, {"rows": rows, "provenance": provenance(vars(args))})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
