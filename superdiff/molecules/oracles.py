"""Independent activity oracles: forests that only judge generated molecules, never condition or label them.

No registry package ships a second GSK3β or JAK2 activity set, nor any JNK3 set (docs/molecules.md, "Independent
oracles"), so each target's MoleculeACE measurements are split by Bemis–Murcko scaffold into two disjoint halves:

- half A trains ``predictor_<target>_half_a``, a conditioning predictor for a future diffusion model (the committed
  model is conditioned on ``predictor_<target>``, trained on all rows, both halves included);
- half B trains ``oracle_<target>``, the judge.

Scaffolds are computed without stereochemistry, so stereoisomers (and every copy of a canonical SMILES) fall in
the same half. Each half gets its own MOSES decoys (3 per active): half A's from the MOSES sample the committed
predictor uses (``seed``), half B's from another sample (``seed + ORACLE_DECOY_SEED_OFFSET``) with half A's set
and the committed predictor's whole set excluded. Training refuses to save an oracle that shares a canonical
SMILES with half A's predictor.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from rdkit import Chem, DataStructs
from rdkit.Chem.Scaffolds import MurckoScaffold

from superdiff.molecules import data, metrics, predictors
from superdiff.molecules.featurize import mols_from_smiles, morgan_bitvects, morgan_matrix
from superdiff.molecules.forest import ArrayForest
from superdiff.molecules.predictors import TrainingSet
from superdiff.molecules.properties import qed_many
from superdiff.molecules.weights import default_weights_dir, record_artefact, verified_file

ORACLE_DECOY_SEED_OFFSET = 1000
ACTIVE_P = 0.5


def oracle_name(target: str) -> str:
    return f"oracle_{target}"


def half_a_name(target: str) -> str:
    return f"predictor_{target}_half_a"


def scaffold_key(smiles: str) -> str:
    """Bemis–Murcko scaffold SMILES without stereochemistry ("" for acyclic molecules)."""
    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        raise ValueError(f"not a molecule: {smiles!r}")
    return MurckoScaffold.MurckoScaffoldSmiles(mol=mol, includeChirality=False)


def scaffold_halves(ts: TrainingSet, seed: int = 0) -> np.ndarray:
    """``[N]`` bool, True for half A: whole scaffold groups, largest first (random order among equal sizes), each
    put in the half that keeps both the active and the inactive counts closest to even."""
    groups: dict[str, list[int]] = {}
    for i, s in enumerate(ts.smiles):
        groups.setdefault(scaffold_key(s), []).append(i)
    keys = sorted(groups)
    order = np.random.default_rng(seed).permutation(len(keys))
    ranked = sorted((keys[i] for i in order), key=lambda k: -len(groups[k]))  # stable: ties keep the shuffle
    counts = np.zeros((2, 2), dtype=np.int64)  # [half, (active, inactive)]
    in_a = np.zeros(len(ts.smiles), dtype=bool)
    for key in ranked:
        idx = groups[key]
        add = np.array([ts.label[idx].sum(), len(idx) - ts.label[idx].sum()])
        cost = [np.abs(counts[h] + add - counts[1 - h]).sum() for h in (0, 1)]
        half = 0 if cost[0] <= cost[1] else 1
        counts[half] += add
        in_a[idx] = half == 0
    return in_a


def _subset(ts: TrainingSet, keep: np.ndarray) -> TrainingSet:
    return TrainingSet([s for s, k in zip(ts.smiles, keep, strict=True) if k], ts.label[keep], ts.measured[keep])


def split_training_sets(target: str, decoy_ratio: float = 3.0, seed: int = 0) -> tuple[TrainingSet, TrainingSet]:
    """(half A predictor's set, oracle's set), each measured rows of one scaffold half plus its own decoys."""
    measured = predictors.measured_set(target)
    in_a = scaffold_halves(measured, seed=seed)
    half_a = predictors.with_decoys(_subset(measured, in_a), decoy_ratio=decoy_ratio, seed=seed)
    committed = predictors.training_set(target, decoy_ratio=decoy_ratio, seed=seed)
    oracle = predictors.with_decoys(_subset(measured, ~in_a), decoy_ratio=decoy_ratio,
                                    seed=seed + ORACLE_DECOY_SEED_OFFSET,
                                    exclude=frozenset(half_a.smiles) | frozenset(committed.smiles))
    return half_a, oracle


def held_out_auc(forest: ArrayForest, ts: TrainingSet) -> dict[str, float]:
    """ROC-AUC of ``forest`` on a set it was not trained on: measured rows only, and all rows (with decoys)."""
    from sklearn.metrics import roc_auc_score

    p = forest.predict_proba(morgan_matrix(mols_from_smiles(ts.smiles)))
    return {"held_out_roc_auc_measured_only": float(roc_auc_score(ts.label[ts.measured], p[ts.measured])),
            "held_out_roc_auc_all": float(roc_auc_score(ts.label, p))}


def nearest_neighbour_similarity(query: list[str], reference: list[str]) -> np.ndarray:
    """``[len(query)]`` max ECFP4 Tanimoto of each query molecule to the reference set."""
    ref = morgan_bitvects(mols_from_smiles(reference))
    return np.array([max(DataStructs.BulkTanimotoSimilarity(fp, ref))
                     for fp in morgan_bitvects(mols_from_smiles(query))])


def train_oracles(out_dir: Path | None = None, targets: tuple[str, ...] = tuple(data.TARGETS), seed: int = 0,
                  n_estimators: int = 200, progress: bool = True) -> dict[str, dict]:
    """Train, per target, the half-A predictor and the half-B oracle; save both and record them in the manifest."""
    out_dir = Path(out_dir or default_weights_dir())
    out_dir.mkdir(parents=True, exist_ok=True)
    command = f"superdiff train-oracles --seed {seed}" + (f" --trees {n_estimators}" if n_estimators != 200 else "")
    results = {}
    for target in targets:
        half_a, oracle = split_training_sets(target, seed=seed)
        shared = set(half_a.smiles) & set(oracle.smiles)
        if shared:
            raise RuntimeError(f"{target}: oracle and half-A predictor share {len(shared)} molecules")
        committed = set(predictors.training_set(target, seed=seed).smiles)
        nn = nearest_neighbour_similarity([s for s, m in zip(oracle.smiles, oracle.measured, strict=True) if m],
                                          [s for s, m in zip(half_a.smiles, half_a.measured, strict=True) if m])
        forests, metrics = {}, {}
        for name, own, other in ((half_a_name(target), half_a, oracle), (oracle_name(target), oracle, half_a)):
            forests[name], metrics[name] = predictors.fit_activity_model(own, n_estimators=n_estimators, seed=seed)
            metrics[name] |= held_out_auc(forests[name], other)
            metrics[name]["overlap_with_other_half"] = len(set(own.smiles) & set(other.smiles))
            metrics[name]["overlap_with_committed_predictor"] = len(set(own.smiles) & committed)
        metrics[oracle_name(target)] |= {"nn_tanimoto_to_half_a_median": float(np.median(nn)),
                                         "nn_tanimoto_to_half_a_fraction_ge_0.8": float(np.mean(nn >= 0.8))}
        for name, forest in forests.items():
            forest.save(out_dir / f"{name}.npz")
            half = "B (oracle)" if name.startswith("oracle") else "A (conditioning predictor)"
            config = {"target": target, "chembl": data.TARGETS[target], "half": half,
                      "split": "Bemis-Murcko scaffold (no stereo), greedy balance of actives and inactives",
                      "active": "pKi >= 7.0", "inactive": "pKi <= 6.0 plus MOSES decoys (3 per active)",
                      "decoy_seed": seed + (ORACLE_DECOY_SEED_OFFSET if name.startswith("oracle") else 0),
                      "features": "Morgan radius 2, 2048 bits", "model": "RandomForest",
                      "n_estimators": n_estimators, "seed": seed}
            record_artefact(out_dir, name, [f"{name}.npz"], config, command, metrics[name])
            if progress:
                print(f"{name}: {metrics[name]}")
        results[target] = metrics
    return results


class OracleScorer:
    """The oracles' P(active) and QED of SMILES lists, loaded after checking each file's sha256."""

    def __init__(self, weights_dir: Path | None = None, targets: tuple[str, ...] = tuple(data.TARGETS)):
        folder = Path(weights_dir or default_weights_dir())
        self.targets = tuple(targets)
        self.forests = {t: ArrayForest.load(verified_file(folder, oracle_name(t), f"{oracle_name(t)}.npz"))
                        for t in self.targets}

    def score_smiles(self, smiles: list[str]) -> pd.DataFrame:
        """One row per input: smiles, valid, qed, ``oracle_p_<target>`` (NaN where invalid). Mixtures are scored
        whole, as the sampler scores its designs."""
        mols = mols_from_smiles(list(smiles))
        frame = pd.DataFrame({"smiles": list(smiles), "valid": [m is not None for m in mols],
                              "qed": qed_many(mols)})
        for key, value in predictors.forest_activity(self.forests, mols, prefix="oracle_p_").items():
            frame[key] = value
        return frame

    def summary(self, smiles: list[str], targets: Sequence[str] | None = None) -> dict[str, float | int]:
        """:func:`oracle_summary` of ``smiles`` over ``targets`` (default: every loaded oracle)."""
        return oracle_summary(self.score_smiles(smiles), tuple(targets or self.targets))

    def composition(self, smiles: list[str], conds: Sequence[str]) -> dict[str, dict]:
        """The composition table of ``conds`` (:func:`superdiff.molecules.metrics.composition_table`: mean score
        per condition, fraction satisfying all, mean product, mean min) with the oracles' P(active) in place of
        the conditioning predictor's, and :func:`oracle_summary` over the activity conditions among ``conds``."""
        frame = self.score_smiles(smiles)
        as_predictor = frame.rename(columns={f"oracle_p_{t}": f"p_{t}" for t in self.targets})
        activity = tuple(c for c in conds if c in self.forests) or self.targets
        return {"table": metrics.composition_table(as_predictor, conds), "summary": oracle_summary(frame, activity)}


