"""A random forest stored as plain arrays (``.npz``), so loading never unpickles bytes.

Each tree is the sklearn ``tree_`` structure flattened: ``left``, ``right`` (child indices, -1 at leaves),
``feature``, ``threshold`` and ``p_active`` (leaf fraction of class 1). All trees are concatenated with
per-tree node offsets.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from superdiff.files.atomic import atomic_path


@dataclass(frozen=True)
class ArrayForest:
    """A binary-classification forest as arrays; ``predict_proba(X)`` -> P(class 1), ``[N]``."""

    left: np.ndarray  # [nodes] int32, global index, -1 at a leaf
    right: np.ndarray  # [nodes] int32
    feature: np.ndarray  # [nodes] int32
    threshold: np.ndarray  # [nodes] float32
    p_active: np.ndarray  # [nodes] float32
    roots: np.ndarray  # [trees] int32
    n_features: int

    @classmethod
    def from_sklearn(cls, forest) -> ArrayForest:
        """Convert a fitted ``sklearn.ensemble.RandomForestClassifier`` (classes 0/1)."""
        if list(forest.classes_) != [0, 1]:
            raise ValueError(f"forest must be trained on classes [0, 1], got {list(forest.classes_)}")
        parts = {k: [] for k in ("left", "right", "feature", "threshold", "p_active")}
        roots, offset = [], 0
        for est in forest.estimators_:
            tree = est.tree_
            n = tree.node_count
            leaf = tree.children_left < 0
            parts["left"].append(np.where(leaf, -1, tree.children_left + offset))
            parts["right"].append(np.where(leaf, -1, tree.children_right + offset))
            parts["feature"].append(np.where(leaf, 0, tree.feature))
            parts["threshold"].append(tree.threshold)
            value = tree.value[:, 0, :]
            parts["p_active"].append(value[:, 1] / np.maximum(value.sum(axis=1), 1e-12))
            roots.append(offset)
            offset += n
        dtypes = {"left": np.int32, "right": np.int32, "feature": np.int32, "threshold": np.float32,
                  "p_active": np.float32}
        arrays = {k: np.concatenate(v).astype(dtypes[k]) for k, v in parts.items()}
        return cls(**arrays, roots=np.asarray(roots, np.int32), n_features=int(forest.n_features_in_))

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Mean leaf probability over trees. ``x``: ``[N, n_features]`` (0/1 bits); returns ``[N]`` float64."""
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise ValueError(f"features must have shape [N, {self.n_features}], got {x.shape}")
        n = x.shape[0]
        node = np.broadcast_to(self.roots[None, :], (n, len(self.roots))).copy()  # [N, T]
        rows = np.arange(n)[:, None]
        while True:
            left = self.left[node]
            active = left >= 0
            if not active.any():
                break
            go_left = x[rows, self.feature[node]] <= self.threshold[node]
            node = np.where(active, np.where(go_left, left, self.right[node]), node)
        return self.p_active[node].astype(np.float64).mean(axis=1)

    def save(self, path: str | Path) -> None:
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez_compressed(fh, left=self.left, right=self.right, feature=self.feature,
                                threshold=self.threshold, p_active=self.p_active, roots=self.roots,
                                n_features=np.int64(self.n_features))

    @classmethod
    def load(cls, path: str | Path) -> ArrayForest:
        with np.load(path, allow_pickle=False) as z:
            return cls(left=z["left"], right=z["right"], feature=z["feature"], threshold=z["threshold"],
                       p_active=z["p_active"], roots=z["roots"], n_features=int(z["n_features"]))
