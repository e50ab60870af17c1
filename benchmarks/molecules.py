"""Molecule throughput per method and predictor, and the unconditional model's quality against MOSES.

Usage: ``python benchmarks/molecules.py [--num 200] [--steps 200] [--unconditional 10000] [--reference 10000]
[--baseline 1000] [--out benchmarks/out/molecules.json]``. Runs on one thread (``torch.set_num_threads(1)``); rates
depend on machine load. Each method's samples get the composition table twice: scored by the conditioning
predictors (``predictor_composition``) and by the independent oracles (``oracle``: the same table with the
oracles' probabilities, plus their summary; :mod:`superdiff.molecules.oracles`); ``--baseline N`` scores N random
MOSES train molecules both ways (0 skips it). ``--unconditional N`` samples N latents from the model's
unconditional branch and reports the MOSES metrics (validity, uniqueness@N, novelty, IntDiv, FCD, SNN, Frag, Scaf,
mean SA) against ``--reference`` MOSES test molecules, beside the same metrics of as many MOSES test molecules
disjoint from that reference (what a perfect model scores at this sample size); 0 skips it.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from superdiff.files.atomic import write_json_atomic
from superdiff.files.provenance import provenance
from superdiff.molecules import data, metrics, properties, similarity
from superdiff.molecules.featurize import mols_from_smiles
from superdiff.molecules.latent_model import branch_score, sampling_path
from superdiff.molecules.oracles import OracleScorer
from superdiff.molecules.sampling import MoleculeSampler

#: (name, method, index, extra sampler settings). AND typical includes its calibration pass (a fixed cost per run:
#: each condition alone on DEFAULT_CALIBRATION designs), so its rate rises with --num.
METHODS = (("single", "single", 0, {}), ("single", "single", 1, {}), ("average", "average", 0, {}),
           ("or", "or", 0, {}), ("and:density", "and", 0, {"and_target": "density"}),
           ("and:typical", "and", 0, {"and_target": "typical"}), ("joint", "joint", 0, {}),
           ("product", "product", 0, {}))


def moses_quality(smiles: list[str], reference: list[str]) -> dict:
    """The MOSES metrics of one set of SMILES (invalid entries count against validity only)."""
    report = data.canonicalize(smiles)
    valid = report.canonical
    mols = [m for m in mols_from_smiles(valid) if m is not None]
    train = metrics.moses_train_set()
    unique = set(valid)
    return {"n": len(smiles), "validity": len(valid) / len(smiles),
            "uniqueness": len(unique) / max(len(valid), 1),
            "novelty": sum(s not in train for s in unique) / max(len(unique), 1),
            "internal_diversity": similarity.internal_diversity(valid),
            "fcd": metrics.fcd(valid, reference), **similarity.reference_similarity(valid, reference),
            "sa_mean": sum(properties.sa_score(m) for m in mols) / max(len(mols), 1)}


def unconditional_quality(sampler: MoleculeSampler, num: int, reference_size: int, steps: int) -> dict:
    """The unconditional branch's samples and MOSES test molecules, each scored against the same reference."""
    import superdiff.engine as engine

    model = sampler.model
    result = engine.sample([branch_score(model, ())], sampling_path(model), engine.Single(0),
                           shape=model.latent_shape, seeds=range(num), steps=steps, batch_size=500,
                           device=sampler.device, progress=True)
    generated = sampler.decode(result.x)
    test = data.load_moses("test", n=reference_size + num, seed=0)  # in file order: split at random
    order = np.random.default_rng(1).permutation(len(test))
    reference, held_out = [test[i] for i in order[:reference_size]], [test[i] for i in order[reference_size:]]
    out = {"model": moses_quality(generated, reference), "moses_test": moses_quality(held_out, reference),
           "reference_size": reference_size, "steps": steps}
    for name, row in out.items():
        if isinstance(row, dict):
            print(name, {k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()})
    return out


def judged(sampler: MoleculeSampler, oracle: OracleScorer, smiles: list[str], conds: list[str]) -> dict:
    """The composition table of ``smiles`` by the conditioning predictors and by the oracles (mixtures scored
    whole, as the sampler scores them; invalid molecules score 0)."""
    scored = sampler.predictor.score_smiles(smiles, largest_fragment=False)
    return {"predictor_composition": metrics.composition_table(scored, conds),
            "oracle": oracle.composition(smiles, conds)}


def _judged_line(name: str, row: dict) -> str:
    pred, orc = row["predictor_composition"], row["oracle"]["table"]
    cells = [f"{k[5:]} {pred[k]:.3f}/{orc[k]:.3f}" for k in pred if k.startswith("mean_p_")]
    both = "fraction_satisfying_all"
    return (f"{name}: predictor/oracle {' '.join(cells)} product {pred['mean_product']:.3f}/"
            f"{orc['mean_product']:.3f} both {pred[both]:.3f}/{orc[both]:.3f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num", type=int, default=200)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--guidance", type=float, default=2.0)
    parser.add_argument("--conditions", nargs="+", default=["gsk3b", "druglike"])
    parser.add_argument("--unconditional", type=int, default=10000)
    parser.add_argument("--reference", type=int, default=10000)
    parser.add_argument("--baseline", type=int, default=1000, help="random MOSES train molecules judged both ways")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/molecules.json"))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    sampler = MoleculeSampler.load()
    oracle = OracleScorer()
    results = {}
    for name, method, index, extra in METHODS:
        start = time.perf_counter()
        result, _, _ = sampler.latents(args.conditions, method, index=index, guidance=args.guidance, num=args.num,
                                       seed=0, steps=args.steps, **extra)
        t_sample = time.perf_counter() - start
        smiles = sampler.decode(result.x)
        t_decode = time.perf_counter() - start - t_sample
        name = f"single:{args.conditions[index]}" if method == "single" else name
        valid = [s for s in smiles if s]
        results[name] = {"molecules_per_second": args.num / (t_sample + t_decode),
                         "sampling_seconds": t_sample, "decoding_seconds": t_decode,
                         "valid_fraction": len(valid) / len(smiles),
                         "uniqueness": len(set(valid)) / max(len(valid), 1)}
        print(name, results[name])
        results[name] |= judged(sampler, oracle, smiles, args.conditions)
        print(_judged_line(name, results[name]))
    baseline = None
    if args.baseline > 0:
        baseline = judged(sampler, oracle, data.load_moses("train", n=args.baseline, seed=12345), args.conditions)
        print(_judged_line(f"MOSES train ({args.baseline})", baseline))
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
    quality = (unconditional_quality(sampler, args.unconditional, args.reference, args.steps)
               if args.unconditional > 0 else None)
    write_json_atomic(args.out, {"sampling": results, "baseline_moses_train": baseline, "predictor": predictor,
                                 "unconditional": quality,
                                 "provenance": provenance(vars(args) | {"out": str(args.out)})})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
