"""The molecule corpus both generative models train on: a MOSES train subset plus the MoleculeACE
measurements of the target kinases (so that active chemotypes are in the autoencoder's and the diffusion
model's data at all; MOSES alone contains almost no predicted kinase actives)."""

from __future__ import annotations

from superdiff.molecules import data


def training_smiles(n_moses: int, seed: int = 0, activity_repeats: int = 1,
                    all_moleculeace: bool = False) -> tuple[list[str], dict]:
    """Canonical SMILES: ``n_moses`` MOSES train molecules + every GSK3β / JAK2 measured molecule
    (repeated ``activity_repeats`` times) + with ``all_moleculeace`` every molecule of the 30 MoleculeACE
    targets (ChEMBL chemistry, about half of it below QED 0.6, so "druglike" is informative).
    Returns (smiles, report of counts and invalid inputs)."""
    moses = data.canonicalize(data.load_moses("train", n=n_moses, seed=seed))
    activity: list[str] = []
    invalid = 0
    for target in data.TARGETS:
        rep = data.canonicalize(data.load_activity(target).smiles.tolist())
        activity += rep.canonical
        invalid += rep.n_invalid
    unique_activity = sorted(set(activity))
    report = {"n_moses": len(moses.canonical), "moses_invalid": moses.n_invalid,
              "n_activity": len(unique_activity), "activity_invalid": invalid,
              "activity_repeats": activity_repeats}
    extra: list[str] = []
    if all_moleculeace:
        rep = data.canonicalize(data.load_all_activity_smiles())
        extra = sorted(set(rep.canonical) - set(unique_activity))
        report.update(n_other_moleculeace=len(extra), other_moleculeace_invalid=rep.n_invalid)
    return moses.canonical + unique_activity * activity_repeats + extra, report
