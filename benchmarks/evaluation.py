"""Benchmark of the protein evaluation: ProteinMPNN in-process vs per-backbone CLI, TM-align throughput, novelty.

Measures, on real chains of the built-in reference set (about 100 residues each):

1. ProteinMPNN, 8 sequences at T = 0.1 per backbone: this package's in-process batched sampler (model loaded once)
   versus one ``protein_mpnn_run.py`` process per backbone, the reference pipelines' way. That CLI imports
   ``pkg_resources``, which setuptools >= 81 no longer ships; the benchmark installs ``setuptools<81`` into a
   private folder (``pip install --target``) and puts it on the CLI's PYTHONPATH only.
2. TM-align pairs per second with 1 and 2 worker processes.
3. Novelty (exact max TM) time against reference sets of growing size.

Usage: ``nice -n 10 .venv/bin/python benchmarks/evaluation.py [--backbones 4] [--out benchmarks/out/evaluation.json]``
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SETUPTOOLS_DIR = ROOT / "benchmarks" / "out" / ".setuptools-lt81"


def _reference_chains(count: int, length: int = 100):
    from superdiff.proteins.reference import load_reference_set

    chains = load_reference_set()
    return sorted(chains, key=lambda c: (abs(len(c.sequence) - length), c.id))[:count], chains


def _setuptools_for_cli() -> Path:
    if not (SETUPTOOLS_DIR / "pkg_resources").is_dir():
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(SETUPTOOLS_DIR),
                        "setuptools<81"], check=True)
    return SETUPTOOLS_DIR


def bench_mpnn(chains, workdir: Path) -> dict:
    import torch

    from superdiff.proteins.evaluation.inverse_folding import design_sequences, load_mpnn
    from superdiff.proteins.structure import Backbone, write_ca_pdb

    backbones = [Backbone(np.asarray(c.ca), c.sequence, "A") for c in chains]
    start = time.perf_counter()
    model = load_mpnn("ca")
    load_s = time.perf_counter() - start
    start, cpu_start = time.perf_counter(), time.process_time()
    recoveries = []
    for i, backbone in enumerate(backbones):
        recoveries += [d.recovery for d in design_sequences(model, backbone, n=8, temperature=0.1, seed=i)]
    design_s = time.perf_counter() - start
    design_cpu_s = time.process_time() - cpu_start

    env = {**os.environ, "PYTHONPATH": str(_setuptools_for_cli()), "OMP_NUM_THREADS": str(torch.get_num_threads())}
    cli_times = []
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cli_cpu_start = children.ru_utime + children.ru_stime
    for i, backbone in enumerate(backbones):
        pdb = workdir / f"bb{i}.pdb"
        write_ca_pdb(pdb, backbone.ca, backbone.sequence)
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "proteinmpnn.protein_mpnn_run", "--pdb-path", str(pdb),
                        "--pdb-path-chains", "A", "--out-folder", str(workdir / f"cli{i}"), "--ca-only",
                        "--num-seq-per-target", "8", "--batch-size", "8", "--sampling-temp", "0.1",
                        "--seed", str(i + 1), "--suppress-print", "1"], check=True, env=env, capture_output=True)
        cli_times.append(time.perf_counter() - start)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cli_cpu_s = children.ru_utime + children.ru_stime - cli_cpu_start
    n = len(backbones)
    return {
        "inprocess_cpu_s_per_backbone": design_cpu_s / n, "cli_cpu_s_per_backbone": cli_cpu_s / n,
        "backbones": n, "mean_length": float(np.mean([len(b) for b in backbones])), "sequences_per_backbone": 8,
        "inprocess_model_load_s": load_s, "inprocess_total_s": load_s + design_s,
        "inprocess_per_backbone_s": design_s / n, "cli_total_s": float(sum(cli_times)),
        "cli_per_backbone_s": float(np.mean(cli_times)), "speedup": float(sum(cli_times) / (load_s + design_s)),
        "inprocess_mean_recovery": float(np.mean(recoveries)),
    }


def bench_tmalign(all_chains, n_designs: int = 24) -> dict:
    from superdiff.proteins.evaluation.diversity import pairwise_tm

    designs = [(np.asarray(c.ca), None) for c in _spread(all_chains, n_designs)]
    pairs = n_designs * (n_designs - 1) // 2
    out = {"pairs": pairs, "mean_length": float(np.mean([len(ca) for ca, _ in designs]))}
    for workers in (1, 2):
        start, cpu_start = time.perf_counter(), time.process_time()
        pairwise_tm(designs, workers=workers)
        seconds = time.perf_counter() - start
        out[f"pairs_per_s_{workers}_workers"] = pairs / seconds
        if workers == 1:  # in-process: CPU time measures the throughput of one core free of other load
            out["pairs_per_cpu_s_1_worker"] = pairs / (time.process_time() - cpu_start)
    return out


def _spread(chains, count):
    index = np.linspace(0, len(chains) - 1, count).round().astype(int)
    return [chains[i] for i in index]


def bench_novelty(all_chains, designs, sizes=(25, 50, 100, None)) -> list[dict]:
    from superdiff.proteins.evaluation.novelty import ReferenceChain, ReferenceSet, novelty_scores

    rows = []
    inputs = [(np.asarray(c.ca), c.sequence) for c in designs]
    ids = {c.id for c in designs}
    all_chains = [c for c in all_chains if c.id not in ids]  # designs are not in the reference set
    for size in sizes:
        subset = all_chains if size is None else _spread(all_chains, size)
        reference = ReferenceSet(tuple(ReferenceChain(c.id, np.asarray(c.ca), c.sequence) for c in subset), "bench")
        start = time.perf_counter()
        results = novelty_scores(inputs, reference, workers=2)
        seconds = time.perf_counter() - start
        rows.append({"reference_size": len(subset), "designs": len(inputs), "seconds": seconds,
                     "seconds_per_design": seconds / len(inputs),
                     "aligned": int(sum(r.n_aligned for r in results)),
                     "skipped_by_bound": int(sum(r.n_skipped_by_bound for r in results)),
                     "mean_max_tm": float(np.mean([r.max_tm for r in results]))})
    return rows


def main(argv: list[str] | None = None) -> int:
    import torch

    from superdiff.files.atomic import write_json_atomic
    from superdiff.files.provenance import package_versions

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbones", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the CLI gets the same)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "out" / "evaluation.json"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    chains, all_chains = _reference_chains(args.backbones)
    with tempfile.TemporaryDirectory(prefix="superdiff-bench-") as tmp:
        mpnn = bench_mpnn(chains, Path(tmp))
    tm = bench_tmalign(all_chains)
    novelty = bench_novelty(all_chains, chains)
    result = {"proteinmpnn": mpnn, "tmalign": tm, "novelty": novelty, "torch_threads": args.threads,
              "cpu_count": os.cpu_count(), "load_average_1min": os.getloadavg()[0], "versions": package_versions()}
    write_json_atomic(args.out, result)

    print(f"ProteinMPNN CA-only, {mpnn['backbones']} backbones of ~{mpnn['mean_length']:.0f} residues, 8 seqs, T 0.1")
    print(f"  in-process batched : {mpnn['inprocess_per_backbone_s']:6.2f} s/backbone "
          f"(+ {mpnn['inprocess_model_load_s']:.2f} s model load once); recovery {mpnn['inprocess_mean_recovery']:.2f}")
    print(f"  CLI per backbone   : {mpnn['cli_per_backbone_s']:6.2f} s/backbone; speed-up {mpnn['speedup']:.1f}x")
    print(f"  CPU s per backbone : in-process {mpnn['inprocess_cpu_s_per_backbone']:.2f}, "
          f"CLI {mpnn['cli_cpu_s_per_backbone']:.2f}")
    print(f"TM-align ({tm['pairs']} pairs, ~{tm['mean_length']:.0f} residues): "
          f"{tm['pairs_per_s_1_workers']:.0f} pairs/s on 1 worker, {tm['pairs_per_s_2_workers']:.0f} on 2 "
          f"(wall clock); {tm['pairs_per_cpu_s_1_worker']:.0f} pairs per CPU-second")
    print(f"(1-min load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores: wall times include contention)")
    print(f"{'reference size':>15} {'designs':>8} {'seconds':>8} {'aligned':>8} {'skipped':>8} {'mean max TM':>12}")
    for row in novelty:
        print(f"{row['reference_size']:>15} {row['designs']:>8} {row['seconds']:>8.2f} {row['aligned']:>8} "
              f"{row['skipped_by_bound']:>8} {row['mean_max_tm']:>12.3f}")
    print(f"-> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
