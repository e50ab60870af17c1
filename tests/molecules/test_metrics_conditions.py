"""Metric definitions and the condition encoding, on hand-made inputs with known answers."""

import numpy as np
import pandas as pd
import pytest

from superdiff.molecules import conditions
from superdiff.molecules.autoencoder import smiles_to_tokens, tokens_to_smiles
from superdiff.molecules.metrics import composition_table, generation_metrics, internal_diversity


def test_internal_diversity_extremes():
    assert internal_diversity(["CCO", "CCO"]) == pytest.approx(0.0)
    # MOSES counts each molecule's pair with itself: two disjoint fingerprints give 1 − (1 + 1 + 0 + 0) / 4
    assert internal_diversity(["CCO", "c1ccc2ccccc2c1"]) == pytest.approx(0.5)
    assert np.isnan(internal_diversity(["CCO"]))


def test_composition_table_by_hand():
    frame = pd.DataFrame({"p_gsk3b": [0.8, 0.2, np.nan], "qed": [0.7, 0.9, np.nan]})
    table = composition_table(frame, ["gsk3b", "druglike"])
    assert table["mean_p_gsk3b"] == pytest.approx(1.0 / 3)
    assert table["mean_qed"] == pytest.approx(1.6 / 3)
    assert table["fraction_satisfying_all"] == pytest.approx(1 / 3)
    assert table["mean_product"] == pytest.approx((0.56 + 0.18) / 3)
    assert table["mean_min"] == pytest.approx((0.7 + 0.2) / 3)
    with pytest.raises(ValueError, match="unknown condition"):
        composition_table(frame, ["gsk3b", "egfr"])


def test_generation_metrics_validity_uniqueness():
    frame = pd.DataFrame({"smiles": ["CCO", "OCC", "bad", "c1ccccc1"], "valid": [True, True, False, True],
                          "canonical": ["CCO", "CCO", None, "c1ccccc1"], "qed": [0.4, 0.4, np.nan, 0.44]})
    m = generation_metrics(frame, with_novelty=False)
    assert m["validity"] == 0.75
    assert m["uniqueness"] == pytest.approx(2 / 3)
    assert m["properties"]["qed"]["n"] == 3


def test_condition_encoding_and_dropout():
    labels = list(conditions.LABELS)
    vec = conditions.encode(["gsk3b", "druglike"], labels, 2)
    assert vec.shape == (2, 6) and vec[0].tolist() == [1, 1, 0, 0, 1, 1]
    y = np.array([[1, 0, 1]] * 4000)
    c = conditions.training_conditions(y, drop_label=0.3, drop_all=0.15, rng=np.random.default_rng(0))
    mask = c[:, 0::2]
    assert np.all(c[:, 1::2] == mask * y)  # values only where specified
    assert abs((mask.sum(1) == 0).mean() - (0.15 + 0.85 * 0.3**3)) < 0.03
    assert abs(mask[:, 0].mean() - 0.85 * 0.7) < 0.03


def test_selfies_roundtrip():
    tokens = smiles_to_tokens("CC(=O)Oc1ccccc1C(=O)O")
    assert tokens and tokens_to_smiles(tokens)
    assert smiles_to_tokens("not a smiles") is None
