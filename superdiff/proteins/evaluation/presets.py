"""Named designability protocols (SCIENCE.md section 7).

- ``superdiff`` (the SuperDiff paper / FrameDiff): ProteinMPNN 8 sequences at T = 0.1 (CA-only model for Cα
  backbones, full-backbone model when N-CA-C-O are present), refold each, designable if the minimum Cα
  scRMSD < 2 Å.
- ``genie2``: ProteinMPNN CA-only, 8 sequences at T = 0.1, designable if some sequence has scRMSD ≤ 2 Å and
  pLDDT ≥ 70.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any


@dataclass(frozen=True)
class DesignabilityPreset:
    """One designability protocol.

    Attributes:
        name: preset name (recorded in every row).
        n_sequences: ProteinMPNN sequences per backbone.
        temperature: ProteinMPNN sampling temperature.
        mpnn_variant: ``auto`` (CA-only for Cα backbones, vanilla for full backbones), ``ca`` or ``vanilla``.
        mpnn_weights: ProteinMPNN weights name.
        max_rmsd: scRMSD threshold (Å).
        rmsd_inclusive: ``scRMSD <= max_rmsd`` when True, ``<`` when False.
        min_plddt: pLDDT threshold (0–100, inclusive) or None for no pLDDT criterion.
    """

    name: str
    n_sequences: int = 8
    temperature: float = 0.1
    mpnn_variant: str = "auto"
    mpnn_weights: str = "v_48_020"
    max_rmsd: float = 2.0
    rmsd_inclusive: bool = False
    min_plddt: float | None = None

    def passes(self, sc_rmsd: float, plddt: float) -> bool:
        """Whether one refolded sequence meets the criteria (NaN never passes)."""
        if math.isnan(sc_rmsd):
            return False
        ok = sc_rmsd <= self.max_rmsd if self.rmsd_inclusive else sc_rmsd < self.max_rmsd
        if self.min_plddt is not None:
            ok = ok and not math.isnan(plddt) and plddt >= self.min_plddt
        return ok

    def rule(self) -> str:
        """The criterion in words, e.g. ``scRMSD < 2.0 Å`` or ``scRMSD <= 2.0 Å and pLDDT >= 70``."""
        text = f"scRMSD {'<=' if self.rmsd_inclusive else '<'} {self.max_rmsd} Å"
        if self.min_plddt is not None:
            text += f" and pLDDT >= {self.min_plddt:g}"
        return text

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "rule": self.rule()}


PRESETS: dict[str, DesignabilityPreset] = {
    "superdiff": DesignabilityPreset("superdiff"),
    "genie2": DesignabilityPreset("genie2", mpnn_variant="ca", rmsd_inclusive=True, min_plddt=70.0),
}


def get_preset(name: str, **overrides: Any) -> DesignabilityPreset:
    """A named preset, optionally with fields overridden (the result keeps the name plus ``+custom``).

    Raises:
        KeyError: unknown preset name. ValueError: an override names no field.
    """
    if name not in PRESETS:
        raise KeyError(f"designability preset must be one of {sorted(PRESETS)}, got {name!r}")
    preset = PRESETS[name]
    overrides = {k: v for k, v in overrides.items() if v is not None}
    unknown = set(overrides) - set(asdict(preset))
    if unknown:
        raise ValueError(f"unknown preset field(s) {sorted(unknown)}; fields are {sorted(asdict(preset))}")
    changed = {k: v for k, v in overrides.items() if getattr(preset, k) != v}
    if changed:
        preset = replace(preset, name=f"{name}+custom", **changed)
    return preset
