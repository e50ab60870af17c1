"""Diversity: pairwise TM-score matrix of a set of designs and its clusters.

The pair score is TM-align's TM-score symmetrised over the two length normalisations (``mean`` by default,
``max`` or ``min`` on request). Clusters link designs whose pair score is ≥ the threshold (default 0.5):
``single`` linkage (connected components) or ``greedy`` (each unclustered design in order becomes a centre and
takes every unclustered design within the threshold of it). Diversity is the number of clusters / N.
"""

from __future__ import annotations

import multiprocessing
from typing import Any

import numpy as np

from superdiff.proteins.evaluation.novelty import resolve_workers
from superdiff.proteins.evaluation.tmalign import tm_align

SYMMETRISATIONS = ("mean", "max", "min")
LINKAGES = ("single", "greedy")

_WORKER_DESIGNS: list[tuple[np.ndarray, str | None]] = []


def _init(designs: list[tuple[np.ndarray, str | None]]) -> None:
    global _WORKER_DESIGNS
    _WORKER_DESIGNS = designs


def _pair(ij: tuple[int, int]) -> tuple[int, int, float, float]:
    i, j = ij
    (a, sa), (b, sb) = _WORKER_DESIGNS[i], _WORKER_DESIGNS[j]
    r = tm_align(a, b, sa, sb)
    return i, j, r.tm_1, r.tm_2


def pairwise_tm(
    designs: list[tuple[np.ndarray, str | None]], symmetrise: str = "mean", workers: int | None = None,
    progress: bool = False,
) -> np.ndarray:
    """Symmetric ``[N, N]`` TM-score matrix (diagonal 1) of designs ``(ca [L, 3], sequence)``."""
    from tqdm.auto import tqdm

    if symmetrise not in SYMMETRISATIONS:
        raise ValueError(f"symmetrise must be one of {SYMMETRISATIONS}, got {symmetrise!r}")
    n = len(designs)
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    designs = [(np.asarray(ca, dtype=np.float64), s) for ca, s in designs]
    n_workers = min(resolve_workers(workers), max(len(pairs), 1))
    if n_workers == 1:
        _init(designs)
        results = [_pair(p) for p in tqdm(pairs, desc="pairwise TM", disable=not progress)]
    else:
        context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods()
                                              else "spawn")
        with context.Pool(n_workers, initializer=_init, initargs=(designs,)) as pool:
            results = list(tqdm(pool.imap(_pair, pairs, chunksize=16), total=len(pairs), desc="pairwise TM",
                                disable=not progress))
    combine = {"mean": lambda a, b: 0.5 * (a + b), "max": max, "min": min}[symmetrise]
    matrix = np.eye(n)
    for i, j, a, b in results:
        matrix[i, j] = matrix[j, i] = combine(a, b)
    return matrix


def cluster(matrix: np.ndarray, threshold: float = 0.5, linkage: str = "single") -> np.ndarray:
    """Cluster labels ``[N]`` (0, 1, ... in order of first member) from a TM matrix at ``threshold``."""
    matrix = np.asarray(matrix)
    n = len(matrix)
    if linkage not in LINKAGES:
        raise ValueError(f"linkage must be one of {LINKAGES}, got {linkage!r}")
    labels = np.full(n, -1, dtype=np.int64)
    if linkage == "greedy":
        next_label = 0
        for i in range(n):
            if labels[i] >= 0:
                continue
            members = (labels < 0) & (matrix[i] >= threshold)
            members[i] = True
            labels[members] = next_label
            next_label += 1
        return labels
    parent = list(range(n))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for i in range(n):
        for j in range(i + 1, n):
            if matrix[i, j] >= threshold:
                parent[find(i)] = find(j)
    roots: dict[int, int] = {}
    for i in range(n):
        labels[i] = roots.setdefault(find(i), len(roots))
    return labels


def diversity_summary(matrix: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """N, number of clusters, clusters / N, and mean off-diagonal pairwise TM."""
    n = len(labels)
    n_clusters = len(set(labels.tolist()))
    off = matrix[~np.eye(n, dtype=bool)] if n > 1 else np.array([])
    return {"n": n, "n_clusters": n_clusters, "cluster_fraction": n_clusters / n if n else float("nan"),
            "mean_pairwise_tm": float(off.mean()) if off.size else float("nan")}
