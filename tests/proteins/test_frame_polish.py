"""The frame experts' junction polish (:mod:`superdiff.proteins.frame_polish`) with its built-in settings: it closes
stretched junctions (the chain breaks of sampled designs), clears shallow clashes to the benchmark's rule with its
hydrogen-bond exemption, keeps bonds ideal and keeps the hydrogen bonds DSSP found before it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from superdiff.proteins import ideal
from superdiff.proteins.backbone_set import dssp, load_backbone_set
from superdiff.proteins.frame_polish import (
    PolishSettings,
    clash_energy,
    clash_limits,
    hbond_energy,
    hbond_pair_energy,
    polish_frames,
    unsound,
)
from superdiff.proteins.frames_backbone import atoms_from_frames, frames_from_atoms


def _polish(atoms: np.ndarray, **kwargs) -> np.ndarray:
    trans, rots = frames_from_atoms(torch.from_numpy(np.asarray(atoms, dtype=np.float64))[None])
    return atoms_from_frames(*polish_frames(trans, rots, **kwargs))[0].numpy()


def _ca_steps(atoms: np.ndarray) -> np.ndarray:
    return np.linalg.norm(atoms[1:, 1] - atoms[:-1, 1], axis=-1)


def _hb_exempt_clashes(atoms: np.ndarray) -> int:
    """Pairs closer than the benchmark's rule: 3.0 Å, N–O 2.5 Å, residues more than 3 apart."""
    flat = atoms.reshape(-1, 3)
    dist = np.linalg.norm(flat[:, None] - flat[None], axis=-1)
    return int(np.triu(dist < clash_limits(len(atoms), 3.0, hbond=2.5).numpy()).sum())


def _peptide_ok(atoms: np.ndarray) -> float:
    c_n = np.linalg.norm(atoms[1:, 0] - atoms[:-1, 2], axis=-1)
    return float(np.mean(np.abs(c_n - ideal.C_N) < 0.05))


def test_polish_closes_a_chain_break():
    """A junction stretched by 1.5 Å (Cα–Cα 5.3 Å, a chain break for the evaluation: > 4.2 Å) is closed to
    3.80 ± 0.10 Å: the old polish (300 Adam steps at lr 0.01, bonds weighing 10) left it at 4.25 Å."""
    atoms = ideal.ideal_chain("strand", 30).copy()
    axis = atoms[15, 1] - atoms[14, 1]
    atoms[15:] += 1.5 * axis / np.linalg.norm(axis)  # second half 1.5 Å further along the broken junction
    assert _ca_steps(atoms).max() > 5.2
    out = _polish(atoms)
    steps = _ca_steps(out)
    assert steps.max() < 4.2 and np.all(np.abs(steps - 3.8) < 0.1)
    assert _peptide_ok(out) == 1.0


