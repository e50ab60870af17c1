"""Quality bar of the built-in Cα experts, and of their compositions on the same seeds.

For each method (helix alone, strand alone, average of scores, OR, AND) it samples ``--num`` backbones spread evenly
over the lengths ``--lengths`` (default 64, 80, 96, 112, 128), with design seeds ``design_seed(seed, L, i)`` shared by
all methods, and reports: the fraction of consecutive Cα–Cα distances within 3.8 ± 0.3 Å, the fraction of samples
without a non-adjacent Cα pair closer than 3 Å, and the mean P-SEA helix and strand fractions. The bar (issue 3):
each expert >= 0.95 bonds and >= 0.90 clash-free; helix(helix) − helix(strand) >= 0.2;
strand(strand) − strand(helix) >= 0.1.

    nice -n 10 .venv/bin/python scripts/quality_bar_backbones.py --num 100 --out benchmarks/out/quality_bar.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import torch

from superdiff.files.atomic import write_json_atomic
from superdiff.files.provenance import provenance
from superdiff.proteins.quality import assess
from superdiff.proteins.registry import load_model
from superdiff.proteins.sampling import SamplingRequest, sample_length

ALL_METHODS = ("helix", "strand", "average", "or", "and")


def run_method(method: str, models: list, specs: list[str], lengths: list[int], num: int, seed: int, steps: int,
               batch_size: int, device: torch.device) -> tuple[list, float]:
    """Sample ``num`` designs for one method; returns (Cα traces, seconds)."""
    if method in ("helix", "strand"):
        index = 0 if method == "helix" else 1
        use, request = [models[index]], SamplingRequest(models=(specs[index],), method="single", seed=seed,
                                                         steps=steps)
    else:
        use, request = models, SamplingRequest(models=tuple(specs), method=method, seed=seed, steps=steps)
    per_length = [num // len(lengths) + (1 if k < num % len(lengths) else 0) for k in range(len(lengths))]
    traces, start = [], time.time()
    for length, count in zip(lengths, per_length, strict=True):
        for b in range(0, count, batch_size):
            res = sample_length(use, request, length, list(range(b, min(b + batch_size, count))), device)
            traces.extend(res["ca"])
    return traces, time.time() - start


def bar_verdict(results: dict) -> dict:
    """Pass/fail of each criterion of the bar from the per-method reports."""
    h, s = results.get("helix"), results.get("strand")
    verdict = {}
    for name, r in (("helix", h), ("strand", s)):
        if r is not None:
            verdict[f"{name}_bonds>=0.95"] = r["bond_ok"] >= 0.95
            verdict[f"{name}_clash_free>=0.90"] = r["clash_free"] >= 0.90
    if h is not None and s is not None:
        verdict["helix_gap>=0.2"] = h["helix"] - s["helix"] >= 0.2
        verdict["strand_gap>=0.1"] = s["strand"] - h["strand"] >= 0.1
    return verdict


HEADER = (f"{'method':8s} {'n':>4s} {'bonds ok':>9s} {'no clash':>9s} {'helix':>6s} {'strand':>7s} "
          f"{'bond mean±sd (Å)':>17s} {'time':>7s}")


def format_row(method: str, r: dict) -> str:
    return (f"{method:8s} {r['n']:4d} {r['bond_ok']:9.3f} {r['clash_free']:9.3f} {r['helix']:6.3f} "
            f"{r['strand']:7.3f} {r['bond_mean']:8.2f} ± {r['bond_std']:5.2f} {r['seconds']:6.0f}s")


def print_table(results: dict) -> None:
    print(HEADER)
    for method, r in results.items():
        print(format_row(method, r), flush=True)


def write_verdict(results: dict, out: str, extra: dict) -> int:
    """Print each criterion's PASS/FAIL, write the report (results, verdict, ``extra``) to ``out``; exit code."""
    verdict = bar_verdict(results)
    for key, ok in verdict.items():
        print(f"{key:28s} {'PASS' if ok else 'FAIL'}")
    write_json_atomic(out, {"results": results, "verdict": verdict, "passed": all(verdict.values()), **extra})
    return 0 if all(verdict.values()) else 1


def merge(paths: list[str], out: str) -> int:
    """Combine the per-method results of several runs (same seeds and steps) into one report."""
    results, settings = {}, []
    for path in paths:
        report = json.loads(open(path).read())
        results.update(report["results"])
        settings.append(report["provenance"]["settings"])
    print_table(results)
    return write_verdict(results, out, {"merged_from": paths, "provenance": provenance({"runs": settings})})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs=2, default=["builtin:helix", "builtin:strand"])
    parser.add_argument("--methods", nargs="+", default=list(ALL_METHODS), choices=ALL_METHODS)
    parser.add_argument("--num", type=int, default=100)
    parser.add_argument("--lengths", type=int, nargs="+", default=[64, 80, 96, 112, 128])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default="benchmarks/out/quality_bar.json")
    parser.add_argument("--merge", nargs="+", default=None, metavar="JSON",
                        help="only combine the results of earlier (e.g. parallel) runs into --out")
    args = parser.parse_args(argv)
    if args.merge:
        return merge(args.merge, args.out)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    models = [load_model(spec, device) for spec in args.models]
    results = {}
    print(HEADER)
    for method in args.methods:
        traces, seconds = run_method(method, models, list(args.models), args.lengths, args.num, args.seed,
                                     args.steps, args.batch_size, device)
        r = assess(traces).to_dict()
        r["seconds"] = seconds
        results[method] = r
        print(format_row(method, r), flush=True)
    return write_verdict(results, args.out, {"provenance": provenance(vars(args))})


if __name__ == "__main__":
    sys.exit(main())
