"""Novelty: the true maximum TM-score of each design against a reference set.

novelty(x) = max over reference chains r of TM-align(x, r) normalised by the length of ``x``. Lower is more
novel; the summary reports the fractions of designs with max TM < 0.5 and < 0.3.

Exactness. Every reference chain is aligned unless a bound proves it cannot raise the maximum: the TM-score
normalised by ``L_x`` is at most ``min(L_x, L_r) / L_x`` (:func:`superdiff.proteins.evaluation.tmalign.tm_upper_bound`),
so a reference whose bound is ≤ the best score found so far is skipped. References are visited in decreasing
bound order. The maximum is therefore the same as aligning every pair (a test checks this).

``method="foldseek"`` (when ``foldseek`` is on PATH) uses Foldseek's exhaustive search (``--exhaustive-search 1
-e inf``, TM-align alignment mode) to rank references and rescores the top ``foldseek_top_k`` with TM-align; it is a
speed-up whose maximum can miss a reference Foldseek ranks low, and the method is recorded in every row.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from superdiff.proteins.evaluation.tmalign import tm_align, tm_upper_bound

NOVELTY_METHODS = ("tmalign", "foldseek", "auto")


@dataclass(frozen=True)
class ReferenceChain:
    """One reference chain: a name (``file:chain``), Cα ``[L, 3]`` (Å) and its sequence."""

    name: str
    ca: np.ndarray
    sequence: str


@dataclass(frozen=True)
class ReferenceSet:
    """A set of reference chains and where it came from (recorded in the output)."""

    chains: tuple[ReferenceChain, ...]
    source: str
    skipped_files: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.chains)


def load_reference_folder(folder: str | os.PathLike, min_length: int = 20) -> ReferenceSet:
    """Every protein chain (≥ ``min_length`` residues) of every PDB/mmCIF file under ``folder`` (recursive).

    Unreadable files are listed in ``skipped_files`` rather than stopping the load.

    Raises:
        FileNotFoundError: ``folder`` is not a directory. ValueError: no usable chain in it.
    """
    from superdiff.proteins.structure import StructureError, is_structure_file, read_chains

    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"reference folder {str(folder)!r} does not exist or is not a directory")
    chains, skipped = [], []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and is_structure_file(p)):
        try:
            for chain in read_chains(path, min_length=min_length):
                chains.append(ReferenceChain(f"{path.relative_to(folder)}:{chain.chain_id}", chain.ca, chain.sequence))
        except (StructureError, OSError):
            skipped.append(str(path))
    if not chains:
        raise ValueError(f"reference folder {str(folder)!r}: no protein chain with >= {min_length} residues")
    return ReferenceSet(tuple(chains), str(folder.resolve()), tuple(skipped))


def default_reference_set() -> ReferenceSet:
    """The built-in reference set (``superdiff.proteins.reference.load_reference_set``).

    Raises:
        FileNotFoundError: the built-in set is not available in this installation.
    """
    try:
        from superdiff.proteins.reference import load_reference_set
    except ImportError as err:
        raise FileNotFoundError(
            "no built-in reference set (superdiff.proteins.reference); pass a reference folder instead"
        ) from err
    chains, skipped = [], []
    for i, chain in enumerate(load_reference_set()):
        name = str(getattr(chain, "name", "") or getattr(chain, "id", "") or
                   f"{Path(str(getattr(chain, 'source', ''))).name}:{getattr(chain, 'chain_id', i)}")
        ca = np.asarray(chain.ca, dtype=np.float32)
        if not np.isfinite(ca).all():  # TM-align never returns on NaN / inf
            skipped.append(name)
            continue
        chains.append(ReferenceChain(name, ca, str(chain.sequence)))
    return ReferenceSet(tuple(chains), "builtin:superdiff.proteins.reference", tuple(skipped))


@dataclass(frozen=True)
class NoveltyResult:
    """Max TM-score of one design against the references.

    Attributes:
        max_tm: max TM-score normalised by the design's length.
        best_reference: the reference chain that attains it.
        n_aligned: references actually aligned.
        n_skipped_by_bound: references skipped because their length bound could not beat ``max_tm``.
    """

    max_tm: float
    best_reference: str
    n_aligned: int
    n_skipped_by_bound: int


def max_tm_score(ca: np.ndarray, sequence: str | None, references: tuple[ReferenceChain, ...] | list,
                 use_bound: bool = True) -> NoveltyResult:
    """Exact max TM-score (normalised by ``len(ca)``) of one design ``[L, 3]`` over ``references``."""
    length = len(ca)
    order = sorted(range(len(references)), key=lambda i: -tm_upper_bound(length, len(references[i].ca)))
    best, best_name, aligned, skipped = -1.0, "", 0, 0
    for i in order:
        ref = references[i]
        if use_bound and tm_upper_bound(length, len(ref.ca)) <= best:
            skipped += 1
            continue
        score = tm_align(ca, ref.ca, sequence, ref.sequence).tm_1
        aligned += 1
        if score > best:
            best, best_name = score, ref.name
    return NoveltyResult(max(best, 0.0), best_name, aligned, skipped)


_WORKER_REFS: tuple[ReferenceChain, ...] = ()


def _init_worker(references: tuple[ReferenceChain, ...]) -> None:
    global _WORKER_REFS
    _WORKER_REFS = references


def _worker(task: tuple[np.ndarray, str | None, tuple[int, ...] | None]) -> NoveltyResult:
    ca, sequence, subset = task
    refs = _WORKER_REFS if subset is None else tuple(_WORKER_REFS[i] for i in subset)
    return max_tm_score(ca, sequence, refs)


def resolve_workers(workers: int | None) -> int:
    """``None`` or 0 -> every core of the machine."""
    count = os.cpu_count() or 1
    return count if not workers else max(1, min(int(workers), 256))


def novelty_scores(
    designs: list[tuple[np.ndarray, str | None]],
    references: ReferenceSet,
    workers: int | None = None,
    subsets: list[tuple[int, ...] | None] | None = None,
    progress: bool = False,
) -> list[NoveltyResult]:
    """Max TM of each design ``(ca [L, 3], sequence)`` against the references, over ``workers`` processes.

    ``subsets`` optionally restricts design ``i`` to the references with those indices (Foldseek candidates).
    """
    from tqdm.auto import tqdm

    subsets = subsets or [None] * len(designs)
    n_workers = resolve_workers(workers)
    # Fewer designs than workers: split each design's references into parts so every core has work. The max of
    # the parts' maxima is the max, and the length bound stays exact within each part.
    parts = max(1, -(-n_workers // max(len(designs), 1))) if len(designs) < n_workers else 1
    tasks, owner = [], []
    for i, ((ca, seq), sub) in enumerate(zip(designs, subsets, strict=True)):
        indices = tuple(range(len(references))) if sub is None else tuple(sub)
        for k in range(min(parts, max(len(indices), 1))):
            tasks.append((np.asarray(ca, dtype=np.float64), seq, indices[k::parts] if parts > 1 else sub))
            owner.append(i)
    n_workers = min(n_workers, max(len(tasks), 1))
    if n_workers == 1:
        _init_worker(references.chains)
        results = [_worker(t) for t in tqdm(tasks, desc="novelty", disable=not progress)]
    else:
        context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods()
                                              else "spawn")
        with context.Pool(n_workers, initializer=_init_worker, initargs=(references.chains,)) as pool:
            results = list(tqdm(pool.imap(_worker, tasks), total=len(tasks), desc="novelty", disable=not progress))
    return [_combine([r for r, o in zip(results, owner, strict=True) if o == i]) for i in range(len(designs))]


def _combine(parts: list[NoveltyResult]) -> NoveltyResult:
    """The result over the union of disjoint reference parts."""
    best = max(parts, key=lambda r: r.max_tm)
    return NoveltyResult(best.max_tm, best.best_reference, sum(r.n_aligned for r in parts),
                         sum(r.n_skipped_by_bound for r in parts))


def foldseek_available() -> bool:
    return shutil.which("foldseek") is not None


def resolve_method(method: str) -> str:
    """``auto`` -> ``foldseek`` when it is on PATH, else ``tmalign``.

    Raises:
        ValueError: unknown method, or ``foldseek`` requested but not on PATH.
    """
    if method not in NOVELTY_METHODS:
        raise ValueError(f"novelty method must be one of {NOVELTY_METHODS}, got {method!r}")
    if method == "auto":
        return "foldseek" if foldseek_available() else "tmalign"
    if method == "foldseek" and not foldseek_available():
        raise ValueError("novelty method 'foldseek' needs the foldseek program on PATH")
    return method


def foldseek_candidates(
    designs: list[tuple[str, np.ndarray, str | None]], references: ReferenceSet, top_k: int = 50, threads: int = 1
) -> list[tuple[int, ...]]:
    """Foldseek exhaustive search: for each design ``(name, ca, sequence)`` the indices of its top-k references."""
    from superdiff.proteins.structure import write_ca_pdb

    with tempfile.TemporaryDirectory(prefix="superdiff-foldseek-") as tmp:
        tmp = Path(tmp)
        (tmp / "q").mkdir()
        (tmp / "t").mkdir()
        for i, (_, ca, seq) in enumerate(designs):
            write_ca_pdb(tmp / "q" / f"q{i}.pdb", ca, seq if seq and len(seq) == len(ca) else None)
        for j, ref in enumerate(references.chains):
            write_ca_pdb(tmp / "t" / f"t{j}.pdb", ref.ca, ref.sequence if len(ref.sequence) == len(ref.ca) else None)
        out = tmp / "hits.m8"
        command = [
            "foldseek", "easy-search", str(tmp / "q"), str(tmp / "t"), str(out), str(tmp / "work"),
            "--exhaustive-search", "1", "-e", "inf", "--alignment-type", "1",
            "--format-output", "query,target,alntmscore,bits", "--threads", str(threads),
        ]
        subprocess.run(command, check=True, capture_output=True, text=True)
        hits: dict[int, list[tuple[float, int]]] = {}
        for line in out.read_text().splitlines():
            query, target, tm, bits = line.split("\t")
            hits.setdefault(int(Path(query).stem.split("_")[0][1:]), []).append(
                (float(tm) + 1e-6 * float(bits), int(Path(target).stem.split("_")[0][1:]))
            )
    return [tuple(j for _, j in sorted(hits.get(i, []), reverse=True)[:top_k]) for i in range(len(designs))]


def novelty_rows(
    names: list[str],
    designs: list[tuple[np.ndarray, str | None]],
    references: ReferenceSet,
    method: str = "tmalign",
    workers: int | None = None,
    foldseek_top_k: int = 50,
    progress: bool = False,
) -> list[dict[str, Any]]:
    """Novelty rows (``design_id``, ``max_tm``, ``best_reference``, ...) for designs that loaded."""
    method = resolve_method(method)
    subsets = None
    if method == "foldseek":
        subsets = foldseek_candidates([(n, ca, s) for n, (ca, s) in zip(names, designs, strict=True)],
                                      references, foldseek_top_k, resolve_workers(workers))
    results = novelty_scores(designs, references, workers, subsets, progress)
    return [
        {"design_id": name, "status": "ok", "reason": "", "length": len(ca), "max_tm": r.max_tm,
         "best_reference": r.best_reference, "novel_tm_lt_0_5": r.max_tm < 0.5, "novel_tm_lt_0_3": r.max_tm < 0.3,
         "n_aligned": r.n_aligned, "n_skipped_by_bound": r.n_skipped_by_bound, "method": method}
        for name, (ca, _), r in zip(names, designs, results, strict=True)
    ]


def novelty_summary(max_tms: list[float]) -> dict[str, float]:
    """Fractions of designs with max TM < 0.5 and < 0.3, and the mean max TM (NaN when empty)."""
    values = np.asarray(max_tms, dtype=np.float64)
    if values.size == 0:
        return {"n": 0, "fraction_tm_lt_0_5": float("nan"), "fraction_tm_lt_0_3": float("nan"),
                "mean_max_tm": float("nan")}
    return {"n": int(values.size), "fraction_tm_lt_0_5": float(np.mean(values < 0.5)),
            "fraction_tm_lt_0_3": float(np.mean(values < 0.3)), "mean_max_tm": float(values.mean())}
