"""Independent oracles: scaffold halves disjoint from the conditioning predictor's, verified loading, held-out
ranking, the score summary's fields, and the training path that records them."""

import json
import shutil

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from superdiff.molecules import data, oracles
from superdiff.molecules.predictors import TrainingSet, training_set
from superdiff.molecules.weights import default_weights_dir, read_manifest


@pytest.fixture(scope="module")
def gsk3b_halves() -> tuple[TrainingSet, TrainingSet]:
    return oracles.split_training_sets("gsk3b")


def test_scaffold_halves_keep_each_scaffold_in_one_half_and_balance_labels():
    benzene = ["c1ccccc1C", "c1ccccc1CC", "c1ccccc1O", "c1ccccc1N"]
    pyridine = ["c1ccncc1C", "c1ccncc1CC", "c1ccncc1O", "c1ccncc1N"]
    others = ["C1CCCCC1C", "C1CCCCC1O", "C1CCNCC1", "C1CCOCC1"]
    smiles = benzene + pyridine + others
    label = np.array([1, 1, 0, 0, 1, 1, 0, 0, 1, 0, 1, 0])
    ts = TrainingSet(smiles, label, np.ones(len(smiles), bool))
    in_a = oracles.scaffold_halves(ts, seed=0)
    keys = [oracles.scaffold_key(s) for s in smiles]
    for key in set(keys):
        assert len({bool(in_a[i]) for i, k in enumerate(keys) if k == key}) == 1, key
    assert label[in_a].sum() == label[~in_a].sum()
    assert in_a.sum() == (~in_a).sum()
    # stereoisomers share a scaffold, so they can never straddle the split
    assert oracles.scaffold_key("C[C@H]1CC[C@@H](c2ccccc2)CC1") == oracles.scaffold_key("CC1CCC(c2ccccc2)CC1")


def test_oracle_set_shares_no_molecule_or_scaffold_with_half_a(gsk3b_halves):
    half_a, oracle = gsk3b_halves
    assert not set(half_a.smiles) & set(oracle.smiles)
    scaffolds_a = {oracles.scaffold_key(s) for s, m in zip(half_a.smiles, half_a.measured, strict=True) if m}
    scaffolds_b = {oracles.scaffold_key(s) for s, m in zip(oracle.smiles, oracle.measured, strict=True) if m}
    assert not scaffolds_a & scaffolds_b
    # the oracle's decoys are not the committed predictor's either: only its measured half is shared
    committed = set(training_set("gsk3b").smiles)
    assert len(set(oracle.smiles) & committed) == int(oracle.measured.sum())


def test_committed_oracles_match_the_split_and_record_zero_overlap(gsk3b_halves):
    artefacts = read_manifest(default_weights_dir())["artefacts"]
    half_a, oracle = gsk3b_halves
    for name, ts in ((oracles.oracle_name("gsk3b"), oracle), (oracles.half_a_name("gsk3b"), half_a)):
        metrics = artefacts[name]["metrics"]
        assert metrics["n_active"] == int(ts.label.sum())
        assert metrics["n_inactive_measured"] == int((ts.measured & (ts.label == 0)).sum())
        assert metrics["n_decoys"] == int((~ts.measured).sum())
        assert artefacts[name]["command"] == "superdiff train-oracles --seed 0"
    for target in data.TARGETS:
        for name in (oracles.oracle_name(target), oracles.half_a_name(target)):
            metrics = artefacts[name]["metrics"]
            assert metrics["overlap_with_other_half"] == 0
            assert metrics["held_out_roc_auc_measured_only"] > 0.7


def test_oracle_ranks_the_predictors_half_above_its_inactives(gsk3b_halves):
    """Half A is held out from the oracle: its measured actives must outrank its measured inactives."""
    half_a, _ = gsk3b_halves
    measured = [s for s, m in zip(half_a.smiles, half_a.measured, strict=True) if m]
    frame = oracles.OracleScorer(targets=("gsk3b",)).score_smiles(measured)
    auc = roc_auc_score(half_a.label[half_a.measured], frame["oracle_p_gsk3b"])
    assert auc > 0.7