def _stretched_strand(length: int = 30) -> np.ndarray:
    atoms = ideal.ideal_chain("strand", length).copy()
    axis = atoms[length // 2, 1] - atoms[length // 2 - 1, 1]
    atoms[length // 2:] += 1.5 * axis / np.linalg.norm(axis)
    return atoms


def test_unsound_flags_chain_breaks_peptide_bonds_and_clashes_but_not_hydrogen_bonds():
    """The retry's check: an ideal strand is sound; a stretched junction, a peptide bond 0.1 Å long, or two atoms of
    distant residues 2.8 Å apart are not; real chains with backbone hydrogen bonds (N–O pairs below 3.0 Å) can be."""
    good = ideal.ideal_chain("strand", 30).astype(np.float64)
    long_bond = good.copy()
    long_bond[10:] += 0.1 * (good[10, 0] - good[9, 2]) / np.linalg.norm(good[10, 0] - good[9, 2])
    def moved(i: int, a: int, j: int, b: int, d: float) -> np.ndarray:
        """``good`` with residue j shifted rigidly so its atom b sits d Å from residue i's atom a."""
        out = good.copy()
        u = (good[j, b] - good[i, a]) / np.linalg.norm(good[j, b] - good[i, a])
        out[j] += good[i, a] + d * u - good[j, b]
        return out
    cases = [good, _stretched_strand(), long_bond, moved(5, 1, 20, 2, 2.8)]
    assert unsound(torch.from_numpy(np.stack(cases))).tolist() == [False, True, True, True]
    real = torch.from_numpy(np.stack([c.atoms[:60] for c in load_backbone_set() if len(c) >= 60]).astype(np.float64))
    n_o = torch.cdist(real[:, :, 0], real[:, :, 3])
    far = (torch.arange(60)[:, None] - torch.arange(60)[None]).abs() > 3
    bonded = (n_o < 3.0) & far
    assert bool((bonded.any(-1).any(-1) & ~unsound(real)).any())


@pytest.mark.slow  # ~5 s of polishing; the fast lane keeps the chain-break polish test
def test_retry_repolishes_only_the_unsound_designs():
    """A polish too short to close a stretched junction (20 steps) leaves a chain break; the retry (here 100 × the
    steps) closes it from the input frames, and a sound design in the same batch keeps its first polish bit for
    bit."""
    atoms = torch.from_numpy(np.stack([_stretched_strand(), ideal.ideal_chain("strand", 30)]).astype(np.float64))
    trans, rots = frames_from_atoms(atoms)
    once = atoms_from_frames(*polish_frames(trans, rots, 20, PolishSettings(retry_factor=0)))
    twice = atoms_from_frames(*polish_frames(trans, rots, 20, PolishSettings(retry_factor=100)))
    assert unsound(once).tolist() == [True, False]
    assert unsound(twice).tolist() == [False, False]
    assert torch.equal(once[1], twice[1])


def test_the_last_retry_uses_the_conservative_weights():
    """The ladder: the settings as given, twice as long, then twice as long with :data:`CONSERVATIVE` (which holds
    the hydrogen bonds at 0.3, not 30, and softens the bonds) and no further fallback; the rest of the settings
    carry over; ``retry_factor = 0`` is one attempt."""
    from superdiff.proteins.frame_polish import CONSERVATIVE

    p = PolishSettings()
    (first, n1), (again, n2), (last, n3) = p.attempts(100)
    assert (first, n1, again, n2, n3) == (p, 100, p, 200, 200)
    assert {k: getattr(last, k) for k in CONSERVATIVE} == CONSERVATIVE and last.keep_hbonds < p.keep_hbonds
    assert last.fallback == {} and last.bond_weight < p.bond_weight and last.lr == p.lr and last.clash == p.clash
    assert PolishSettings(retry_factor=0).attempts(100) == [(PolishSettings(retry_factor=0), 100)]


@pytest.mark.slow  # ~6 s of polishing on a real chain
def test_polish_clears_shallow_clashes_and_keeps_a_real_chains_structure():
    """A real chain squeezed by 8 % (contacts of 3.2 Å fall to 2.9 Å, bonds stretch at the junctions) comes back
    clash-free under the hydrogen-bond-exempt rule with ideal peptide bonds and its DSSP helix and strand."""
    chain = next(c for c in load_backbone_set() if c.strand > 0.3 and c.helix > 0.1 and len(c) >= 60)
    real = chain.atoms[:60].astype(np.float64)
    squeezed = real.mean((0, 1)) + 0.92 * (real - real.mean((0, 1)))
    assert _hb_exempt_clashes(squeezed) > 0
    out = _polish(squeezed)
    assert _hb_exempt_clashes(out) == 0
    assert _peptide_ok(out) == 1.0
    before, after = dssp(real), dssp(out)
    for state in "HE":
        assert abs(after.count(state) - before.count(state)) <= 3, (before, after)


@pytest.mark.slow  # two 2000-step polishes (~15 s); the fast lane keeps the other polish tests
def test_polish_keeps_the_hydrogen_bonds_dssp_found():
    """The hydrogen bonds DSSP counts in the input survive the polish (the ``keep_hbonds`` term forbids weakening
    them: at most 2 of 19 are lost, to drift at DSSP's −0.5 kcal/mol threshold); without the term the same polish
    loses 5 or more of them (8 when written)."""
    chain = next(c for c in load_backbone_set() if c.strand > 0.3 and len(c) >= 60)
    rng = np.random.default_rng(0)
    noisy = chain.atoms[:60].astype(np.float64) + rng.normal(0, 0.15, (60, 1, 3))  # per-residue shifts
    _, bonded = hbond_energy(torch.from_numpy(noisy)[None])
    assert int(bonded.sum()) >= 15
    _, kept = hbond_energy(torch.from_numpy(_polish(noisy))[None])
    _, unkept = hbond_energy(torch.from_numpy(_polish(noisy, settings=PolishSettings(keep_hbonds=0.0)))[None])
    assert int((bonded & ~kept).sum()) <= 2
    assert int((bonded & ~unkept).sum()) >= 5


def _squeezed_real_chain(length: int = 60) -> torch.Tensor:
    chain = next(c for c in load_backbone_set() if c.strand > 0.3 and len(c) >= length)
    real = torch.from_numpy(chain.atoms[:length].astype(np.float64))
    return (real.mean((0, 1)) + 0.92 * (real - real.mean((0, 1))))[None].repeat(2, 1, 1, 1)


def test_sparse_clash_energy_and_gradient_equal_the_dense_sum_over_all_pairs():
    """The polish differentiates only the pairs inside their limit; value and gradient equal the dense
    ``Σ_{i<j} relu(limit − d)²`` over every atom pair (designs in a batch independent)."""
    atoms = _squeezed_real_chain()
    atoms[1] += 0.05 * torch.randn(atoms[1].shape, generator=torch.Generator().manual_seed(0), dtype=atoms.dtype)
    limits = clash_limits(atoms.shape[1], 3.1, atoms.dtype, 2.6)
    sparse_in, dense_in = atoms.clone().requires_grad_(), atoms.clone().requires_grad_()
    sparse = clash_energy(sparse_in, limits)
    flat = dense_in.flatten(1, 2)
    dense = torch.triu(torch.relu(limits - (flat[:, :, None] - flat[:, None]).norm(dim=-1)), 1).pow(2).sum((1, 2))
    assert float(dense.detach().min()) > 0.1  # the squeezed chains do clash
    torch.testing.assert_close(sparse, dense, rtol=1e-12, atol=1e-12)
    sparse.sum().backward()
    dense.sum().backward()
    torch.testing.assert_close(sparse_in.grad, dense_in.grad, rtol=1e-10, atol=1e-10)


def test_pairwise_hydrogen_bond_energy_equals_pydssp_map_and_its_gradient():
    """DSSP's energy computed per listed pair equals pydssp's dense ``[B, L, L]`` map (the evaluation's
    assignment) at every donor ≥ 1 / acceptor ≤ L − 2 pair, and so do the gradients of the bonded pairs' sum."""
    atoms = _squeezed_real_chain(40)
    dense_in, pair_in = atoms.clone().requires_grad_(), atoms.clone().requires_grad_()
    dense, bonded = hbond_energy(dense_in)
    b, i, j = torch.meshgrid(torch.arange(2), torch.arange(1, 40), torch.arange(0, 39), indexing="ij")
    b, i, j = b.flatten(), i.flatten(), j.flatten()
    far = (i - j).abs() > 2
    pair = hbond_pair_energy(pair_in, b[far], i[far], j[far])
    torch.testing.assert_close(pair, dense[b[far], i[far], j[far]], rtol=1e-10, atol=1e-10)
    bb, bi, bj = bonded.nonzero(as_tuple=True)
    assert len(bb) >= 10
    dense[bb, bi, bj].sum().backward()
    hbond_pair_energy(pair_in, bb, bi, bj).sum().backward()
    torch.testing.assert_close(pair_in.grad, dense_in.grad, rtol=1e-9, atol=1e-9)


def test_neighbour_list_polish_equals_the_exact_search_every_step(monkeypatch):
    """The polish's clash neighbour list (pairs within limit + skin, rebuilt after half a skin of motion) gives the
    same frames, bit for bit, as searching the close pairs anew at every step (skin 0), on a squeezed real chain
    whose contacts move in and out of their limits during the polish."""
    from superdiff.proteins import frame_polish

    chain = next(c for c in load_backbone_set() if c.strand > 0.3 and c.helix > 0.1 and len(c) >= 60)
    real = chain.atoms[:60].astype(np.float64)
    squeezed = real.mean((0, 1)) + 0.88 * (real - real.mean((0, 1)))
    trans, rots = frames_from_atoms(torch.from_numpy(squeezed)[None])
    listed = polish_frames(trans, rots, 300)
    monkeypatch.setattr(frame_polish, "NEIGHBOUR_SKIN", 0.0)
    exact = polish_frames(trans, rots, 300)
    for a, b in zip(listed, exact, strict=True):
        assert torch.equal(a, b)
