"""Reading a batch of designs: every structure file becomes a backbone or a failure with a reason.

A batch never crashes on one bad file: :func:`load_designs` returns :class:`DesignInput` records whose
``backbone`` is None and whose ``reason`` says what is wrong (empty file, not a protein, missing Cα, chain break,
too large, NaN or infinite coordinates, a truncated file, all atoms at one point, fewer residues than the designs
table says, ...). Design ids are file names without their structure suffix.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from superdiff.proteins.structure import (
    MAX_CA_GAP,
    STRUCTURE_SUFFIXES,
    Backbone,
    StructureError,
    check_complete,
    is_structure_file,
    read_backbone,
)

MAX_FILE_BYTES = 50_000_000  # a design file larger than this is refused unread
MAX_RESIDUES = 2_000


@dataclass(frozen=True)
class DesignInput:
    """One design of a batch: its id, its file and either a backbone or the reason it cannot be used."""

    design_id: str
    path: str
    backbone: Backbone | None
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.backbone is not None


def design_id_of(path: str | os.PathLike) -> str:
    """File name without its structure suffix (``a/b/x.pdb.gz`` -> ``x``)."""
    name = Path(path).name
    for suffix in sorted(STRUCTURE_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return Path(name).stem


def list_structure_files(folder: str | os.PathLike) -> list[Path]:
    """Structure files directly inside ``folder``, sorted by name.

    Raises:
        FileNotFoundError: ``folder`` does not exist or is not a directory.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"designs folder {str(folder)!r} does not exist or is not a directory")
    return sorted(p for p in folder.iterdir() if p.is_file() and is_structure_file(p))


def load_design(
    path: str | os.PathLike,
    *,
    allow_chain_breaks: bool = False,
    max_residues: int = MAX_RESIDUES,
    max_bytes: int = MAX_FILE_BYTES,
    min_residues: int = 3,
    expected_length: int | None = None,
) -> DesignInput:
    """Read the first protein chain of ``path``; problems become a failed :class:`DesignInput`, never an error.

    ``expected_length`` (the designs table's ``length``): a chain with another number of residues is a failure
    (a file cut between two residues reads as a shorter protein otherwise).
    """
    path = Path(path)
    design_id = design_id_of(path)

    def fail(reason: str) -> DesignInput:
        return DesignInput(design_id, str(path), None, reason)

    try:
        size = path.stat().st_size
    except OSError as err:
        return fail(f"cannot read file: {err}")
    if size == 0:
        return fail("empty file")
    if size > max_bytes:
        return fail(f"file too large: {size} bytes > max_bytes={max_bytes}")
    try:
        check_complete(path)
        backbone = read_backbone(path)
    except StructureError as err:
        return fail(str(err).removeprefix(f"{path}: "))
    except Exception as err:  # a malformed file must not stop the batch
        return fail(f"cannot read structure ({type(err).__name__}: {err})")
    if len(backbone) < min_residues:
        return fail(f"too short: {len(backbone)} residues with Cα < min_residues={min_residues}")
    if len(backbone) > max_residues:
        return fail(f"too long: {len(backbone)} residues > max_residues={max_residues}")
    if expected_length is not None and len(backbone) != int(expected_length):
        return fail(f"truncated or wrong file: {len(backbone)} residues with Cα, expected length "
                    f"{int(expected_length)} (designs table)")
    distinct = len(np.unique(np.round(backbone.ca.astype(np.float64), 3), axis=0))
    if distinct < min(3, len(backbone)):
        where = ", ".join(f"{v:.3f}" for v in backbone.ca[0])
        return fail(f"degenerate coordinates: the {len(backbone)} Cα atoms sit at {distinct} distinct point(s) "
                    f"(first at {where}); expected a chain with at least 3 distinct Cα positions")
    breaks = backbone.chain_breaks()
    if len(breaks) and not allow_chain_breaks:
        return fail(
            f"chain break: Cα-Cα distance > {MAX_CA_GAP} Å after residue index(es) {breaks.tolist()[:10]}"
        )
    return DesignInput(design_id, str(path), backbone)


def load_designs(
    folder: str | os.PathLike, design_ids: list[str] | None = None,
    expected_lengths: dict[str, int] | None = None, **options
) -> list[DesignInput]:
    """All designs of ``folder`` (or only ``design_ids``, in that order; a missing one becomes a failure row).

    ``expected_lengths``: design id -> residues its file must hold (see :func:`load_design`).
    """
    lengths = expected_lengths or {}
    files = list_structure_files(folder)
    if design_ids is None:
        seen: dict[str, Path] = {}
        out = []
        for path in files:
            design_id = design_id_of(path)
            if design_id in seen:
                # reported under its file name, which is unique in the folder
                out.append(DesignInput(path.name, str(path), None,
                                       f"duplicate design_id {design_id!r}: {seen[design_id].name} has the same id"))
            else:
                seen[design_id] = path
                out.append(load_design(path, expected_length=lengths.get(design_id), **options))
        return out
    by_id: dict[str, Path] = {}
    for path in files:
        by_id.setdefault(design_id_of(path), path)
    out = []
    for design_id in design_ids:
        path = by_id.get(str(design_id))
        if path is None:
            out.append(DesignInput(str(design_id), "", None, f"no structure file for design_id {design_id!r}"))
        else:
            out.append(load_design(path, expected_length=lengths.get(str(design_id)), **options))
    return out


def design_ids_from_table(path: str | os.PathLike) -> list[str]:
    """The ``design_id`` column of a designs table (parquet or CSV).

    Raises:
        KeyError: the table has no ``design_id`` column.
    """
    return design_table(path)[0]


def design_table(path: str | os.PathLike) -> tuple[list[str], dict[str, int] | None]:
    """``(design ids, {design id: length})`` of a designs table (parquet or CSV); lengths None without a
    ``length`` column.

    Raises:
        FileNotFoundError: no such table. ValueError: unreadable. KeyError: no ``design_id`` column.
    """
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"designs table {str(path)!r} does not exist")
    try:
        frame = pd.read_csv(path) if path.suffix == ".csv" else pd.read_parquet(path)
    except Exception as err:  # pandas / pyarrow raise many types for a damaged file
        raise ValueError(f"{path}: cannot read the designs table ({type(err).__name__}: {err}); expected a parquet "
                         "or CSV table with a design_id column") from err
    if "design_id" not in frame.columns:
        raise KeyError(f"{path}: expected a 'design_id' column, found {list(frame.columns)}")
    ids = [str(x) for x in frame["design_id"]]
    if "length" not in frame.columns:
        return ids, None
    lengths = {i: int(n) for i, n in zip(ids, frame["length"], strict=True) if n == n}  # NaN: unknown
    return ids, lengths
