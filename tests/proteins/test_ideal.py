"""Ideal backbones built from dihedrals reproduce the geometry they were built from (closed forms)."""

import numpy as np
import pytest

from superdiff.proteins import ideal


def _dihedral(p0, p1, p2, p3) -> float:
    b1 = (p2 - p1) / np.linalg.norm(p2 - p1)
    v = (p0 - p1) - ((p0 - p1) @ b1) * b1
    w = (p3 - p2) - ((p3 - p2) @ b1) * b1
    return float(np.degrees(np.arctan2(np.cross(b1, v) @ w, v @ w)))


@pytest.mark.parametrize("kind", ["helix", "strand"])
def test_bonds_and_dihedrals_are_ideal(kind):
    atoms = ideal.ideal_chain(kind, 12)
    n, ca, c, o = (atoms[:, k] for k in range(4))
    assert np.allclose(np.linalg.norm(ca - n, axis=1), ideal.N_CA)
    assert np.allclose(np.linalg.norm(c - ca, axis=1), ideal.CA_C)
    assert np.allclose(np.linalg.norm(n[1:] - c[:-1], axis=1), ideal.C_N)
    assert np.allclose(np.linalg.norm(o - c, axis=1), ideal.C_O)
    assert np.allclose(np.linalg.norm(np.diff(ca, axis=0), axis=1), ideal.CA_CA, atol=0.01)
    phi, psi = ideal.HELIX_PHI_PSI if kind == "helix" else ideal.STRAND_PHI_PSI
    assert _dihedral(c[4], n[5], ca[5], c[5]) == pytest.approx(phi)
    assert _dihedral(n[5], ca[5], c[5], n[6]) == pytest.approx(psi)
    assert abs(_dihedral(ca[5], c[5], n[6], ca[6])) == pytest.approx(180.0)


def test_helix_rise_per_residue_is_one_and_a_half_angstrom():
    ca = ideal.ideal_chain("helix", 37)[:, 1]
    assert np.linalg.norm(ca[-1] - ca[0]) / 36 == pytest.approx(1.5, abs=0.1)


def test_mismatched_dihedrals_are_refused():
    with pytest.raises(ValueError, match="phi and psi"):
        ideal.chain_from_dihedrals([0.0, 0.0], [0.0])
