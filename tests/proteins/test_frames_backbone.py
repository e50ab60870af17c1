"""Residue frames from N, CA, C and full backbones back: round trip on ideal chains, rigid-motion equivariance."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from superdiff.engine import so3
from superdiff.proteins import ideal
from superdiff.proteins.frames_backbone import atoms_from_frames, dihedral, frames_from_atoms, ideal_local_atoms


@pytest.mark.parametrize("kind", ["helix", "strand"])
def test_round_trip_reproduces_all_four_atoms(kind):
    chain = ideal.ideal_chain(kind, 20)
    trans, rots = frames_from_atoms(chain)
    back = atoms_from_frames(trans, rots)
    assert back.shape == (20, 4, 3)
    assert np.abs(back - chain).max() < 0.05


def test_round_trip_with_irregular_dihedrals():
    """Exact for every atom when the last ψ continues the one before (the documented rule for the last O)."""
    rng = np.random.default_rng(0)
    psi = rng.uniform(-180, 180, 15)
    psi[-1] = psi[-2]
    chain = ideal.chain_from_dihedrals(rng.uniform(-180, 180, 15), psi)
    np.testing.assert_allclose(atoms_from_frames(*frames_from_atoms(chain)), chain, atol=1e-6)


def test_frames_are_rotations_with_the_documented_axes():
    chain = ideal.ideal_chain("helix", 6)
    trans, rots = frames_from_atoms(chain)
    np.testing.assert_allclose(trans, chain[:, 1])
    np.testing.assert_allclose(rots @ np.swapaxes(rots, -1, -2), np.broadcast_to(np.eye(3), rots.shape), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(rots), 1.0)
    local = np.einsum("lji,lj->li", rots, chain[:, 2] - chain[:, 1])  # C in the local frame: along +x
    np.testing.assert_allclose(local, np.tile([ideal.CA_C, 0, 0], (6, 1)), atol=1e-9)
    np.testing.assert_allclose(ideal_local_atoms().numpy()[2], [ideal.CA_C, 0, 0])


def test_equivariance_under_a_random_rigid_motion():
    gen = torch.Generator().manual_seed(3)
    chain = torch.from_numpy(ideal.ideal_chain("strand", 9))
    rot = so3.uniform_rotations((1,), gen)[0]
    shift = torch.randn(3, generator=gen, dtype=torch.float64)
    moved = chain @ rot.T + shift
    trans, rots = frames_from_atoms(chain)
    trans_m, rots_m = frames_from_atoms(moved)
    torch.testing.assert_close(trans_m, trans @ rot.T + shift)
    torch.testing.assert_close(rots_m, rot @ rots)
    # rebuilding commutes with the motion, O included
    random_frames = (torch.randn(7, 3, generator=gen, dtype=torch.float64) * 3,
                     so3.uniform_rotations((7,), gen))
    atoms = atoms_from_frames(*random_frames)
    atoms_m = atoms_from_frames(random_frames[0] @ rot.T + shift, rot @ random_frames[1])
    torch.testing.assert_close(atoms_m, atoms @ rot.T + shift)


def test_dihedral_sign_is_iupac():
    chain = torch.from_numpy(ideal.ideal_chain("helix", 3))
    psi = dihedral(chain[0, 0], chain[0, 1], chain[0, 2], chain[1, 0])
    assert float(torch.rad2deg(psi)) == pytest.approx(ideal.HELIX_PHI_PSI[1], abs=1e-6)


def test_last_residue_oxygen_continues_the_previous_psi_and_bonds_are_ideal():
    chain = ideal.ideal_chain("helix", 5)
    atoms = atoms_from_frames(*frames_from_atoms(chain))
    np.testing.assert_allclose(np.linalg.norm(atoms[:, 3] - atoms[:, 2], axis=-1), ideal.C_O, atol=1e-9)
    single = atoms_from_frames(*frames_from_atoms(chain[:1]))
    assert single.shape == (1, 4, 3) and np.isfinite(single).all()
