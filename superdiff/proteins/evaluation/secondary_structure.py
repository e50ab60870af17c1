"""Secondary-structure content: helix / strand / coil fractions.

``psea`` uses biotite's P-SEA (``annotate_sse``), which needs only Cα. ``dssp`` runs ``mkdssp`` through biotite
and needs the full N-CA-C-O backbone; its 8 states map to helix (H, G, I), strand (E, B) and coil (the rest).
``auto`` uses DSSP when ``mkdssp`` is installed and the backbone is complete, else P-SEA.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass

import numpy as np

from superdiff.proteins.structure import Backbone

SS_METHODS = ("auto", "psea", "dssp")
_DSSP_CLASS = {"H": "H", "G": "H", "I": "H", "E": "E", "B": "E"}
_PSEA_CLASS = {"a": "H", "b": "E"}


@dataclass(frozen=True)
class SecondaryStructure:
    """Per-residue states (``H`` helix, ``E`` strand, ``C`` coil) and the method that produced them."""

    states: str
    method: str

    def fractions(self) -> dict[str, float]:
        n = max(len(self.states), 1)
        return {
            "helix_fraction": self.states.count("H") / n,
            "strand_fraction": self.states.count("E") / n,
            "coil_fraction": self.states.count("C") / n,
        }


def dssp_available() -> bool:
    return shutil.which("mkdssp") is not None


def _atom_array(backbone: Backbone, full: bool):
    import biotite.structure as struc

    one_to_three = {"A": "ALA", "R": "ARG", "N": "ASN", "D": "ASP", "C": "CYS", "Q": "GLN", "E": "GLU",
                    "G": "GLY", "H": "HIS", "I": "ILE", "L": "LEU", "K": "LYS", "M": "MET", "F": "PHE",
                    "P": "PRO", "S": "SER", "T": "THR", "W": "TRP", "Y": "TYR", "V": "VAL"}
    names = ("N", "CA", "C", "O") if full else ("CA",)
    coords = backbone.atoms if full else backbone.ca[:, None]
    length = len(backbone)
    array = struc.AtomArray(length * len(names))
    array.coord = np.asarray(coords, dtype=np.float32).reshape(-1, 3)
    array.chain_id[:] = "A"
    array.res_id = np.repeat(np.arange(1, length + 1), len(names))
    array.res_name = np.repeat([one_to_three.get(c, "GLY") for c in backbone.sequence], len(names))
    array.atom_name = np.tile(names, length)
    array.element = np.tile([n[0] for n in names], length)
    array.hetero[:] = False
    return array


def resolve_ss_method(method: str, backbone: Backbone) -> str:
    """``auto`` -> ``dssp`` if ``mkdssp`` is installed and all N-CA-C-O atoms are present, else ``psea``.

    Raises:
        ValueError: unknown method, or ``dssp`` requested without ``mkdssp`` or without a full backbone.
    """
    if method not in SS_METHODS:
        raise ValueError(f"secondary-structure method must be one of {SS_METHODS}, got {method!r}")
    if method == "auto":
        return "dssp" if dssp_available() and backbone.atoms is not None else "psea"
    if method == "dssp" and not dssp_available():
        raise ValueError("secondary-structure method 'dssp' needs mkdssp on PATH")
    if method == "dssp" and backbone.atoms is None:
        raise ValueError("secondary-structure method 'dssp' needs the full N-CA-C-O backbone; this one is Cα-only")
    return method


def secondary_structure(backbone: Backbone, method: str = "auto") -> SecondaryStructure:
    """Per-residue helix / strand / coil states of one chain."""
    import biotite.structure as struc

    method = resolve_ss_method(method, backbone)
    coords = backbone.ca if method == "psea" else backbone.atoms
    if not np.isfinite(coords).all():  # P-SEA would call every residue coil
        raise ValueError(f"non-finite coordinates (NaN or inf) in {backbone.source or 'the backbone'}; "
                         "expected finite coordinates in Å")
    if method == "dssp":
        from biotite.application.dssp import DsspApp

        codes = DsspApp.annotate_sse(_atom_array(backbone, full=True))
        states = "".join(_DSSP_CLASS.get(str(c), "C") for c in codes)
    else:
        codes = struc.annotate_sse(_atom_array(backbone, full=False))
        states = "".join(_PSEA_CLASS.get(str(c), "C") for c in codes)
    return SecondaryStructure(states, method)
