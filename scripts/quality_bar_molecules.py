"""Quality bar of the molecule composition (issue 5), at one or more guidance weights.

For the conditions ``gsk3b`` and ``druglike`` it samples ``--num`` molecules (seed ``--seed``, per-design seeds as in
``superdiff sample-molecules``) with each method: single gsk3b, single druglike, average of scores, OR, AND and the
joint-label baseline, and reports validity, uniqueness and the composition table (mean GSK3β probability, mean QED,
fraction satisfying both, mean product). The bar: validity and uniqueness >= 0.90 for every method; AND's mean
product >= the average-of-scores baseline's and >= each single condition's.

    nice -n 10 .venv/bin/python scripts/quality_bar_molecules.py --guidance 2 --num 1000
    nice -n 10 .venv/bin/python scripts/quality_bar_molecules.py --guidance 1.5 2 2.5   # neighbours too

Writes ``benchmarks/out/molecules_quality_bar.json`` (one entry per guidance weight) and exits 0 iff every
requested weight passes.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from superdiff.engine.guidance import DEFAULT_KAPPA_FROM, KAPPA_FROM
from superdiff.files.atomic import write_json_atomic
from superdiff.files.provenance import provenance
from superdiff.molecules.metrics import composition_table, generation_metrics
from superdiff.molecules.sampling import AND_TARGETS, DEFAULT_AND_LOG_RATIO, DEFAULT_AND_TARGET, MoleculeSampler

CONDITIONS = ("gsk3b", "druglike")
#: name -> (method, index)
METHODS = {"gsk3b": ("single", 0), "druglike": ("single", 1), "average": ("average", 0), "or": ("or", 0),
           "and": ("and", 0), "joint": ("joint", 0)}


def bar_verdict(results: dict) -> dict:
    """Pass/fail per criterion from the per-method reports (keys of ``METHODS``)."""
    verdict = {}
    for name, r in results.items():
        verdict[f"{name}_validity>=0.90"] = r["validity"] >= 0.90
        verdict[f"{name}_uniqueness>=0.90"] = r["uniqueness"] >= 0.90
    if "and" in results:
        for other in ("average", "gsk3b", "druglike"):
            if other in results:
                verdict[f"and_product>={other}"] = results["and"]["mean_product"] >= results[other]["mean_product"]
    return verdict


def run(sampler: MoleculeSampler, name: str, guidance: float, args) -> dict:
    method, index = METHODS[name]
    start = time.time()
    frame, _ = sampler.sample(list(CONDITIONS), method, index=index, guidance=guidance, num=args.num,
                              seed=args.seed, steps=args.steps, batch_size=args.batch_size,
                              and_log_ratio=args.and_log_ratio, and_target=args.and_target,
                              kappa_from=args.kappa_from, progress=False)
    seconds = time.time() - start
    if args.save_samples:
        folder = Path(args.save_samples) / f"w{guidance:g}" / name
        folder.mkdir(parents=True, exist_ok=True)
        frame.to_parquet(folder / "molecules.parquet")
    gen = generation_metrics(frame, with_novelty=False, fcd_reference=args.fcd_reference)
    row = {"validity": gen["validity"], "uniqueness": gen["uniqueness"],
           "internal_diversity": gen["internal_diversity"], **composition_table(frame, list(CONDITIONS)),
           "mean_sa": float(frame["sa"].mean()), "seconds": seconds}
    if "fcd_vs_moses_test" in gen:
        row["fcd"] = gen["fcd_vs_moses_test"]
    return row


HEADER = (f"{'method':9s} {'p_gsk3b':>8s} {'qed':>6s} {'both':>6s} {'product':>8s} {'valid':>6s} {'unique':>7s} "
          f"{'IntDiv':>7s} {'SA':>5s} {'time':>6s}")


def format_row(name: str, r: dict) -> str:
    return (f"{name:9s} {r['mean_p_gsk3b']:8.3f} {r['mean_qed']:6.3f} {r['fraction_satisfying_all']:6.3f} "
            f"{r['mean_product']:8.3f} {r['validity']:6.3f} {r['uniqueness']:7.3f} {r['internal_diversity']:7.3f} "
            f"{r['mean_sa']:5.2f} {r['seconds']:5.0f}s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--guidance", type=float, nargs="+", default=[2.0], help="guidance weights w to test")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--num", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--and-log-ratio", type=float, default=DEFAULT_AND_LOG_RATIO,
                        help="AND's target log q_gsk3b − log q_druglike (default: sample-molecules' default)")
    parser.add_argument("--and-target", choices=AND_TARGETS, default=DEFAULT_AND_TARGET,
                        help="what AND equalises (default: sample-molecules' default)")
    parser.add_argument("--kappa-from", choices=KAPPA_FROM, default=DEFAULT_KAPPA_FROM,
                        help="κ for the guided step (default) or as if unguided (the reference LDMol recipe)")
    parser.add_argument("--fcd-reference", type=int, default=0, help="MOSES test molecules for FCD (0 = skip)")
    parser.add_argument("--weights", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--save-samples", default=None, help="also write each method's molecules.parquet here")
    parser.add_argument("--out", default="benchmarks/out/molecules_quality_bar.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    sampler = MoleculeSampler.load(args.weights, args.device)
    report, passed = {}, True
    for w in args.guidance:
        print(f"guidance w = {w:g}, {args.num} molecules per method, seed {args.seed}, {args.steps} steps, "
              f"AND target {args.and_target}, extra log-ratio {args.and_log_ratio:g}, "
              f"κ from {args.kappa_from}\n{HEADER}", flush=True)
        results = {}
        for name in args.methods:
            results[name] = run(sampler, name, w, args)
            print(format_row(name, results[name]), flush=True)
        verdict = bar_verdict(results)
        for key, ok in verdict.items():
            print(f"  {key:28s} {'PASS' if ok else 'FAIL'}")
        ok = all(verdict.values())
        print(f"  bar at w = {w:g}: {'PASS' if ok else 'FAIL'}\n", flush=True)
        passed &= ok
        report[f"guidance_{w:g}"] = {"results": results, "verdict": verdict, "passed": ok}
    write_json_atomic(args.out, {**report, "passed": passed, "provenance": provenance(vars(args))})
    print(json.dumps({k: v["passed"] for k, v in report.items()}))
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
