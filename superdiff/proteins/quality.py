"""Geometric and secondary-structure checks of sampled backbones: Cα traces (the built-in experts' quality bar) and
full N-CA-C-O backbones (bond lengths against ideal geometry, heavy-atom clashes)."""

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


# ---------------------------------------------------------------------------------- full-backbone geometry
#: bond tolerance (Å) of N–CA, CA–C and the peptide C–N around their ideal lengths (superdiff.proteins.ideal)
BACKBONE_BOND_TOL = 0.05
CA_CA_TOL = 0.1  # Å around ideal.CA_CA (3.80 Å)
HEAVY_CLASH = 3.0  # Å: heavy atoms of residues more than CLASH_SEPARATION apart must be at least this far apart
CLASH_SEPARATION = 3  # residues


@dataclass(frozen=True)
class BackboneGeometry:
    """Geometry checks of one chain (fractions of bonds within tolerance; NaN where the atoms are absent).

    Attributes:
        n_ca_ok, ca_c_ok, c_n_ok: fractions of N–CA, CA–C and C_i–N_{i+1} bonds within ±0.05 Å of ideal.
        ca_ca_ok: fraction of consecutive Cα–Cα distances within 3.80 ± 0.1 Å.
        n_clashes: heavy-atom pairs of residues more than 3 apart closer than 3.0 Å (N···O pairs, i.e.
            backbone hydrogen bonds at 2.7–3.0 Å, are not counted).
        min_distance: the closest such pair (Å; inf when there is none).
        full_backbone: whether N, CA, C, O were checked (else Cα only).
    """

    n_ca_ok: float
    ca_c_ok: float
    c_n_ok: float
    ca_ca_ok: float
    n_clashes: int
    min_distance: float
    full_backbone: bool

    @property
    def clash_free(self) -> bool:
        return self.n_clashes == 0

    def to_row(self) -> dict[str, float | int | bool]:
        """Table columns, prefixed ``geom_``."""
        return {f"geom_{k}": v for k, v in {**asdict(self), "clash_free": self.clash_free}.items()}


def _within(values: np.ndarray, ideal: float, tol: float) -> float:
    return float(np.mean(np.abs(values - ideal) <= tol)) if len(values) else float("nan")


def _clashes(atoms: np.ndarray) -> tuple[int, float]:
    """(number of clashing pairs, closest non-local distance) of atoms ``[L, A, 3]``."""
    length, per = atoms.shape[:2]
    flat = atoms.reshape(-1, 3)
    residue = np.repeat(np.arange(length), per)
    kind = np.tile(np.arange(per), length)
    i, j = np.triu_indices(len(flat), k=1)
    keep = residue[j] - residue[i] > CLASH_SEPARATION
    if per == 4:
        keep &= ~(((kind[i] == 0) & (kind[j] == 3)) | ((kind[i] == 3) & (kind[j] == 0)))
    i, j = i[keep], j[keep]
    if len(i) == 0:
        return 0, float("inf")
    d = np.linalg.norm(flat[i] - flat[j], axis=-1)
    return int((d < HEAVY_CLASH).sum()), float(d.min())


def backbone_geometry(ca: np.ndarray, atoms: np.ndarray | None = None) -> BackboneGeometry:
    """Bond and clash checks of one chain: Cα ``[L, 3]`` and, when present, N-CA-C-O ``[L, 4, 3]`` (Å)."""
    from superdiff.proteins import ideal

    ca = np.asarray(ca, dtype=np.float64)
    ca_ca = _within(bond_lengths(ca), ideal.CA_CA, CA_CA_TOL)
    if atoms is None:
        n, d = _clashes(ca[:, None])
        nan = float("nan")
        return BackboneGeometry(nan, nan, nan, ca_ca, n, d, False)
    atoms = np.asarray(atoms, dtype=np.float64)
    n_ca = np.linalg.norm(atoms[:, 1] - atoms[:, 0], axis=-1)
    ca_c = np.linalg.norm(atoms[:, 2] - atoms[:, 1], axis=-1)
    c_n = np.linalg.norm(atoms[1:, 0] - atoms[:-1, 2], axis=-1)
    n, d = _clashes(atoms)
    return BackboneGeometry(_within(n_ca, ideal.N_CA, BACKBONE_BOND_TOL), _within(ca_c, ideal.CA_C, BACKBONE_BOND_TOL),
                            _within(c_n, ideal.C_N, BACKBONE_BOND_TOL), ca_ca, n, d, True)


def geometry_settings() -> dict[str, float | int]:
    """The tolerances of :func:`backbone_geometry` (recorded with every table that holds its columns)."""
    return {"bond_tol": BACKBONE_BOND_TOL, "ca_ca_tol": CA_CA_TOL, "clash_distance": HEAVY_CLASH,
            "clash_separation": CLASH_SEPARATION, "hbond_pairs_excluded": "N-O"}
