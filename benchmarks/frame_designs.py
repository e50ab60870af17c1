"""Frame-expert designs through the real evaluation, beside the Cα experts' designs of the same lengths and seeds.

For each method below, ``superdiff sample-backbones`` writes ``--num`` designs per length (the default campaign's
lengths, 50 and 80) and the evaluation commands score them exactly as the workflow does:

* ProteinMPNN mean NLL of 8 sequences per design at T = 0.1: vanilla (N, CA, C, O) for frame designs, CA-only
  for Cα designs (``--mpnn-variant auto`` picks by the design's atoms);
* novelty: max TM-score to the built-in reference set (TM-align), the share below 0.5;
* diversity: clusters at TM 0.5 (single linkage) over the method's designs.

Issue 20 asks that vanilla MPNN's mean NLL on frame designs be lower than CA-only MPNN's on Cα designs. Writes
``benchmarks/out/frame_designs.json``.

    nice -n 5 .venv/bin/python benchmarks/frame_designs.py --num 8
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from superdiff.files.atomic import write_json_atomic
from superdiff.files.provenance import provenance

#: method name -> sample-backbones arguments
METHODS = {
    "helix (Cα)": ["--model", "builtin:helix", "--method", "single"],
    "helix_frames": ["--model", "builtin:helix_frames", "--method", "single"],
    "strand (Cα)": ["--model", "builtin:strand", "--method", "single"],
    "strand_frames": ["--model", "builtin:strand_frames", "--method", "single"],
    "and (Cα)": ["--model", "builtin:helix", "--model", "builtin:strand", "--method", "and"],
    "and_frames": ["--model", "builtin:helix_frames", "--model", "builtin:strand_frames", "--method", "and"],
}


def superdiff(*args: str) -> None:
    cmd = [str(Path(sys.executable).parent / "superdiff"), *args]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{res.stderr[-2000:]}")


def evaluate_method(name: str, args: list[str], lengths: list[int], num: int, work: Path) -> dict:
    folder = work / name.replace(" ", "_").replace("(", "").replace(")", "").replace("α", "a")
    start = time.perf_counter()
    superdiff("sample-backbones", *args, *[a for n in lengths for a in ("--length", str(n))], "--num", str(num),
              "--out", str(folder))
    sampled = time.perf_counter() - start
    superdiff("inverse-fold", "--designs-dir", str(folder), "--out", str(folder / "sequences.parquet"),
              "--n-sequences", "8", "--temperature", "0.1", "--no-progress")
    superdiff("novelty", "--designs-dir", str(folder), "--out", str(folder / "novelty.parquet"), "--no-progress")
    superdiff("diversity", "--designs-dir", str(folder), "--out", str(folder / "diversity.parquet"),
              "--no-progress")
    seqs = pd.read_parquet(folder / "sequences.parquet")
    novelty = pd.read_parquet(folder / "novelty.parquet")
    diversity = json.loads((folder / "diversity.summary.json").read_text())
    ok = seqs[seqs["status"] == "ok"]
    return {"designs": int(novelty["design_id"].nunique()), "sample_seconds": round(sampled, 1),
            "mpnn_models": sorted(set(ok["mpnn_model"])), "mpnn_nll_mean": float(ok["mpnn_nll"].mean()),
            "evaluated_designs": int(ok["design_id"].nunique()),
            "novelty_max_tm_mean": float(novelty["max_tm"].mean()),
            "novel_fraction_tm_lt_0_5": float(novelty["novel_tm_lt_0_5"].mean()),
            "clusters_at_tm_0_5": int(diversity["n_clusters"]),
            "mean_pairwise_tm": float(diversity["mean_pairwise_tm"])}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num", type=int, default=8, help="designs per length")
    parser.add_argument("--lengths", type=int, nargs="+", default=[50, 80])
    parser.add_argument("--out", default="benchmarks/out/frame_designs.json")
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, method_args in METHODS.items():
            results[name] = evaluate_method(name, method_args, args.lengths, args.num, Path(tmp))
            r = results[name]
            models = ", ".join(r["mpnn_models"])
            print(f"{name:>14}  n {r['designs']:3d}  MPNN NLL {r['mpnn_nll_mean']:.3f} ({models})  "
                  f"novelty TM {r['novelty_max_tm_mean']:.3f} (<0.5: {r['novel_fraction_tm_lt_0_5']:.2f})  "
                  f"clusters {r['clusters_at_tm_0_5']}  sampled in {r['sample_seconds']} s", flush=True)
    target = results["helix_frames"]["mpnn_nll_mean"] < results["helix (Cα)"]["mpnn_nll_mean"] and \
        results["strand_frames"]["mpnn_nll_mean"] < results["strand (Cα)"]["mpnn_nll_mean"]
    print(f"target (vanilla NLL on frame designs < CA-only NLL on Cα designs, per expert): {target}")
    out = {"lengths": args.lengths, "designs_per_length": args.num, "methods": results,
           "target_vanilla_nll_below_ca_nll": bool(target), "provenance": provenance({"script": "frame_designs"})}
    write_json_atomic(args.out, out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
