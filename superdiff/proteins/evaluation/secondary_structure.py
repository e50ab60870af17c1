"""Secondary-structure content: helix / strand / coil fractions.

``dssp`` runs DSSP on the full N-CA-C-O backbone with ``pydssp`` (pure numpy: DSSP's electrostatic hydrogen-bond
energy with backbone amide hydrogens placed from the N-CA-C-O geometry, then helices from i→i+3/4/5 turns and
strands from bridge ladders, in DSSP's 3 classes H / E / coil). ``psea`` uses biotite's P-SEA (``annotate_sse``),
which needs only Cα. ``auto`` uses DSSP when every residue has N, CA, C and O, else P-SEA; the method used is
recorded per design.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from superdiff.proteins.secondary import ca_atom_array, dssp_states
from superdiff.proteins.structure import Backbone

SS_METHODS = ("auto", "psea", "dssp")
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
    """Whether ``pydssp`` (a dependency of superdiff) can be imported."""
    try:
        import pydssp  # noqa: F401
    except ImportError:
        return False
    return True


def resolve_ss_method(method: str, backbone: Backbone) -> str:
    """``auto`` -> ``dssp`` when all N-CA-C-O atoms are present (and pydssp is installed), else ``psea``.

    Raises:
        ValueError: unknown method, or ``dssp`` requested for a Cα-only backbone or without pydssp.
    """
    if method not in SS_METHODS:
        raise ValueError(f"secondary-structure method must be one of {SS_METHODS}, got {method!r}")
    if method == "auto":
        return "dssp" if backbone.atoms is not None and dssp_available() else "psea"
    if method == "dssp" and backbone.atoms is None:
        raise ValueError("secondary-structure method 'dssp' needs the full N-CA-C-O backbone; this one is Cα-only")
    if method == "dssp" and not dssp_available():
        raise ValueError("secondary-structure method 'dssp' needs the pydssp package (pip install pydssp==0.9.1)")
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
        return SecondaryStructure(dssp_states(backbone.atoms, backbone.sequence), method)
    if len(backbone) < 5:  # P-SEA needs a few consecutive Cα
        return SecondaryStructure("C" * len(backbone), method)
    codes = struc.annotate_sse(ca_atom_array(backbone.ca))
    return SecondaryStructure("".join(_PSEA_CLASS.get(str(c), "C") for c in codes), method)
