"""TM-align (through ``tmtools``, identical scores to the TMalign program).

TM-scores here are always TM-align's, never biotite's TM-score (which differs, OFFLINE.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TMResult:
    """TM-align of chain 1 onto chain 2.

    Attributes:
        tm_1: TM-score normalised by the length of chain 1 (in [0, 1]).
        tm_2: TM-score normalised by the length of chain 2.
        rmsd: RMSD (Å) of the aligned Cα pairs.
    """

    tm_1: float
    tm_2: float
    rmsd: float


def _sequence(sequence: str | None, length: int) -> str:
    if sequence is None or len(sequence) != length:
        return "A" * length
    return "".join(c if c.isalpha() else "X" for c in sequence.upper())


def tm_align(
    ca_1: np.ndarray, ca_2: np.ndarray, sequence_1: str | None = None, sequence_2: str | None = None
) -> TMResult:
    """TM-align two Cα traces (``[L1, 3]`` and ``[L2, 3]``, Å).

    The structural alignment does not depend on the sequences; they are only passed through (poly-Ala when
    absent).

    Raises:
        ValueError: a shape other than ``[L, 3]``, fewer than 3 residues, or a NaN / infinite coordinate (on which
            TM-align would never return).
    """
    import tmtools

    x = np.ascontiguousarray(ca_1, dtype=np.float64)
    y = np.ascontiguousarray(ca_2, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != 3 or y.ndim != 2 or y.shape[1] != 3:
        raise ValueError(f"expected [L, 3] Cα arrays, got {x.shape} and {y.shape}")
    if len(x) < 3 or len(y) < 3:
        raise ValueError(f"TM-align needs at least 3 residues per chain, got {len(x)} and {len(y)}")
    for which, coords in (("chain 1", x), ("chain 2", y)):
        bad = ~np.isfinite(coords).all(axis=1)
        if bad.any():  # TM-align never returns on NaN / inf coordinates
            raise ValueError(f"TM-align: {which} has non-finite coordinates (NaN or inf) at residue index(es) "
                             f"{np.nonzero(bad)[0].tolist()[:10]}; expected finite Cα coordinates in Å")
    result = tmtools.tm_align(x, y, _sequence(sequence_1, len(x)), _sequence(sequence_2, len(y)))
    return TMResult(float(result.tm_norm_chain1), float(result.tm_norm_chain2), float(result.rmsd))


def tm_upper_bound(length_1: int, length_2: int) -> float:
    """An upper bound of the TM-score normalised by chain 1 for any alignment of chains of these lengths.

    TM-score = (1 / L1) Σ over aligned pairs of 1 / (1 + (d / d0)²); each term is at most 1 and at most
    min(L1, L2) pairs can be aligned, so TM ≤ min(L1, L2) / L1. A reference whose bound does not exceed the best
    score found so far can be skipped without changing the maximum.
    """
    return min(length_1, length_2) / length_1
