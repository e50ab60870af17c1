"""Set-level chemical similarity as MOSES defines it: internal diversity, SNN, Frag and Scaf.

Definitions (Polykovskiy et al., "Molecular Sets (MOSES)", 2020), each over the valid molecules as given
(duplicates count, as in MOSES):

* **IntDiv** = 1 − mean Tanimoto similarity over all ordered pairs of the set, each molecule's pair with itself
  included (``1/|A|² Σ_{x,y ∈ A} (1 − T(x, y))``).
* **SNN** = mean over the generated molecules of the Tanimoto similarity to their nearest neighbour in the
  reference set.
* **Frag** = cosine similarity of the BRICS-fragment count vectors of the two sets.
* **Scaf** = cosine similarity of the Bemis–Murcko scaffold count vectors, scaffolds with at least two rings.

Fingerprints are Morgan bit vectors of radius 2 and 1024 bits (MOSES' choice, not the 2048 of
:mod:`superdiff.molecules.featurize`'s predictors). ``tests/molecules/test_moses_agreement.py`` checks every
function against the reference implementation shipped in the ``molsets`` package on the same sets.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np
import torch
from rdkit import Chem
from rdkit.Chem import BRICS
from rdkit.Chem.Scaffolds import MurckoScaffold

from superdiff.molecules.featurize import mols_from_smiles, morgan_matrix

#: MOSES fingerprints: Morgan radius 2, 1024 bits
RADIUS, N_BITS = 2, 1024
#: rings a Murcko scaffold needs to count in Scaf
SCAFFOLD_MIN_RINGS = 2


def _valid(smiles: Sequence[str]) -> list[Chem.Mol]:
    return [m for m in mols_from_smiles(list(smiles)) if m is not None]


def _fingerprints(mols: list[Chem.Mol]) -> torch.Tensor:
    """``[N, 1024]`` float32 0/1 bits."""
    return torch.from_numpy(morgan_matrix(mols, RADIUS, N_BITS).astype(np.float32))


def _tanimoto_rows(queries: torch.Tensor, pool: torch.Tensor, reduce: str, block: int = 4096) -> torch.Tensor:
    """For every query fingerprint ``[N, D]``, the max or the mean of its Tanimoto similarity to ``pool [M, D]``.

    Two empty fingerprints count as identical (similarity 1), as in MOSES. Blocks bound the memory at
    ``block × M`` floats.
    """
    pool_bits = pool.sum(1)
    out = torch.empty(len(queries), dtype=torch.float64)
    for start in range(0, len(queries), block):
        q = queries[start : start + block]
        common = q @ pool.T
        union = q.sum(1, keepdim=True) + pool_bits[None] - common
        sim = torch.where(union > 0, common / union.clamp_min(1), torch.ones_like(common))
        out[start : start + block] = (sim.amax(1) if reduce == "max" else sim.double().mean(1)).double()
    return out


def internal_diversity(smiles: Sequence[str]) -> float:
    """MOSES IntDiv1 of the valid molecules of ``smiles``; NaN for fewer than 2 (MOSES gives 0 for one)."""
    mols = _valid(smiles)
    if len(mols) < 2:
        return float("nan")
    fps = _fingerprints(mols)
    return float(1.0 - _tanimoto_rows(fps, fps, "mean").mean())


def nearest_neighbour_similarity(smiles: Sequence[str], reference: Sequence[str]) -> float:
    """MOSES SNN: mean Tanimoto similarity of each valid molecule to its nearest reference molecule."""
    return _snn(_valid(smiles), _valid(reference))


def _snn(mols: list[Chem.Mol], ref: list[Chem.Mol]) -> float:
    if not mols or not ref:
        return float("nan")
    return float(_tanimoto_rows(_fingerprints(mols), _fingerprints(ref), "max").mean())


def _fragments(mol: Chem.Mol) -> list[str]:
    """SMILES of the pieces left when every BRICS bond of ``mol`` is cut (dummy atoms mark the cuts)."""
    return Chem.MolToSmiles(BRICS.BreakBRICSBonds(mol)).split(".")


def _scaffold(mol: Chem.Mol) -> str | None:
    """Canonical SMILES of the Murcko scaffold, or None if it has fewer than ``SCAFFOLD_MIN_RINGS`` rings."""
    try:
        core = MurckoScaffold.GetScaffoldForMol(mol)
    except (ValueError, RuntimeError):
        return None
    text = Chem.MolToSmiles(core)
    if not text or core.GetRingInfo().NumRings() < SCAFFOLD_MIN_RINGS:
        return None
    return text


def _cosine(a: Counter, b: Counter) -> float:
    if not a or not b:
        return float("nan")
    dot = sum(count * b.get(key, 0) for key, count in a.items())
    return float(dot / (np.sqrt(sum(v * v for v in a.values())) * np.sqrt(sum(v * v for v in b.values()))))


def _counts(items: Iterable[str | None]) -> Counter:
    return Counter(item for item in items if item is not None)


def _frag(mols: list[Chem.Mol], ref: list[Chem.Mol]) -> float:
    return _cosine(_counts(f for m in mols for f in _fragments(m)), _counts(f for m in ref for f in _fragments(m)))


def _scaf(mols: list[Chem.Mol], ref: list[Chem.Mol]) -> float:
    return _cosine(_counts(map(_scaffold, mols)), _counts(map(_scaffold, ref)))


def fragment_similarity(smiles: Sequence[str], reference: Sequence[str]) -> float:
    """MOSES Frag: cosine similarity of BRICS-fragment counts."""
    return _frag(_valid(smiles), _valid(reference))


def scaffold_similarity(smiles: Sequence[str], reference: Sequence[str]) -> float:
    """MOSES Scaf: cosine similarity of Bemis–Murcko scaffold counts (scaffolds with ≥ 2 rings)."""
    return _scaf(_valid(smiles), _valid(reference))


def reference_similarity(smiles: Sequence[str], reference: Sequence[str]) -> dict[str, float]:
    """SNN, Frag and Scaf of ``smiles`` against ``reference`` (keys ``snn``, ``frag``, ``scaf``), each set parsed
    once for all three."""
    mols, ref = _valid(smiles), _valid(reference)
    return {"snn": _snn(mols, ref), "frag": _frag(mols, ref), "scaf": _scaf(mols, ref)}
