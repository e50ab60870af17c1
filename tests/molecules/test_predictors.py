"""Activity forests stored as arrays, computed properties, and bad-input handling."""

import numpy as np
import pandas as pd
import pytest
from rdkit import Chem

from superdiff.molecules import data
from superdiff.molecules.forest import ArrayForest
from superdiff.molecules.predictors import PropertyPredictor
from superdiff.molecules.properties import properties
from superdiff.molecules.weights import read_manifest, record_artefact, verified_file


def test_array_forest_matches_sklearn(tmp_path):
    from sklearn.ensemble import RandomForestClassifier

    rng = np.random.default_rng(0)
    x = rng.integers(0, 2, size=(300, 64)).astype(np.uint8)
    y = (x[:, 0] ^ x[:, 5] | x[:, 9]).astype(int)
    forest = RandomForestClassifier(n_estimators=15, random_state=0).fit(x, y)
    arrays = ArrayForest.from_sklearn(forest)
    arrays.save(tmp_path / "f.npz")
    loaded = ArrayForest.load(tmp_path / "f.npz")
    x_test = rng.integers(0, 2, size=(100, 64)).astype(np.uint8)
    np.testing.assert_allclose(loaded.predict_proba(x_test), forest.predict_proba(x_test)[:, 1], atol=1e-6)
    with pytest.raises(ValueError, match="shape"):
        loaded.predict_proba(x_test[:, :10])


def test_manifest_checksum_refuses_tampered_file(tmp_path):
    (tmp_path / "a.bin").write_bytes(b"hello")
    record_artefact(tmp_path, "thing", ["a.bin"], {"k": 1}, "make thing")
    assert verified_file(tmp_path, "thing", "a.bin").exists()
    (tmp_path / "a.bin").write_bytes(b"evil")
    with pytest.raises(ValueError, match="sha256"):
        verified_file(tmp_path, "thing", "a.bin")
    with pytest.raises(FileNotFoundError, match="nothing"):
        verified_file(tmp_path, "nothing", "a.bin")


def test_stored_predictors_rank_actives_above_moses():
    """The committed forests: CV AUC recorded, and known potent actives score above random MOSES molecules."""
    manifest = read_manifest(PropertyPredictor.__init__.__globals__["default_weights_dir"]())
    predictor = PropertyPredictor()
    for target in data.TARGETS:
        metrics = manifest["artefacts"][f"predictor_{target}"]["metrics"]
        assert metrics["cv_roc_auc_measured_only"] > 0.8
        act = data.load_activity(target)
        potent = act[act.pki >= 8].smiles.tolist()[:40]
        moses = data.load_moses("test", n=40, seed=3)
        p_act = predictor.score_smiles(potent)[f"p_{target}"].mean()
        p_moses = predictor.score_smiles(moses)[f"p_{target}"].mean()
        assert p_act > 0.6 > 0.3 > p_moses


def test_invalid_smiles_are_counted_not_fatal(tmp_path):
    predictor = PropertyPredictor()
    frame = predictor.score_smiles(["CCO", "not_a_smiles", "", "c1ccccc1O", "C1CC"])
    assert frame["valid"].tolist() == [True, False, False, True, False]
    assert frame.loc[1, ["qed", "p_gsk3b"]].isna().all()
    assert 0 < frame.loc[0, "qed"] < 1
    path = tmp_path / "in.csv"
    pd.DataFrame({"SMILES": ["CCO", "xx(", None]}).to_csv(path, index=False)
    raw, report = data.read_smiles_file(path)
    assert len(raw) == 3
    assert report.n_input == 3 and report.n_invalid == 2 and report.canonical == ["CCO"]
    with pytest.raises(ValueError, match="column"):
        data.read_smiles_file(path, column="nope")


def test_properties_of_aspirin():
    p = properties(Chem.MolFromSmiles("CC(=O)Oc1ccccc1C(=O)O"))
    assert abs(p["mw"] - 180.16) < 0.05
    assert abs(p["tpsa"] - 63.6) < 0.1
    assert 1.0 < p["sa"] < 3.0
    assert p["lipinski_violations"] == 0
    assert 0.5 < p["qed"] < 0.6


def test_unknown_target_and_split():
    with pytest.raises(ValueError, match="unknown target"):
        data.load_activity("egfr")
    with pytest.raises(ValueError, match="split"):
        data.moses_path("valid")
