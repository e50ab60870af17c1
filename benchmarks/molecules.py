"""Molecule throughput: molecules per second (latent sampling + decoding) per method, predictor throughput.

Usage: ``python benchmarks/molecules.py [--num 200] [--steps 200] [--out benchmarks/out/molecules.json]``.
Runs on one thread (``torch.set_num_threads(1)``); numbers depend on machine load.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from superdiff.files.atomic import write_json_atomic
from superdiff.files.provenance import provenance
from superdiff.molecules import data
from superdiff.molecules.sampling import MoleculeSampler

#: (name, method, index, extra sampler settings). AND typical includes its calibration pass (a fixed cost per run:
#: each condition alone on DEFAULT_CALIBRATION designs), so its rate rises with --num.
METHODS = (("single", "single", 0, {}), ("single", "single", 1, {}), ("average", "average", 0, {}),
           ("or", "or", 0, {}), ("and:density", "and", 0, {"and_target": "density"}),
           ("and:typical", "and", 0, {"and_target": "typical"}), ("joint", "joint", 0, {}))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num", type=int, default=200)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--guidance", type=float, default=2.0)
    parser.add_argument("--conditions", nargs="+", default=["gsk3b", "druglike"])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/molecules.json"))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    sampler = MoleculeSampler.load()
    results = {}
    for name, method, index, extra in METHODS:
        start = time.perf_counter()
        result, _, _ = sampler.latents(args.conditions, method, index=index, guidance=args.guidance, num=args.num,
                                       seed=0, steps=args.steps, **extra)
        t_sample = time.perf_counter() - start
        smiles = sampler.decode(result.x)
        t_decode = time.perf_counter() - start - t_sample
        name = f"single:{args.conditions[index]}" if method == "single" else name
        results[name] = {"molecules_per_second": args.num / (t_sample + t_decode),
                         "sampling_seconds": t_sample, "decoding_seconds": t_decode,
                         "valid_fraction": sum(bool(s) for s in smiles) / len(smiles)}
        print(name, results[name])
    smiles = data.load_moses("test", n=2000, seed=0)
    start = time.perf_counter()
    sampler.predictor.score_smiles(smiles)
    t_all = time.perf_counter() - start
    from superdiff.molecules.featurize import mols_from_smiles

    mols = mols_from_smiles(smiles)
    start = time.perf_counter()
    sampler.predictor.activity(mols)
    t_forest = time.perf_counter() - start
    predictor = {"molecules_per_second_all_properties_and_forests": len(smiles) / t_all,
                 "molecules_per_second_forests_only": len(smiles) / t_forest}
    print("predictor", predictor)
    write_json_atomic(args.out, {"sampling": results, "predictor": predictor,
                                 "provenance": provenance(vars(args) | {"out": str(args.out)})})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
