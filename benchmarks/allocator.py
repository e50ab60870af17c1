"""A frame-expert sampling job with and without the allocator setting every ``superdiff`` command applies.

Runs ``superdiff sample-backbones`` (AND of the built-in frame experts, 8 designs of 50 residues, 200 steps, one
thread: a default-campaign shard) in a child process, alternately with glibc's default allocator and with
:func:`superdiff.allocator.keep_freed_memory`, ``--repeats`` times each, and reports per run the wall, user and
system seconds and the page faults (the child's ``getrusage``), the ratios of the medians, and whether both wrote
the same designs. Writes ``benchmarks/out/allocator.json``.

    .venv/bin/python benchmarks/allocator.py --repeats 2
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from superdiff.files.atomic import write_json_atomic
from superdiff.files.provenance import provenance

#: the child process: the `superdiff` command line, with keep_freed_memory() replaced by a no-op in mode "default"
RUNNER = "import sys, superdiff.cli as c\nif sys.argv[1] == 'default':\n    c.keep_freed_memory = lambda: False\n" \
         "sys.exit(c.main(sys.argv[2:]))"
JOB = ["sample-backbones", "--model", "builtin:helix_frames", "--model", "builtin:strand_frames", "--method", "and",
       "--length", "50", "--num", "8", "--threads", "1"]


def run(mode: str, out: Path) -> dict:
    """One job in a child process: its wall, user and system seconds and page faults."""
    before, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    subprocess.run([sys.executable, "-c", RUNNER, mode, *JOB, "--out", str(out)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall, after = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"mode": mode, "wall_seconds": round(wall, 2), "user_seconds": round(after.ru_utime - before.ru_utime, 2),
            "system_seconds": round(after.ru_stime - before.ru_stime, 2),
            "minor_faults": after.ru_minflt - before.ru_minflt}


def same_designs(a: Path, b: Path) -> bool:
    """Whether two shards hold the same designs (every column: structures, log densities, κ)."""
    return pd.read_parquet(a / "designs.parquet").equals(pd.read_parquet(b / "designs.parquet"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2, help="runs of each mode, alternating")
    parser.add_argument("--out", default=str(Path(__file__).parent / "out" / "allocator.json"))
    args = parser.parse_args(argv)
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(args.repeats):
            for mode in ("default", "keep"):
                runs.append(run(mode, Path(tmp) / f"{mode}{k}"))
                r = runs[-1]
                print(f"{mode:>8s}  wall {r['wall_seconds']:6.1f} s  user {r['user_seconds']:6.1f} s  "
                      f"sys {r['system_seconds']:5.1f} s  faults {r['minor_faults']:9d}", flush=True)
        identical = same_designs(Path(tmp) / "default0", Path(tmp) / "keep0")

    def median(mode: str, key: str) -> float:
        return statistics.median(r[key] for r in runs if r["mode"] == mode)

    ratios = {key: round(median("keep", key) / median("default", key), 3)
              for key in ("wall_seconds", "user_seconds", "system_seconds", "minor_faults")}
    print(f"keep / default (medians): {ratios}; same designs: {identical}")
    write_json_atomic(Path(args.out), provenance({"benchmark": "allocator", "job": JOB, "runs": runs,
                                                  "ratios_keep_over_default": ratios, "same_designs": identical}))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
