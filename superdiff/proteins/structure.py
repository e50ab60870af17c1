"""Reading and writing protein backbones (PDB / mmCIF / BinaryCIF through biotite).

Coordinates are in Å. A :class:`Backbone` holds one chain: its Cα trace, its sequence and, when the file
has them, the full N-CA-C-O backbone for models that use it.
"""

from __future__ import annotations

import gzip
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
        return np.nonzero(~(gaps <= max_gap))[0]  # a NaN gap is a break, never a pass


def is_structure_file(path: str | os.PathLike) -> bool:
    name = str(path).lower()
    return any(name.endswith(s) for s in STRUCTURE_SUFFIXES)


def _load_atoms(path: Path) -> struc.AtomArray:
    if not path.exists():
        raise FileNotFoundError(f"structure file not found: {path}")
    if path.stat().st_size == 0:
        raise StructureError(f"{path}: empty file")
    try:
        if path.name.lower().endswith(".gz"):  # biotite reads by suffix and knows no .gz: unpack beside a temp name
            import tempfile

            with tempfile.TemporaryDirectory(prefix="superdiff-gz-") as tmp:
                inner = Path(tmp) / path.name[:-3]
                with gzip.open(path, "rb") as handle:
                    inner.write_bytes(handle.read())
                atoms = strucio.load_structure(str(inner), model=1)
        else:
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
    ca_rows, names, full, labels = [], [], [], []
    for begin, end in zip(starts, [*starts[1:], len(chain)], strict=True):
        residue = chain[begin:end]
        ca = residue[residue.atom_name == "CA"]
        if len(ca) == 0:
            continue
        ca_rows.append(ca.coord[0])
        names.append(_THREE_TO_ONE.get(str(residue.res_name[0]).upper(), "X"))
        labels.append(f"{residue.res_name[0]} {residue.res_id[0]}")
        bb = [residue[residue.atom_name == n] for n in BACKBONE_ATOMS]
        full.append(np.stack([a.coord[0] for a in bb]) if all(len(a) for a in bb) else None)
    if not ca_rows:
        return None
    atoms = np.stack(full).astype(np.float32) if all(f is not None for f in full) else None
    ca = np.asarray(ca_rows, dtype=np.float32)
    _check_finite(ca if atoms is None else atoms, labels, chain_id, source)
    return Backbone(ca, "".join(names), chain_id, atoms, source)


def _check_finite(coords: np.ndarray, labels: list[str], chain_id: str, source: str) -> None:
    """Raise :class:`StructureError` naming the first residue with a NaN or infinite coordinate.

    Non-finite coordinates are never a structure: TM-align never returns on them, and ProteinMPNN or P-SEA
    would silently turn them into a poly-Ala sequence with NaN likelihood or an all-coil assignment.
    """
    bad = ~np.isfinite(coords.reshape(len(labels), -1)).all(axis=1)
    if bad.any():
        first = int(np.argmax(bad))
        value = coords.reshape(len(labels), -1)[first]
        shown = next(str(v) for v in value if not np.isfinite(v))
        raise StructureError(f"{source}: chain {chain_id}: non-finite coordinate ({shown}) at residue {labels[first]}"
                             f" ({int(bad.sum())} residue(s) affected); expected finite x, y, z in Å")


_COORDINATE_RECORDS = ("ATOM  ", "HETATM")


def _pdb_text(path: Path) -> str | None:
    """The text of a PDB-format file (plain or gzipped), or None for other formats."""
    name = path.name.lower()
    if name.endswith((".pdb", ".ent")):
        return path.read_bytes().decode("latin-1")
    if name.endswith(".pdb.gz"):
        with gzip.open(path, "rb") as handle:
            return handle.read().decode("latin-1")
    return None


