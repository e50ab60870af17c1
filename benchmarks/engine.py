"""Engine cost per step: operators (incl. Product with SMC) side by side, Itô versus Hutchinson log densities.

A small neural score model (an MLP on R^300), M = 2, 3 and 4 models, one batch. Every configuration is timed in
interleaved rounds in the same process, so the ratios are comparable even on a noisy shared machine; the
median over rounds is reported. Prints a table and writes JSON (default benchmarks/out/engine.json).

    python benchmarks/engine.py [--batch 64] [--steps 24] [--rounds 7] [--threads 1] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

import superdiff

DIM = 300


class MLPScore(torch.nn.Module):
    """Score model ``s(x, t) = MLP([x, t]) − x`` on R^300 (random weights: the cost is what matters)."""

    def __init__(self, seed: int, hidden: int = 512):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.layers = torch.nn.Sequential(torch.nn.Linear(DIM + 1, hidden), torch.nn.SiLU(),
                                          torch.nn.Linear(hidden, hidden), torch.nn.SiLU(),
                                          torch.nn.Linear(hidden, DIM))
        for p in self.layers.parameters():
            p.data = torch.randn(p.shape, generator=g) / p.shape[-1] ** 0.5

    def forward(self, x, t):
        return self.layers(torch.cat([x, t[:, None]], dim=1)) - x


def configurations(num_models: int) -> dict[str, dict]:
    return {
        "Single": {"operator": superdiff.Single(0)},
        "Average": {"operator": superdiff.Average()},
        "Or": {"operator": superdiff.Or()},
        "And": {"operator": superdiff.And(curvature_correction=False)},
        "And+curvature": {"operator": superdiff.And(curvature_correction=True)},
        "And+curvature every 4": {"operator": superdiff.And(curvature_every=4)},
        "And+curvature every 8": {"operator": superdiff.And(curvature_every=8)},
        "And+curvature every 12": {"operator": superdiff.And(curvature_every=12)},
        "Product (no resampling)": {"operator": superdiff.Product(resample=False)},
        "Product (resample every step)": {"operator": superdiff.Product(ess_threshold=1.0)},
        "Ito (Average, SDE)": {"operator": superdiff.Average()},
        "Hutchinson (Average, ODE)": {"operator": superdiff.Average(), "method": "ode"},
    }


def time_per_step(models, config: dict, batch: int, steps: int, device: torch.device) -> float:
    schedule = superdiff.VPLinear()
    generator = torch.Generator(device=device).manual_seed(0)
    x_init = torch.randn(batch, DIM, generator=generator, device=device)
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    superdiff.sample(models, schedule, config["operator"], x_init=x_init, steps=steps, generator=generator,
                     method=config.get("method", "sde"), device=device)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=24)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/engine.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    results = {}
    for num_models in (2, 3, 4):
        models = [MLPScore(seed).to(device) for seed in range(num_models)]
        configs = configurations(num_models)
        times = {name: [] for name in configs}
        for config in configs.values():  # warm-up
            time_per_step(models, config, args.batch, 2, device)
        for _ in range(args.rounds):
            for name, config in configs.items():
                times[name].append(time_per_step(models, config, args.batch, args.steps, device))
        median = {name: statistics.median(v) for name, v in times.items()}
        results[f"M={num_models}"] = {
            name: {"ms_per_step": 1e3 * median[name], "ratio_vs_average": median[name] / median["Average"]}
            for name in configs
        }
        results[f"M={num_models}"]["hutchinson_over_ito"] = (
            median["Hutchinson (Average, ODE)"] / median["Ito (Average, SDE)"]
        )

    print(f"engine benchmark: MLP on R^{DIM}, batch {args.batch}, {args.steps} steps x {args.rounds} rounds, "
          f"{args.threads} thread(s), {device}")
    for key, rows in results.items():
        print(f"\n{key}\n{'configuration':28s} {'ms/step':>9s} {'x Average':>10s}")
        for name, row in rows.items():
            if isinstance(row, dict):
                print(f"{name:28s} {row['ms_per_step']:9.3f} {row['ratio_vs_average']:10.3f}")
        print(f"{'Hutchinson / Ito':28s} {rows['hutchinson_over_ito']:20.2f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"batch": args.batch, "steps": args.steps, "rounds": args.rounds, "threads": args.threads,
            "device": str(device), "dim": DIM}
    args.out.write_text(json.dumps({"settings": meta, "results": results}, indent=2) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
