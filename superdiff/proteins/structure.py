"""Reading and writing protein backbones (PDB / mmCIF / BinaryCIF through biotite).

Coordinates are in Å. A :class:`Backbone` holds one chain: its Cα trace, its sequence and, when the file
has them, the full N-CA-C-O backbone for models that use it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import biotite.structure as struc
import biotite.structure.io as strucio
import numpy as np

from superdiff.files.atomic import atomic_path

STRUCTURE_SUFFIXES = (".pdb", ".ent", ".cif", ".mmcif", ".bcif", ".pdb.gz", ".cif.gz")
BACKBONE_ATOMS = ("N", "CA", "C", "O")
MAX_CA_GAP = 4.2  # Å; consecutive Cα farther apart than this mark a chain break

_THREE_TO_ONE = {
    "ALA": "A", "ARG": "R", "ASN": "N", "ASP": "D", "CYS": "C", "GLN": "Q", "GLU": "E", "GLY": "G", "HIS": "H",
    "ILE": "I", "LEU": "L", "LYS": "K", "MET": "M", "PHE": "F", "PRO": "P", "SER": "S", "THR": "T", "TRP": "W",
    "TYR": "Y", "VAL": "V", "MSE": "M", "HSD": "H", "HSE": "H", "HSP": "H", "HIE": "H", "HID": "H", "HIP": "H",
    "CYX": "C", "SEC": "U", "PYL": "O",
}


class StructureError(ValueError):
    """A structure file that cannot be used, with the reason."""


@dataclass(frozen=True)
class Backbone:
    """One protein chain.

    Attributes:
        ca: Cα coordinates, float32 ``[L, 3]`` (Å).
        sequence: one-letter sequence of length ``L`` (``X`` for unknown residues).
        chain_id: the chain's identifier in its file.
        atoms: N, CA, C, O coordinates ``[L, 4, 3]`` when every residue has all four, else None.
        source: the file it came from.
    """

    ca: np.ndarray
    sequence: str
    chain_id: str = "A"
    atoms: np.ndarray | None = None
    source: str = ""

    def __len__(self) -> int:
        return len(self.sequence)

    def chain_breaks(self, max_gap: float = MAX_CA_GAP) -> np.ndarray:
        """Indices ``i`` where the Cα(i)–Cα(i+1) distance exceeds ``max_gap`` Å."""
        gaps = np.linalg.norm(np.diff(self.ca, axis=0), axis=1)
        return np.nonzero(gaps > max_gap)[0]


def is_structure_file(path: str | os.PathLike) -> bool:
    name = str(path).lower()
    return any(name.endswith(s) for s in STRUCTURE_SUFFIXES)


def _load_atoms(path: Path) -> struc.AtomArray:
    if not path.exists():
        raise FileNotFoundError(f"structure file not found: {path}")
    if path.stat().st_size == 0:
        raise StructureError(f"{path}: empty file")
    try:
        atoms = strucio.load_structure(str(path), model=1)
    except Exception as err:  # biotite raises many types for malformed files
        raise StructureError(f"{path}: cannot parse ({type(err).__name__}: {err})") from err
    return atoms[~atoms.hetero] if hasattr(atoms, "hetero") else atoms


def read_chains(path: str | os.PathLike, min_length: int = 1) -> list[Backbone]:
    """All protein chains of a structure file with at least ``min_length`` residues with a Cα.

    Raises:
        StructureError: the file is empty, unparsable or holds no amino-acid residue with a Cα.
    """
    path = Path(path)
    atoms = _load_atoms(path)
    atoms = atoms[struc.filter_amino_acids(atoms)]
    chains = []
    for chain_id in dict.fromkeys(atoms.chain_id.tolist()):
        chain = atoms[atoms.chain_id == chain_id]
        backbone = _chain_backbone(chain, chain_id, str(path))
        if backbone is not None and len(backbone) >= min_length:
            chains.append(backbone)
    if not chains:
        raise StructureError(f"{path}: no protein chain with Cα atoms (of at least {min_length} residues)")
    return chains


def read_backbone(path: str | os.PathLike, chain_id: str | None = None) -> Backbone:
    """One chain of a structure file (the first protein chain unless ``chain_id`` is given)."""
    chains = read_chains(path)
    if chain_id is None:
        return chains[0]
    for chain in chains:
        if chain.chain_id == chain_id:
            return chain
    raise StructureError(f"{path}: no chain {chain_id!r}; chains are {[c.chain_id for c in chains]}")


def _chain_backbone(chain: struc.AtomArray, chain_id: str, source: str) -> Backbone | None:
    # Keep the first altloc / insertion-free residue order; one row per residue.
    starts = struc.get_residue_starts(chain)
    ca_rows, names, full = [], [], []
    for begin, end in zip(starts, [*starts[1:], len(chain)], strict=True):
        residue = chain[begin:end]
        ca = residue[residue.atom_name == "CA"]
        if len(ca) == 0:
            continue
        ca_rows.append(ca.coord[0])
        names.append(_THREE_TO_ONE.get(str(residue.res_name[0]).upper(), "X"))
        bb = [residue[residue.atom_name == n] for n in BACKBONE_ATOMS]
        full.append(np.stack([a.coord[0] for a in bb]) if all(len(a) for a in bb) else None)
    if not ca_rows:
        return None
    atoms = np.stack(full).astype(np.float32) if all(f is not None for f in full) else None
    return Backbone(np.asarray(ca_rows, dtype=np.float32), "".join(names), chain_id, atoms, source)


def ca_pdb_text(ca: np.ndarray, sequence: str | None = None, chain_id: str = "A") -> str:
    """PDB text of a Cα trace: one ``CA`` atom per residue in one chain (glycine when no sequence)."""
    one_to_three = {v: k for k, v in reversed(list(_THREE_TO_ONE.items()))}
    ca = np.asarray(ca, dtype=np.float64)
    if ca.ndim != 2 or ca.shape[1] != 3:
        raise ValueError(f"ca must have shape [L, 3], got {ca.shape}")
    if sequence is not None and len(sequence) != len(ca):
        raise ValueError(f"sequence length {len(sequence)} != number of Cα atoms {len(ca)}")
    lines = []
    for i, (x, y, z) in enumerate(ca):
        res = one_to_three.get(sequence[i], "UNK") if sequence else "GLY"
        lines.append(
            f"ATOM  {i + 1:5d}  CA  {res:3s} {chain_id:1s}{i + 1:4d}    {x:8.3f}{y:8.3f}{z:8.3f}"
            "  1.00  0.00           C"
        )
    lines += [f"TER   {len(ca) + 1:5d}      {res:3s} {chain_id:1s}{len(ca):4d}", "END", ""]
    return "\n".join(lines)


def write_ca_pdb(
    path: str | os.PathLike, ca: np.ndarray, sequence: str | None = None, chain_id: str = "A"
) -> None:
    """Write a Cα-only PDB atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(ca_pdb_text(ca, sequence, chain_id))