def oracle_summary(frame: pd.DataFrame, targets: tuple[str, ...]) -> dict[str, float | int]:
    """Means over all rows of an :meth:`OracleScorer.score_smiles` table (an invalid molecule scores 0):
    ``mean_oracle_p_<t>``, ``fraction_oracle_active_<t>`` (P >= 0.5), ``mean_qed``, ``mean_oracle_p_<t>_x_qed``
    and, for two or more targets, ``mean_min_oracle_p_<t1>_<t2>...`` (the AND-of-activities score)."""
    qed = np.nan_to_num(frame["qed"].to_numpy(dtype=float), nan=0.0)
    p = {t: np.nan_to_num(frame[f"oracle_p_{t}"].to_numpy(dtype=float), nan=0.0) for t in targets}
    out: dict[str, float | int] = {"n": len(frame), "n_valid": int(frame["valid"].sum()),
                                   "mean_qed": float(qed.mean())}
    for t, v in p.items():
        out[f"mean_oracle_p_{t}"] = float(v.mean())
        out[f"fraction_oracle_active_{t}"] = float((v >= ACTIVE_P).mean())
        out[f"mean_oracle_p_{t}_x_qed"] = float((v * qed).mean())
    if len(p) >= 2:
        out[f"mean_min_oracle_p_{'_'.join(targets)}"] = float(np.stack(list(p.values())).min(axis=0).mean())
    return out