def test_oracle_loading_verifies_sha256(tmp_path):
    src = default_weights_dir()
    manifest = read_manifest(src)
    names = [oracles.oracle_name(t) for t in data.TARGETS]
    kept = {"artefacts": {n: manifest["artefacts"][n] for n in names}}
    (tmp_path / "manifest.json").write_text(json.dumps(kept))
    for n in names:
        shutil.copy(src / f"{n}.npz", tmp_path / f"{n}.npz")
    assert set(oracles.OracleScorer(tmp_path).forests) == set(data.TARGETS)
    with open(tmp_path / "oracle_gsk3b.npz", "ab") as fh:
        fh.write(b"\0")
    with pytest.raises(ValueError, match="sha256"):
        oracles.OracleScorer(tmp_path)
    (tmp_path / "oracle_jak2.npz").unlink()
    with pytest.raises(FileNotFoundError):
        oracles.OracleScorer(tmp_path, targets=("jak2",))


def test_summary_fields_and_invalid_molecules_score_zero():
    scorer = oracles.OracleScorer()
    smiles = ["CCO", "not_a_smiles", "c1ccc2[nH]c(-c3ccncc3)cc2c1", "CC(=O)Oc1ccccc1C(=O)O"]
    frame = scorer.score_smiles(smiles)
    assert frame["valid"].tolist() == [True, False, True, True]
    assert frame.loc[1, ["qed", "oracle_p_gsk3b", "oracle_p_jak2"]].isna().all()
    summary = scorer.summary(smiles)
    expected = {"n", "n_valid", "mean_qed", "mean_min_oracle_p_gsk3b_jak2"}
    for t in data.TARGETS:
        expected |= {f"mean_oracle_p_{t}", f"fraction_oracle_active_{t}", f"mean_oracle_p_{t}_x_qed"}
    assert set(summary) == expected
    assert summary["n"] == 4 and summary["n_valid"] == 3
    valid = frame[frame.valid]
    assert summary["mean_oracle_p_gsk3b"] == pytest.approx(valid["oracle_p_gsk3b"].sum() / 4)
    assert summary["mean_qed"] == pytest.approx(valid["qed"].sum() / 4)
    assert summary["mean_min_oracle_p_gsk3b_jak2"] <= min(summary["mean_oracle_p_gsk3b"],
                                                          summary["mean_oracle_p_jak2"])
    single = oracles.oracle_summary(frame, ("gsk3b",))
    assert not any(k.startswith("mean_min") for k in single)


@pytest.mark.slow  # trains both oracle halves, ~3.5 s
def test_train_oracles_records_both_halves(tmp_path):
    results = oracles.train_oracles(tmp_path, targets=("gsk3b",), n_estimators=5, progress=False)
    manifest = read_manifest(tmp_path)["artefacts"]
    assert set(manifest) == {"oracle_gsk3b", "predictor_gsk3b_half_a"}
    for name, entry in manifest.items():
        assert entry["command"].startswith("superdiff train-oracles --seed 0 --trees 5 --out ")
        assert entry["metrics"]["overlap_with_other_half"] == 0
        assert (tmp_path / f"{name}.npz").exists()
    assert results["gsk3b"]["oracle_gsk3b"]["n_active"] > 100


def test_molecule_metrics_reports_the_oracles_table_beside_the_predictors(tmp_path):
    import pandas as pd

    from superdiff.cli import main
    from superdiff.molecules.predictors import PropertyPredictor

    smiles = [*data.load_moses("test", n=30, seed=4), "not_a_smiles"]
    table = tmp_path / "run" / "molecules.parquet"
    table.parent.mkdir()
    PropertyPredictor().score_smiles(smiles, largest_fragment=False).to_parquet(table)
    out = tmp_path / "metrics.json"
    assert main(["molecule-metrics", "--samples", str(table), "--condition", "gsk3b", "--condition", "druglike",
                 "--fcd-reference", "0", "--no-novelty", "--oracles", "--out", str(out)]) == 0
    run = next(iter(json.loads(out.read_text())["runs"].values()))
    assert set(run["oracle"]["table"]) == set(run["composition"])
    assert run["oracle"]["table"]["mean_qed"] == pytest.approx(run["composition"]["mean_qed"])
    assert run["oracle"]["table"]["mean_p_gsk3b"] != run["composition"]["mean_p_gsk3b"]
    assert run["oracle"]["summary"]["n"] == 31 and run["oracle"]["summary"]["n_valid"] == 30
    assert "oracle_mean_product" in pd.read_parquet(out.with_suffix(".parquet")).columns
