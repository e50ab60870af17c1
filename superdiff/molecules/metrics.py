"""Generation metrics (validity, uniqueness, novelty, internal diversity, FCD, property distributions) and the
paper's composition table (per method: mean of each property, fraction satisfying both, mean product).

Conventions: fractions are over all designs; the composition scores count an invalid molecule as 0; novelty is
over valid unique molecules, against the MOSES train SMILES strings (RDKit canonical SMILES, compared as
strings after canonicalising ours); internal diversity (IntDiv1), SNN, Frag and Scaf follow MOSES exactly
(:mod:`superdiff.molecules.similarity`, checked against its reference implementation), over the valid molecules.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import numpy as np
import pandas as pd

from superdiff.molecules import conditions, data
from superdiff.molecules.properties import PROPERTY_COLUMNS
from superdiff.molecules.similarity import internal_diversity, reference_similarity

#: condition -> (column holding its score in [0, 1], threshold meaning "satisfied").
CONDITION_SCORE = {"gsk3b": ("p_gsk3b", conditions.ACTIVITY_THRESHOLD),
                   "jak2": ("p_jak2", conditions.ACTIVITY_THRESHOLD),
                   "druglike": ("qed", conditions.QED_THRESHOLD)}


@cache
def moses_train_set() -> frozenset[str]:
    return frozenset(data.load_moses("train"))


def fcd(smiles: Sequence[str], reference: Sequence[str], device: str = "cpu") -> float:
    """Fréchet ChemNet Distance (``fcd-torch``, weights shipped in the wheel) between two SMILES sets."""
    from fcd_torch import FCD

    if len(smiles) < 2:
        return float("nan")
    return float(FCD(device=device, n_jobs=1)(list(smiles), list(reference)))


def distribution(values: np.ndarray) -> dict:
    v = values[np.isfinite(values)]
    if len(v) == 0:
        return {"n": 0}
    q = np.quantile(v, [0.05, 0.25, 0.5, 0.75, 0.95])
    return {"n": len(v), "mean": float(v.mean()), "std": float(v.std()), "q05": float(q[0]),
            "q25": float(q[1]), "median": float(q[2]), "q75": float(q[3]), "q95": float(q[4])}


def generation_metrics(frame: pd.DataFrame, *, with_novelty: bool = True, fcd_reference: int = 0,
                       seed: int = 0) -> dict:
    """Metrics of one scored sample table (columns: valid, canonical, properties, p_<target>)."""
    n = len(frame)
    valid = frame[frame["valid"].astype(bool)]
    unique = sorted(set(valid["canonical"]))
    out = {"n": n, "validity": len(valid) / n if n else float("nan"),
           "uniqueness": len(unique) / len(valid) if len(valid) else float("nan"),
           "unique_fraction_of_all": len(unique) / n if n else float("nan"),
           "internal_diversity": internal_diversity(list(valid["canonical"]))}
    if with_novelty:
        train = moses_train_set()
        out["novelty"] = float(np.mean([s not in train for s in unique])) if unique else float("nan")
    if fcd_reference > 0:
        reference = data.load_moses("test", n=fcd_reference, seed=seed)
        out["fcd_vs_moses_test"] = fcd(list(valid["canonical"]), reference)
        out.update({f"{k}_vs_moses_test": v for k, v in reference_similarity(list(valid["canonical"]),
                                                                              reference).items()})
        out["fcd_reference_size"] = fcd_reference
    cols = [c for c in (*PROPERTY_COLUMNS, *[c for c in frame.columns if c.startswith("p_")]) if c in frame]
    out["properties"] = {c: distribution(valid[c].to_numpy(dtype=float)) for c in cols}
    return out


def composition_table(frame: pd.DataFrame, conds: Sequence[str]) -> dict:
    """The paper's table for two (or more) conditions: mean score per condition, fraction satisfying all,
    mean product and mean minimum of the scores (invalid molecules score 0)."""
    scores, satisfied = {}, []
    for c in conds:
        if c not in CONDITION_SCORE:
            raise ValueError(f"unknown condition {c!r}; expected one of {sorted(CONDITION_SCORE)}")
        column, threshold = CONDITION_SCORE[c]
        if column not in frame:
            raise ValueError(f"sample table has no column {column!r} needed for condition {c!r}")
        v = np.nan_to_num(frame[column].to_numpy(dtype=float), nan=0.0)
        scores[c] = v
        satisfied.append(v >= threshold)
    stacked = np.stack(list(scores.values()), axis=1)
    return {**{f"mean_{column_of(c)}": float(v.mean()) for c, v in scores.items()},
            "fraction_satisfying_all": float(np.all(satisfied, axis=0).mean()),
            "mean_product": float(np.prod(stacked, axis=1).mean()),
            "mean_min": float(stacked.min(axis=1).mean())}


def column_of(condition: str) -> str:
    return CONDITION_SCORE[condition][0]
