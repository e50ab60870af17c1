import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from superdiff.proteins.evaluation.folding import FoldResult
from superdiff.proteins.evaluation.self_consistency import consistency
from superdiff.proteins.evaluation.superposition import kabsch, superposed_rmsd
from superdiff.proteins.evaluation.tmalign import tm_align, tm_upper_bound
from superdiff.proteins.structure import read_backbone

from .conftest import PDB_2GTL


@pytest.fixture(scope="module")
def ca():
    return read_backbone(PDB_2GTL, "A").ca.astype(np.float64)


def perturbation_with_rmsd(ca: np.ndarray, rmsd: float, seed: int = 0) -> np.ndarray:
    """Noise [L, 3] with RMS ``rmsd`` that no rigid motion can reduce.

    Each column is orthogonal to the constant vector and to the centred coordinates, so the cross-covariance
    stays X^T X (symmetric positive definite): the optimal superposition is the identity.
    """
    rng = np.random.default_rng(seed)
    centred = ca - ca.mean(0)
    basis, _ = np.linalg.qr(np.column_stack([np.ones(len(ca)), centred]))
    noise = rng.normal(size=ca.shape)
    noise -= basis @ (basis.T @ noise)
    return noise * rmsd / np.sqrt(np.mean(np.sum(noise**2, axis=1)))


def test_self_gives_zero_rmsd_and_tm_one(ca):
    assert superposed_rmsd(ca, ca) == pytest.approx(0.0, abs=1e-6)
    assert tm_align(ca, ca).tm_1 == pytest.approx(1.0, abs=1e-6)


def test_rigidly_moved_copy_gives_zero(ca):
    rotation = Rotation.from_euler("xyz", [40, -75, 130], degrees=True).as_matrix()
    moved = ca @ rotation.T + np.array([10.0, -35.0, 3.0])
    assert superposed_rmsd(moved, ca) == pytest.approx(0.0, abs=1e-5)
    r, t = kabsch(moved, ca)
    np.testing.assert_allclose(moved @ r.T + t, ca, atol=1e-5)
    result = FoldResult("x", "A" * len(ca), "", moved.astype(np.float32), np.full(len(ca), 80.0))
    score = consistency(ca, result)
    assert score.sc_rmsd == pytest.approx(0.0, abs=1e-3)
    assert score.sc_tm == pytest.approx(1.0, abs=1e-4)
    assert score.plddt == pytest.approx(80.0)


@pytest.mark.parametrize("target", [0.5, 1.5, 3.0])
def test_perturbed_copy_gives_the_rmsd_put_in(ca, target):
    perturbed = ca + perturbation_with_rmsd(ca, target)
    rotation = Rotation.from_euler("zyx", [15, 60, -20], degrees=True).as_matrix()
    assert superposed_rmsd(perturbed @ rotation.T + 5.0, ca) == pytest.approx(target, rel=1e-6)
    assert tm_align(perturbed, ca).tm_1 < 1.0


def test_mirror_image_is_not_superposable(ca):
    mirrored = ca * np.array([-1.0, 1.0, 1.0])
    assert superposed_rmsd(mirrored, ca) > 1.0


def test_tm_upper_bound_holds_on_real_pairs():
    a = read_backbone(PDB_2GTL, "A")
    m = read_backbone(PDB_2GTL, "M")
    r = tm_align(m.ca, a.ca)
    assert r.tm_1 <= tm_upper_bound(len(m), len(a)) + 1e-9
    assert r.tm_2 <= tm_upper_bound(len(a), len(m)) + 1e-9


def test_bad_shapes_are_rejected(ca):
    with pytest.raises(ValueError, match=r"\[L, 3\]"):
        superposed_rmsd(ca, ca[:10])
