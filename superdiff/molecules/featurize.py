"""Molecular fingerprints: Morgan / ECFP4 bit vectors (radius 2, 2048 bits) as numpy arrays."""

from __future__ import annotations

import numpy as np
from rdkit import Chem, DataStructs
from rdkit.Chem import rdFingerprintGenerator

RADIUS = 2
N_BITS = 2048


def _generator(radius: int = RADIUS, n_bits: int = N_BITS):
    return rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=n_bits)


def morgan_bitvects(mols: list[Chem.Mol], radius: int = RADIUS, n_bits: int = N_BITS) -> list:
    """RDKit ExplicitBitVect per molecule (for fast Tanimoto)."""
    gen = _generator(radius, n_bits)
    return [gen.GetFingerprint(m) for m in mols]


def morgan_matrix(mols: list[Chem.Mol], radius: int = RADIUS, n_bits: int = N_BITS) -> np.ndarray:
    """ECFP bits, ``[N, n_bits]`` uint8 (0/1)."""
    out = np.zeros((len(mols), n_bits), dtype=np.uint8)
    for i, fp in enumerate(morgan_bitvects(mols, radius, n_bits)):
        DataStructs.ConvertToNumpyArray(fp, out[i])
    return out


def mols_from_smiles(smiles: list[str]) -> list[Chem.Mol | None]:
    """Parse SMILES; invalid entries become None (never raises)."""
    return [Chem.MolFromSmiles(s) if isinstance(s, str) and s else None for s in smiles]
