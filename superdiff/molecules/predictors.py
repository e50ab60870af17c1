"""Activity classifiers (GSK3β = ChEMBL262, JAK2 = ChEMBL2971) trained by the project, plus computed properties.

Labels (documented in docs/molecules.md):
- active: MoleculeACE Ki <= 100 nM (pKi >= 7);
- inactive: the target's own measurements with Ki >= 1 µM (pKi <= 6) plus MOSES decoys (random MOSES train
  molecules, ``decoy_ratio`` per active; MOSES is ZINC "clean leads", assumed inactive). 6 < pKi < 7 is dropped.
Model: ECFP4 (2048 bits) random forest, stored as arrays (``forest.ArrayForest``) with sha256 in the manifest.
Cross-validated ROC-AUC is reported twice: on all rows, and on measured ChEMBL rows only (actives vs measured
inactives, no decoys), the harder and more honest figure.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from rdkit import Chem

from superdiff.molecules import data
from superdiff.molecules.featurize import N_BITS, RADIUS, mols_from_smiles, morgan_matrix
from superdiff.molecules.forest import ArrayForest
from superdiff.molecules.properties import PROPERTY_COLUMNS, properties
from superdiff.molecules.weights import default_weights_dir, record_artefact, verified_file

ACTIVE_PKI = 7.0
INACTIVE_PKI = 6.0


@dataclass(frozen=True)
class TrainingSet:
    smiles: list[str]
    label: np.ndarray  # [N] int64 (1 active)
    measured: np.ndarray  # [N] bool, False for MOSES decoys


def measured_set(target: str) -> TrainingSet:
    """The target's measured rows only: actives (pKi >= 7) and measured inactives (pKi <= 6), canonical SMILES;
    invalid SMILES are skipped."""
    frame = data.load_activity(target)
    frame = frame[(frame.pki >= ACTIVE_PKI) | (frame.pki <= INACTIVE_PKI)]
    report = data.canonicalize(frame.smiles.tolist())
    labels = (frame.pki.to_numpy()[report.kept_index] >= ACTIVE_PKI).astype(np.int64)
    return TrainingSet(report.canonical, labels, np.ones(len(labels), bool))


def with_decoys(measured: TrainingSet, decoy_ratio: float = 3.0, seed: int = 0,
                exclude: frozenset[str] = frozenset()) -> TrainingSet:
    """``measured`` plus ``decoy_ratio`` MOSES decoys per active: random MOSES train molecules (sample ``seed``)
    that are neither in ``measured`` nor in ``exclude`` (canonical SMILES)."""
    n_decoys = round(float(decoy_ratio * measured.label.sum()))
    known = set(measured.smiles) | exclude
    pool = data.load_moses("train", n=n_decoys + 100 + len(exclude), seed=seed)
    decoys = [s for s in data.canonicalize(pool).canonical if s not in known][:n_decoys]
    if len(decoys) < n_decoys:
        raise ValueError(f"only {len(decoys)} of {n_decoys} MOSES decoys left after exclusions")
    return TrainingSet(measured.smiles + decoys,
                       np.concatenate([measured.label, np.zeros(len(decoys), np.int64)]),
                       np.concatenate([measured.measured, np.zeros(len(decoys), bool)]))


def training_set(target: str, decoy_ratio: float = 3.0, seed: int = 0) -> TrainingSet:
    """Actives, measured inactives and MOSES decoys for ``target``; invalid SMILES are skipped."""
    return with_decoys(measured_set(target), decoy_ratio=decoy_ratio, seed=seed)


def _forest(seed: int, n_estimators: int):
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(n_estimators=n_estimators, max_features="sqrt", min_samples_leaf=1,
                                  class_weight="balanced", n_jobs=1, random_state=seed)


def fit_activity_model(ts: TrainingSet, folds: int = 5, n_estimators: int = 200,
                       seed: int = 0) -> tuple[ArrayForest, dict]:
    """Fit the forest on all of ``ts`` and report ``folds``-fold cross-validated ROC-AUC (all rows, measured only)."""
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    x = morgan_matrix(mols_from_smiles(ts.smiles))
    oof = np.zeros(len(ts.label))
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(x, ts.label):
        oof[test] = _forest(seed, n_estimators).fit(x[train], ts.label[train]).predict_proba(x[test])[:, 1]
    forest = _forest(seed, n_estimators).fit(x, ts.label)
    metrics = {
        "cv_folds": folds,
        "cv_roc_auc_all": float(roc_auc_score(ts.label, oof)),
        "cv_roc_auc_measured_only": float(roc_auc_score(ts.label[ts.measured], oof[ts.measured])),
        "n_active": int(ts.label.sum()),
        "n_inactive_measured": int((ts.measured & (ts.label == 0)).sum()),
        "n_decoys": int((~ts.measured).sum()),
    }
    return ArrayForest.from_sklearn(forest), metrics


def train_activity_model(target: str, folds: int = 5, n_estimators: int = 200, decoy_ratio: float = 3.0,
                         seed: int = 0) -> tuple[ArrayForest, dict]:
    """Fit the forest on the target's whole training set and report cross-validated ROC-AUC."""
    return fit_activity_model(training_set(target, decoy_ratio=decoy_ratio, seed=seed), folds=folds,
                              n_estimators=n_estimators, seed=seed)


