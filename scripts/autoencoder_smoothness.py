"""How faithful and how smooth is a molecule autoencoder? The two properties latent diffusion relies on.

On held-out MOSES test molecules and on the measured GSK3β actives it reports:

- exact reconstruction: the greedy decode of the posterior mean is the input (canonical SMILES);
- decoded-vs-input QED correlation;
- the posterior std in standardised latent units (the units the diffusion model works in);
- for jitter radii r (standardised units): the fraction of decodes of ``mu + r * std * eps`` that equal the
  decode of ``mu``, the QED correlation between the two, and the fraction of GSK3β-active decodes that stay
  active. A smooth decoder keeps a neighbourhood on one molecule, or at least on its properties.

    .venv/bin/python scripts/autoencoder_smoothness.py --weights resources/weights/molecules --out probe.json
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch
from rdkit import Chem

from superdiff.files.atomic import write_json_atomic
from superdiff.molecules import data
from superdiff.molecules.autoencoder import smiles_to_tokens
from superdiff.molecules.loading import load_autoencoder
from superdiff.molecules.predictors import PropertyPredictor
from superdiff.molecules.properties import qed_many


def canonical(smiles: list[str]) -> list[Chem.Mol | None]:
    return [Chem.MolFromSmiles(s) if s else None for s in smiles]


def probe(weights, n: int, radii: list[float], seed: int) -> dict:
    ae = load_autoencoder(weights)
    predictor = PropertyPredictor(weights)
    test = data.canonicalize(data.load_moses("test", n=n, seed=seed)).canonical
    actives = data.load_activity("gsk3b")
    actives = data.canonicalize(actives[actives.pki >= 7].smiles.tolist()).canonical
    smiles = test + actives
    tokens = [smiles_to_tokens(s) for s in smiles]
    toks_ok = [i for i, t in enumerate(tokens) if ae.encodable(t)]
    ids, lengths = ae.encode_tokens([tokens[i] for i in toks_ok])
    with torch.no_grad():
        mu, logvar = ae.encode(ids, lengths)
    scale = mu.std(0)
    inputs = [smiles[i] for i in toks_ok]
    is_test = np.array([i < len(test) for i in toks_ok])
    centre = ae.decode_smiles(mu)
    mols_in, mols_c = canonical(inputs), canonical(centre)
    canon_c = [Chem.MolToSmiles(m) if m else "" for m in mols_c]
    same = np.array([a == b for a, b in zip(inputs, canon_c, strict=True)])
    qed_in, qed_c = qed_many(mols_in), qed_many(mols_c)
    p_c = predictor.activity(mols_c)["p_gsk3b"]
    report = {
        "n_test": int(is_test.sum()), "n_gsk3b_actives": int((~is_test).sum()),
        "reconstruction_held_out": float(same[is_test].mean()),
        "reconstruction_gsk3b_actives": float(same[~is_test].mean()),
        "qed_corr_decoded_vs_input": float(np.corrcoef(qed_in[is_test], qed_c[is_test])[0, 1]),
        "posterior_std_standardised_median": float((torch.exp(0.5 * logvar) / scale).median()),
        "decoded_gsk3b_active_fraction_of_actives": float((np.nan_to_num(p_c[~is_test]) >= 0.5).mean()),
        "jitter": [],
    }
    gen = torch.Generator().manual_seed(seed)
    for r in radii:
        z = mu + r * scale * torch.randn(mu.shape, generator=gen)
        mols_j = canonical(ae.decode_smiles(z))
        canon_j = [Chem.MolToSmiles(m) if m else "" for m in mols_j]
        p_j = predictor.activity(mols_j)["p_gsk3b"]
        active = np.nan_to_num(p_c) >= 0.5
        report["jitter"].append({
            "radius": r,
            "same_molecule": float(np.mean([a == b for a, b in zip(canon_c, canon_j, strict=True)])),
            "qed_corr_with_centre": float(np.corrcoef(qed_c, qed_many(mols_j))[0, 1]),
            "gsk3b_active_kept": float((np.nan_to_num(p_j[active]) >= 0.5).mean()) if active.any() else None,
        })
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", default=None, help="molecule weights folder (default: the built-in one)")
    parser.add_argument("--num", type=int, default=1000, help="held-out MOSES test molecules")
    parser.add_argument("--radius", type=float, nargs="+", default=[0.1, 0.25, 0.5])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="write the report here as JSON")
    args = parser.parse_args()
    torch.set_num_threads(1)
    report = probe(args.weights, args.num, args.radius, args.seed)
    print(json.dumps(report, indent=2))
    if args.out:
        write_json_atomic(args.out, report)


if __name__ == "__main__":
    main()
