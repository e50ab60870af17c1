"""Secondary structure: P-SEA of Cα traces (biotite's ``annotate_sse``, which needs only Cα atoms) and DSSP of full
N-CA-C-O backbones (``pydssp``)."""

from __future__ import annotations

import biotite.structure as struc
import numpy as np


def ca_atom_array(ca: np.ndarray) -> struc.AtomArray:
    """A one-chain AtomArray of ``CA`` atoms (residue ``GLY``, ids ``1..L``) for coordinates ``[L, 3]`` (Å)."""
    ca = np.asarray(ca, dtype=np.float32)
    if ca.ndim != 2 or ca.shape[1] != 3:
        raise ValueError(f"ca must have shape [L, 3], got {ca.shape}")
    atoms = struc.AtomArray(len(ca))
    atoms.coord = ca
    atoms.atom_name[:] = "CA"
    atoms.res_name[:] = "GLY"
    atoms.element[:] = "C"
    atoms.chain_id[:] = "A"
    atoms.res_id = np.arange(1, len(ca) + 1)
    return atoms


def psea(ca: np.ndarray) -> str:
    """P-SEA string of a Cα trace ``[L, 3]`` (Å): one of ``a`` (helix), ``b`` (strand), ``c`` (coil) per residue."""
    if len(ca) < 5:
        return "c" * len(ca)
    sse = struc.annotate_sse(ca_atom_array(ca))
    return "".join(s if s else "c" for s in sse.tolist())


def sse_fractions(sse: str) -> tuple[float, float]:
    """(helix fraction, strand fraction) of a P-SEA string."""
    n = max(len(sse), 1)
    return sse.count("a") / n, sse.count("b") / n


_DSSP_CLASS = {"H": "H", "E": "E"}  # pydssp's c3 alphabet: "-" (coil), "H", "E"


def dssp_states(atoms: np.ndarray, sequence: str | None = None) -> str:
    """DSSP states (``H`` / ``E`` / ``C``) of one chain's backbone ``[L, 4, 3]`` (N, CA, C, O in Å).

    Prolines (from ``sequence``) donate no hydrogen bond, as in DSSP.
    """
    import pydssp

    atoms = np.asarray(atoms, dtype=np.float64)
    if atoms.ndim != 3 or atoms.shape[1:] != (4, 3):
        raise ValueError(f"atoms must have shape [L, 4, 3] (N, CA, C, O), got {atoms.shape}")
    if len(atoms) < 3:
        return "C" * len(atoms)
    donors = None if sequence is None else np.array([c != "P" for c in sequence], dtype=float)
    codes = pydssp.assign(atoms, donor_mask=donors, out_type="c3")
    return "".join(_DSSP_CLASS.get(str(c), "C") for c in codes)