def train_predictors(out_dir: Path | None = None, targets: tuple[str, ...] = tuple(data.TARGETS),
                     seed: int = 0, n_estimators: int = 200, progress: bool = True) -> dict[str, dict]:
    """Train every activity model, save ``predictor_<target>.npz`` and record it in the manifest."""
    out_dir = Path(out_dir or default_weights_dir())
    out_dir.mkdir(parents=True, exist_ok=True)
    results = {}
    for target in targets:
        forest, metrics = train_activity_model(target, seed=seed, n_estimators=n_estimators)
        file = f"predictor_{target}.npz"
        forest.save(out_dir / file)
        config = {"target": target, "chembl": data.TARGETS[target], "active": f"pKi >= {ACTIVE_PKI}",
                  "inactive": f"pKi <= {INACTIVE_PKI} plus MOSES decoys (3 per active)",
                  "features": f"Morgan radius {RADIUS}, {N_BITS} bits", "model": "RandomForest",
                  "n_estimators": n_estimators, "seed": seed}
        record_artefact(out_dir, f"predictor_{target}", [file], config, f"superdiff train-predictors --seed {seed}",
                        metrics)
        results[target] = metrics
        if progress:
            print(f"{target}: {metrics}")
    return results


def forest_activity(forests: dict[str, ArrayForest], mols: list[Chem.Mol | None],
                    prefix: str) -> dict[str, np.ndarray]:
    """``{prefix}<target>``: each forest's P(active) per molecule, ``[N]`` float64 (NaN where the molecule is None).
    The ECFP4 bits are computed once for all forests."""
    ok = np.array([m is not None for m in mols], dtype=bool)
    fps = morgan_matrix([m for m in mols if m is not None]) if ok.any() else None
    out = {}
    for target, forest in forests.items():
        p = np.full(len(mols), np.nan)
        if fps is not None:
            p[ok] = forest.predict_proba(fps)
        out[f"{prefix}{target}"] = p
    return out


class PropertyPredictor:
    """Activity probabilities (from the stored forests) and computed properties for SMILES lists."""

    def __init__(self, weights_dir: Path | None = None, targets: tuple[str, ...] = tuple(data.TARGETS),
                 artefact: str = "predictor_{}"):
        """``artefact``: the forests' artefact names, ``{}`` standing for the target (``"predictor_{}_half_a"``:
        the half-A predictors, disjoint from the oracles)."""
        folder = Path(weights_dir or default_weights_dir())
        self.forests = {t: ArrayForest.load(verified_file(folder, artefact.format(t), f"{artefact.format(t)}.npz"))
                        for t in targets}

    def activity(self, mols: list[Chem.Mol | None]) -> dict[str, np.ndarray]:
        """``p_<target>`` per molecule, ``[N]`` (NaN where the molecule is None)."""
        return forest_activity(self.forests, mols, prefix="p_")

    def score_smiles(self, smiles: list[str], largest_fragment: bool = True) -> pd.DataFrame:
        """One row per input: smiles, valid, canonical, n_fragments, properties, ``p_<target>``; never raises on
        bad SMILES.

        ``largest_fragment``: a SMILES with several fragments (a salt such as ``CCN.Cl``, a mixture) is scored on
        its largest fragment, whose SMILES is ``canonical`` (``n_fragments`` counts them); False scores the whole
        mixture as one molecule (the sampler does: a generated mixture is a defect to see, not to clean up).
        """
        mols = mols_from_smiles(list(smiles))
        counts = [0 if m is None else len(Chem.GetMolFrags(m)) for m in mols]
        if largest_fragment:
            mols = [m if m is None or n <= 1 else data.largest_fragment(m)[0] for m, n in zip(mols, counts,
                                                                                              strict=True)]
        rows = [properties(m) for m in mols]
        frame = pd.DataFrame(rows, columns=list(PROPERTY_COLUMNS))
        frame.insert(0, "n_fragments", counts)
        frame.insert(0, "canonical", [Chem.MolToSmiles(m) if m is not None else None for m in mols])
        frame.insert(0, "valid", [m is not None for m in mols])
        frame.insert(0, "smiles", list(smiles))
        for key, value in self.activity(mols).items():
            frame[key] = value
        return frame
