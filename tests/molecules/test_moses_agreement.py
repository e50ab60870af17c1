"""Our MOSES metrics against the reference implementation shipped in ``molsets``, on the same sets.

``molsets`` 0.3.1 was written for older libraries: it imports ``rdkit.six`` (gone from RDKit) and, at import,
calls ``DataFrame.append`` (gone from pandas 2). The fixture provides both, with the behaviour they had, only
while it imports the reference code, which then runs unchanged.
"""

import sys
import types

import pandas as pd
import pytest

from superdiff.molecules import data, similarity


@pytest.fixture(scope="module")
def moses():
    shim = types.ModuleType("rdkit.six")
    shim.iteritems = lambda d: iter(d.items())
    saved = sys.modules.get("rdkit.six")
    sys.modules["rdkit.six"] = shim
    patch_append = not hasattr(pd.DataFrame, "append")
    if patch_append:
        pd.DataFrame.append = lambda self, other, sort=False: pd.concat([self, other], sort=sort)
    try:
        from moses.metrics import metrics
    finally:
        if patch_append:
            del pd.DataFrame.append
        if saved is None:
            sys.modules.pop("rdkit.six")
    return metrics


@pytest.fixture(scope="module")
def sets():
    """A generated-like set with duplicates and an invalid string, and a reference set (MOSES train/test)."""
    gen = data.load_moses("train", n=300, seed=1)
    gen = gen + gen[:20] + ["C1CC(", "not smiles"]
    return gen, data.load_moses("test", n=400, seed=2)


def _valid(smiles):
    from rdkit import Chem

    return [s for s in smiles if Chem.MolFromSmiles(s) is not None]


def test_internal_diversity_agrees_with_moses(moses, sets):
    gen = _valid(sets[0])
    # MOSES sums the similarities in float32: agreement to ~1e-8
    assert similarity.internal_diversity(sets[0]) == pytest.approx(moses.internal_diversity(gen), abs=1e-6)


@pytest.mark.parametrize(("ours", "theirs"), [("nearest_neighbour_similarity", "SNNMetric"),
                                               ("fragment_similarity", "FragMetric"),
                                               ("scaffold_similarity", "ScafMetric")])
def test_reference_similarity_agrees_with_moses(moses, sets, ours, theirs):
    gen, ref = sets
    expected = getattr(moses, theirs)(n_jobs=1)(gen=_valid(gen), ref=ref)
    assert getattr(similarity, ours)(gen, ref) == pytest.approx(expected, abs=1e-9)


def test_the_metrics_separate_near_from_far_sets(sets):
    """The numbers mean something: a set against itself scores 1, a set of alkanes scores low."""
    ref = sets[1]
    same = similarity.reference_similarity(ref, ref)
    assert same == pytest.approx({"snn": 1.0, "frag": 1.0, "scaf": 1.0})
    alkanes = ["C" * k for k in range(2, 12)] + ["CC(C)" + "C" * k for k in range(1, 8)]
    far = similarity.reference_similarity(alkanes, ref)
    assert far["snn"] < 0.3 and far["frag"] < 0.1 and far["scaf"] != far["scaf"]  # no ring scaffolds: NaN
    assert similarity.internal_diversity(["CCO", "CCO"]) == pytest.approx(0.0)
