"""Ideal backbone geometry (Engh & Huber, 1991) and chains built from backbone dihedrals (NeRF).

Units: Å and degrees. One residue's backbone atoms are ordered ``N, CA, C, O`` (:data:`ATOMS`); a chain is an
array ``[L, 4, 3]``. Dihedrals follow the IUPAC convention: ``φ_i = C_{i−1}–N_i–CA_i–C_i``,
``ψ_i = N_i–CA_i–C_i–N_{i+1}``, ``ω_i = CA_i–C_i–N_{i+1}–CA_{i+1}`` (180° for trans peptides).
"""

from __future__ import annotations

import numpy as np

ATOMS = ("N", "CA", "C", "O")

#: bond lengths (Å)
N_CA = 1.458
CA_C = 1.525
C_N = 1.329  # the peptide bond, C_i–N_{i+1}
C_O = 1.231
CA_CA = 3.80  # consecutive Cα of a trans peptide

#: bond angles (degrees)
N_CA_C = 111.2
CA_C_N = 116.2
C_N_CA = 121.7
CA_C_O = 120.5

#: (φ, ψ) of regular secondary structure (degrees)
HELIX_PHI_PSI = (-57.0, -47.0)  # right-handed α-helix
STRAND_PHI_PSI = (-120.0, 130.0)  # β-strand


def place_atom(a: np.ndarray, b: np.ndarray, c: np.ndarray, bond: float, angle: float, torsion: float) -> np.ndarray:
    """The atom ``d`` with ``|cd| = bond`` (Å), angle ``b–c–d = angle`` and dihedral ``a–b–c–d = torsion`` (degrees)."""
    angle, torsion = np.radians(angle), np.radians(torsion)
    bc = (c - b) / np.linalg.norm(c - b)
    normal = np.cross(b - a, bc)
    normal /= np.linalg.norm(normal)
    frame = np.stack([bc, np.cross(normal, bc), normal], axis=-1)
    local = bond * np.array([-np.cos(angle), np.sin(angle) * np.cos(torsion), np.sin(angle) * np.sin(torsion)])
    return c + frame @ local


def chain_from_dihedrals(phi: np.ndarray, psi: np.ndarray, omega: np.ndarray | None = None) -> np.ndarray:
    """A backbone ``[L, 4, 3]`` (N, CA, C, O in Å) with ideal bonds and angles and the given dihedrals.

    ``phi[0]`` is unused (no previous residue); ``psi[-1]`` places the last O (as if a next residue followed);
    ``omega`` defaults to 180° (trans).
    """
    phi, psi = np.asarray(phi, dtype=float), np.asarray(psi, dtype=float)
    length = len(phi)
    if len(psi) != length or length < 1:
        raise ValueError(f"phi and psi must have one value per residue (≥ 1), got {len(phi)} and {len(psi)}")
    omega = np.full(length, 180.0) if omega is None else np.asarray(omega, dtype=float)
    n = np.zeros(3)
    ca = np.array([N_CA, 0.0, 0.0])
    c = ca + CA_C * np.array([-np.cos(np.radians(N_CA_C)), np.sin(np.radians(N_CA_C)), 0.0])
    atoms = np.zeros((length, 4, 3))
    for i in range(length):
        atoms[i, :3] = n, ca, c
        next_n = place_atom(n, ca, c, C_N, CA_C_N, psi[i])
        atoms[i, 3] = place_atom(n, ca, c, C_O, CA_C_O, psi[i] + 180.0)  # O is trans to N_{i+1} about CA–C
        if i + 1 < length:
            next_ca = place_atom(ca, c, next_n, N_CA, C_N_CA, omega[i])
            c = place_atom(c, next_n, next_ca, CA_C, N_CA_C, phi[i + 1])
            n, ca = next_n, next_ca
    return atoms


def ideal_chain(kind: str, length: int) -> np.ndarray:
    """A regular ``"helix"`` or ``"strand"`` of ``length`` residues, ``[L, 4, 3]`` in Å."""
    shapes = {"helix": HELIX_PHI_PSI, "strand": STRAND_PHI_PSI}
    if kind not in shapes:
        raise ValueError(f"kind must be one of {sorted(shapes)}, got {kind!r}")
    phi, psi = shapes[kind]
    return chain_from_dihedrals(np.full(length, phi), np.full(length, psi))
