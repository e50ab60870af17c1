"""Geometric and secondary-structure checks of sampled Cα traces (the built-in experts' quality bar)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from superdiff.proteins.secondary import psea, sse_fractions

BOND = 3.8  # Å, ideal consecutive Cα–Cα distance
BOND_TOL = 0.3  # Å
CLASH = 3.0  # Å, closest allowed non-adjacent Cα pair


def bond_lengths(ca: np.ndarray) -> np.ndarray:
    """Consecutive Cα–Cα distances ``[L - 1]`` (Å) of a trace ``[L, 3]``."""
    return np.linalg.norm(np.diff(np.asarray(ca, dtype=np.float64), axis=0), axis=1)


def has_clash(ca: np.ndarray, cutoff: float = CLASH) -> bool:
    """Whether any pair ``|i − j| ≥ 2`` is closer than ``cutoff`` Å."""
    ca = np.asarray(ca, dtype=np.float64)
    d = np.linalg.norm(ca[:, None] - ca[None], axis=-1)
    iu = np.triu_indices(len(ca), k=2)
    return bool((d[iu] < cutoff).any())


@dataclass(frozen=True)
class QualityReport:
    """Summary over a set of traces.

    Attributes:
        n: number of traces.
        bond_ok: fraction of all consecutive Cα–Cα distances within 3.8 ± 0.3 Å.
        clash_free: fraction of traces without a non-adjacent pair closer than 3.0 Å.
        helix: mean P-SEA helix fraction.
        strand: mean P-SEA strand fraction.
        bond_mean, bond_std: of all consecutive distances (Å).
    """

    n: int
    bond_ok: float
    clash_free: float
    helix: float
    strand: float
    bond_mean: float
    bond_std: float

    def to_dict(self) -> dict:
        return asdict(self)


def assess(traces: Sequence[np.ndarray]) -> QualityReport:
    """The quality figures of ``traces`` (each ``[L, 3]``, Å)."""
    if not traces:
        raise ValueError("assess: no traces given")
    bonds = np.concatenate([bond_lengths(c) for c in traces])
    fractions = np.array([sse_fractions(psea(c)) for c in traces])
    return QualityReport(
        n=len(traces),
        bond_ok=float(np.mean(np.abs(bonds - BOND) <= BOND_TOL)),
        clash_free=float(np.mean([not has_clash(c) for c in traces])),
        helix=float(fractions[:, 0].mean()),
        strand=float(fractions[:, 1].mean()),
        bond_mean=float(bonds.mean()),
        bond_std=float(bonds.std()),
    )