def check_complete(path: str | os.PathLike) -> None:
    """Raise :class:`StructureError` when a PDB file looks truncated (mmCIF files: the parser already refuses).

    A cut file would otherwise read as a shorter protein. Checked: the last line is a coordinate record with no
    newline after it (the file was cut mid-line), a coordinate record too short to hold x, y, z (columns 31-54),
    and a last residue missing backbone atoms (N, CA, C, O) that every other residue of its chain has. A file cut
    exactly between two residues of a Cα-only trace is indistinguishable from a shorter protein: the evaluation
    commands compare the length with the designs table (``--designs``) for that.
    """
    path = Path(path)
    text = _pdb_text(path)
    if text is None:
        return
    lines = text.splitlines()
    if lines and lines[-1].startswith(_COORDINATE_RECORDS) and not text.endswith(("\n", "\r")):
        raise StructureError(f"{path}: truncated: the last line (line {len(lines)}) is a cut-off coordinate "
                             "record with no newline after it; expected complete lines (and an END record)")
    residues: dict[tuple[str, str], set[str]] = {}  # (chain, "RES 12A") -> atom names, in file order
    for number, line in enumerate(lines, 1):
        if line.startswith("ENDMDL"):
            break
        if not line.startswith(_COORDINATE_RECORDS):
            continue
        if len(line.rstrip()) < 54:
            raise StructureError(f"{path}: truncated coordinate record at line {number} ({len(line.rstrip())} "
                                 "characters); expected x, y, z in columns 31-54")
        if line.startswith("ATOM  "):
            label = f"{line[17:20].strip()} {line[22:27].strip()}"
            residues.setdefault((line[21], label), set()).add(line[12:16].strip())
    _check_last_residue(path, residues)


def _check_last_residue(path: Path, residues: dict[tuple[str, str], set[str]]) -> None:
    by_chain: dict[str, list[tuple[str, set[str]]]] = {}
    for (chain, residue), atoms in residues.items():
        by_chain.setdefault(chain, []).append((residue, atoms & set(BACKBONE_ATOMS)))
    for chain, entries in by_chain.items():
        if len(entries) < 2:
            continue
        others = [atoms for _, atoms in entries[:-1]]
        common = set.intersection(*others)
        missing = common - entries[-1][1]
        if missing and all(atoms == common for atoms in others):
            raise StructureError(
                f"{path}: truncated: the last residue of chain {chain} ({entries[-1][0]}) lacks backbone atom(s) "
                f"{', '.join(sorted(missing))} that every other residue has")


def ca_pdb_text(ca: np.ndarray, sequence: str | None = None, chain_id: str = "A") -> str:
    """PDB text of a Cα trace: one ``CA`` atom per residue in one chain (glycine when no sequence)."""
    one_to_three = {v: k for k, v in reversed(list(_THREE_TO_ONE.items()))}
    ca = np.asarray(ca, dtype=np.float64)
    if ca.ndim != 2 or ca.shape[1] != 3:
        raise ValueError(f"ca must have shape [L, 3], got {ca.shape}")
    if not np.isfinite(ca).all():
        rows = np.nonzero(~np.isfinite(ca).all(axis=1))[0].tolist()
        raise ValueError(f"ca has non-finite coordinates at residue index(es) {rows[:10]}; refusing to write them")
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


def backbone_pdb_text(atoms: np.ndarray, sequence: str | None = None, chain_id: str = "A") -> str:
    """PDB text of a full backbone ``[L, 4, 3]`` (N, CA, C, O in Å; glycine when no sequence)."""
    one_to_three = {v: k for k, v in reversed(list(_THREE_TO_ONE.items()))}
    atoms = np.asarray(atoms, dtype=np.float64)
    if atoms.ndim != 3 or atoms.shape[1:] != (4, 3):
        raise ValueError(f"atoms must have shape [L, 4, 3] (N, CA, C, O), got {atoms.shape}")
    if not np.isfinite(atoms).all():
        rows = np.nonzero(~np.isfinite(atoms).all(axis=(1, 2)))[0].tolist()
        raise ValueError(f"atoms have non-finite coordinates at residue index(es) {rows[:10]}; refusing to write them")
    if sequence is not None and len(sequence) != len(atoms):
        raise ValueError(f"sequence length {len(sequence)} != number of residues {len(atoms)}")
    lines, serial, res = [], 0, "GLY"
    for i, residue in enumerate(atoms):
        res = one_to_three.get(sequence[i], "UNK") if sequence else "GLY"
        for name, (x, y, z) in zip(BACKBONE_ATOMS, residue, strict=True):
            serial += 1
            lines.append(f"ATOM  {serial:5d}  {name:<3s} {res:3s} {chain_id:1s}{i + 1:4d}    {x:8.3f}{y:8.3f}{z:8.3f}"
                         f"  1.00  0.00           {name[0]}")
    lines += [f"TER   {serial + 1:5d}      {res:3s} {chain_id:1s}{len(atoms):4d}", "END", ""]
    return "\n".join(lines)


def write_backbone_pdb(path: str | os.PathLike, atoms: np.ndarray, sequence: str | None = None,
                       chain_id: str = "A") -> None:
    """Write a full-backbone (N, CA, C, O) PDB atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(backbone_pdb_text(atoms, sequence, chain_id))
