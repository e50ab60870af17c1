"""Wall time and peak memory per workflow stage of a finished campaign, from Snakemake's benchmark files -> JSON.

Every rule writes ``results/<campaign>/benchmarks/<rule>/...tsv`` (columns ``s``, ``max_rss`` in MB, ...). This
sums the wall seconds of each rule's jobs, takes the peak RSS over them, and adds the campaign's elapsed wall time
(first job start to last job end, from the benchmark files' mtimes).

CPU time: Snakemake's ``cpu_time`` column is a sample taken every 30 s (``snakemake.benchmark.BENCHMARK_INTERVAL``),
so it misses up to the last 30 s of each job (a 37-s novelty job shows 8.5 CPU seconds). It is kept per stage as
``sampled_cpu_seconds``, a lower bound; the exact CPU time of the whole run (every job, Snakemake included) comes
from ``/usr/bin/time -v`` around the run (``--time-log``).

    python benchmarks/campaign.py results/default --out benchmarks/out/campaign_default.json

To measure the default campaign from scratch:

    /usr/bin/time -v -o time.log snakemake --cores 2
    python benchmarks/campaign.py results/default --time-log time.log --note "2 cores, otherwise idle"

Job wall times include waiting for a busy machine: note the machine's load with the figures (``--note``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from superdiff.files.atomic import write_json_atomic
from superdiff.files.provenance import package_versions


def read_benchmarks(results: Path) -> pd.DataFrame:
    """One row per job: rule, job (path below the rule folder), seconds, max_rss_mb, mtime."""
    root = results / "benchmarks"
    if not root.is_dir():
        raise FileNotFoundError(f"{root} does not exist: run the campaign first (snakemake --cores N)")
    rows = []
    for path in sorted(root.rglob("*.tsv")):
        rel = path.relative_to(root)
        rule = rel.parts[0].removesuffix(".tsv")
        table = pd.read_csv(path, sep="\t")
        if table.empty:
            continue
        last = table.iloc[-1]
        rss = pd.to_numeric(pd.Series([last.get("max_rss")]), errors="coerce").iloc[0]
        cpu = pd.to_numeric(pd.Series([last.get("cpu_time")]), errors="coerce").iloc[0]
        rows.append({"rule": rule, "job": str(rel.with_suffix("")), "seconds": float(last["s"]),
                     "cpu_seconds": None if pd.isna(cpu) else float(cpu),
                     "max_rss_mb": None if pd.isna(rss) else float(rss), "mtime": path.stat().st_mtime})
    if not rows:
        raise ValueError(f"no benchmark files under {root}")
    return pd.DataFrame(rows)


def summarise(jobs: pd.DataFrame) -> dict:
    stages = {}
    for rule, group in jobs.groupby("rule", sort=False):
        rss = group["max_rss_mb"].dropna()
        stages[rule] = {"jobs": len(group), "total_seconds": round(float(group["seconds"].sum()), 2),
                        "sampled_cpu_seconds": round(float(group["cpu_seconds"].dropna().sum()), 2),
                        "max_job_seconds": round(float(group["seconds"].max()), 2),
                        "peak_rss_mb": round(float(rss.max()), 1) if len(rss) else None}
    start = float((jobs["mtime"] - jobs["seconds"]).min())
    end = float(jobs["mtime"].max())
    return {"stages": dict(sorted(stages.items(), key=lambda kv: -kv[1]["total_seconds"])),
            "jobs": len(jobs), "sum_job_seconds": round(float(jobs["seconds"].sum()), 2),
            "sum_sampled_cpu_seconds": round(float(jobs["cpu_seconds"].dropna().sum()), 2),
            "elapsed_wall_seconds": round(end - start, 2),
            "peak_rss_mb": round(float(jobs["max_rss_mb"].dropna().max()), 1)}


#: the lines of ``/usr/bin/time -v`` this reads, and the keys they go to
TIME_FIELDS = {"User time (seconds)": "user_seconds", "System time (seconds)": "system_seconds",
               "Elapsed (wall clock) time (h:mm:ss or m:ss)": "wall_seconds",
               "Maximum resident set size (kbytes)": "max_rss_kb"}


def read_time_log(path: Path) -> dict:
    """User, system and wall seconds of a run from its ``/usr/bin/time -v`` report, with ``cpu_seconds`` = user +
    system (the run and every child it waited for: all of the campaign's jobs)."""
    found = {}
    for line in path.read_text().splitlines():
        key, _, value = line.strip().rpartition(": ")
        if key in TIME_FIELDS:
            seconds = 0.0
            for part in value.split(":"):  # h:mm:ss or m:ss.ss for the wall clock, a plain number otherwise
                seconds = 60 * seconds + float(part)
            found[TIME_FIELDS[key]] = seconds
    missing = sorted(set(TIME_FIELDS.values()) - set(found))
    if missing:
        raise ValueError(f"{path} is not a `/usr/bin/time -v` report: no {', '.join(missing)} in it")
    found["cpu_seconds"] = round(found["user_seconds"] + found["system_seconds"], 2)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="results/<campaign> folder of a finished run")
    parser.add_argument("--note", default=None,
                        help="conditions of the run to keep with the figures (machine, load, what was measured)")
    parser.add_argument("--time-log", type=Path, default=None,
                        help="`/usr/bin/time -v -o FILE` report of the run: its exact CPU time")
    parser.add_argument("--out", type=Path, default=None,
                        help="JSON output (default benchmarks/out/campaign_<campaign>.json)")
    args = parser.parse_args(argv)
    summary = summarise(read_benchmarks(args.results))
    summary["campaign"] = args.results.name
    if args.note:
        summary["note"] = args.note
    if args.time_log:
        summary["run"] = read_time_log(args.time_log)
    summary["versions"] = package_versions(("superdiff", "torch", "snakemake"))
    out = args.out or Path(__file__).resolve().parent / "out" / f"campaign_{args.results.name}.json"
    write_json_atomic(out, summary)
    width = max(len(r) for r in summary["stages"])
    for rule, s in summary["stages"].items():
        print(f"{rule:<{width}}  {s['jobs']:4d} jobs  {s['total_seconds']:8.1f} s  peak {s['peak_rss_mb']} MB")
    print(f"elapsed wall time {summary['elapsed_wall_seconds']:.0f} s over {summary['jobs']} jobs -> {out}")
    if "run" in summary:
        print(f"CPU time of the run (user + system): {summary['run']['cpu_seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
