"""Computed molecular properties: QED, SA score (RDKit contrib), logP, MW (Da), TPSA (Å²), Lipinski."""

from __future__ import annotations

import importlib.util
import os
from functools import cache

import numpy as np
from rdkit import Chem, RDConfig
from rdkit.Chem import QED, Crippen, Descriptors, Lipinski, rdMolDescriptors

PROPERTY_COLUMNS = ("qed", "sa", "logp", "mw", "tpsa", "hbd", "hba", "lipinski_violations")


@cache
def _sascorer():
    """The SA-score module shipped inside the RDKit wheel (``Contrib/SA_Score/sascorer.py``)."""
    path = os.path.join(RDConfig.RDContribDir, "SA_Score", "sascorer.py")
    if not os.path.exists(path):
        raise FileNotFoundError(f"RDKit contrib SA score not found at {path}")
    spec = importlib.util.spec_from_file_location("superdiff_sascorer", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sa_score(mol: Chem.Mol) -> float:
    """Ertl & Schuffenhauer synthetic accessibility, 1 (easy) to 10 (hard)."""
    return float(_sascorer().calculateScore(mol))


def properties(mol: Chem.Mol | None) -> dict[str, float]:
    """All of ``PROPERTY_COLUMNS`` for one molecule (NaN for None)."""
    if mol is None:
        return dict.fromkeys(PROPERTY_COLUMNS, float("nan"))
    mw = Descriptors.MolWt(mol)
    logp = Crippen.MolLogP(mol)
    hbd = Lipinski.NumHDonors(mol)
    hba = Lipinski.NumHAcceptors(mol)
    violations = int(mw > 500) + int(logp > 5) + int(hbd > 5) + int(hba > 10)
    return {"qed": float(QED.qed(mol)), "sa": sa_score(mol), "logp": float(logp), "mw": float(mw),
            "tpsa": float(rdMolDescriptors.CalcTPSA(mol)), "hbd": float(hbd), "hba": float(hba),
            "lipinski_violations": float(violations)}


def qed_many(mols: list[Chem.Mol | None]) -> np.ndarray:
    """QED per molecule, ``[N]`` (NaN for None)."""
    return np.array([QED.qed(m) if m is not None else np.nan for m in mols], dtype=np.float64)
