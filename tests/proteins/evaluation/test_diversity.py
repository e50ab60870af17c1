import numpy as np
import pytest

from superdiff.proteins.evaluation.diversity import cluster, diversity_summary, pairwise_tm
from superdiff.proteins.structure import read_backbone

from .conftest import PDB_2GTL


@pytest.fixture(scope="module")
def designs():
    # 2gtl chains A and E are copies of one subunit; M is a different fold.
    return [(read_backbone(PDB_2GTL, c).ca, None) for c in "AEM"]


def test_pairwise_matrix_is_symmetric_with_unit_diagonal(designs):
    matrix = pairwise_tm(designs, workers=1)
    assert matrix.shape == (3, 3)
    np.testing.assert_allclose(matrix, matrix.T)
    np.testing.assert_allclose(np.diag(matrix), 1.0)
    assert matrix[0, 1] > 0.9 and matrix[0, 2] < 0.5
    np.testing.assert_allclose(pairwise_tm(designs, workers=2), matrix)
    assert (pairwise_tm(designs, "max", workers=1) >= pairwise_tm(designs, "min", workers=1)).all()


def test_clusters_follow_the_threshold(designs):
    matrix = pairwise_tm(designs, workers=1)
    labels = cluster(matrix, 0.5)
    assert labels.tolist() == [0, 0, 1]
    assert diversity_summary(matrix, labels)["cluster_fraction"] == pytest.approx(2 / 3)
    assert len(set(cluster(matrix, 1.01).tolist())) == 3
    assert len(set(cluster(matrix, 0.0).tolist())) == 1


def test_single_and_greedy_linkage_differ_on_a_chain():
    chain = np.array([[1.0, 0.6, 0.2], [0.6, 1.0, 0.6], [0.2, 0.6, 1.0]])
    assert cluster(chain, 0.5, "single").tolist() == [0, 0, 0]
    assert cluster(chain, 0.5, "greedy").tolist() == [0, 0, 1]
    with pytest.raises(ValueError, match="linkage"):
        cluster(chain, 0.5, "complete")
