"""Inference-time idealisation of sampled residue frames (the frame experts' analogue of the Cα experts' polish).

N, CA, C are rigid in each frame (ideal by construction); what a network can get wrong is the junction between
consecutive frames, and close contacts. :func:`polish_frames` moves every frame a little (a translation and a
body-frame rotation per residue, by gradient descent with Adam, learning rate decayed linearly to 0) to minimise,
in Å, cosines and kcal/mol, with the weights of :class:`PolishSettings`:

* ``(|C_i N_{i+1}| − 1.329)²`` (the peptide bond) and the two junction angles CA_i–C_i–N_{i+1} (116.2°) and
  C_i–N_{i+1}–CA_{i+1} (121.7°), as ``(cos θ − cos θ0)²``;
* ``1 + cos ω_i`` (trans peptides, ω = CA_i–C_i–N_{i+1}–CA_{i+1} = 180°);
* ``relu(clash − d)²`` for heavy atoms (N, CA, C, O) of residues more than 3 apart (``clash`` = 3.2 Å, 2.7 Å for
  N–O pairs, which form the backbone's hydrogen bonds at ~2.9 Å; 0.2 Å beyond the benchmark's 3.0 / 2.5 Å so that
  the small residual overlap a penalty leaves at its minimum does not count as a clash);
* ``relu(E − max(E_0, −1))²`` for every backbone hydrogen bond DSSP counts in the sampled design (DSSP energy ``E``,
  ``E_0`` before the polish): the polish may not weaken the hydrogen bonds the sampler made below −1 kcal/mol (DSSP's
  threshold is −0.5), so closing junctions and clearing contacts does not dissolve helices and strands; it creates
  none;
* ``restraint · |Δx|²``, which keeps the design where the sampler put it.

A design the polish leaves unsound (:func:`unsound`: a chain break, a peptide bond off ideal or a clash under the
benchmark's rule) is polished again from the sampler's frames with ``retry_factor`` times the steps (a longer,
slower descent), and if still unsound, as long with the :data:`CONSERVATIVE` weights, which hold the hydrogen bonds
less; a retry is kept only if it is sound. Sound designs are untouched, so this costs little on most runs.

It is not part of the learned model: a run sets it with ``polish_iters`` (0 = off) and the benchmark reports the
figures with and without it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

import torch
from torch import Tensor

from superdiff.engine import so3
from superdiff.proteins import ideal
from superdiff.proteins.frames_backbone import atoms_from_frames, dihedral
from superdiff.proteins.quality import BACKBONE_BOND_TOL, HEAVY_CLASH
from superdiff.proteins.structure import MAX_CA_GAP

#: the weights of the conservative polish, the last resort for designs the default's hydrogen-bond hold leaves
#: unsound (it gives up more of the sampled sheets and helices; see :class:`PolishSettings`)
#: bonds at 100, not the default 1000: one sharpened design of 96 needed them to close its last chain break
#: (2026-12-05; the stiff bonds pinned a junction behind a clash)
CONSERVATIVE = {"keep_hbonds": 0.3, "clash_weight": 10.0, "angle_weight": 10.0, "omega_weight": 10.0,
                "bond_weight": 100.0}


@dataclass(frozen=True)
class PolishSettings:
    """Weights and limits of the polish (the frame experts' inference setting; see the module doc).

    The defaults are the built-ins' (chosen on the benchmark's designs, ``benchmarks/frame_experts.py``; the
    measurements behind each choice are in docs/models.md, "Junction polish"): 2000 Adam steps (``polish_iters``)
    at lr 0.02 (Å, and radians for the rotations), linearly decayed, can move a frame ~10 Å, enough to close a
    stretched junction. The hydrogen-bond hold weighs 30, so the sampled sheets survive; bonds (1000), the junction
    angles and ω (200 each) and clashes (100) weigh enough that the hold does not buy its bonds with a stretched
    peptide, a clash or Cα–Cα off 3.8 Å. Clash limits 0.2 Å beyond the benchmark's rule leave the designs
    clash-free under the hydrogen-bond-exempt rule (a penalty leaves a small overlap at its minimum).
    """

    lr: float = 0.02
    restraint: float = 0.01  # per Å² of frame translation
    bond_weight: float = 1000.0
    angle_weight: float = 200.0  # the two junction angles, per (Δcos)²
    omega_weight: float = 200.0
    clash: float = 3.2  # Å
    hbond: float = 2.7  # Å, N–O pairs
    clash_weight: float = 100.0
    keep_hbonds: float = 30.0  # weight of the hydrogen-bond term (0: off)
    keep_floor: float = -1.0  # kcal/mol: stronger sampled hydrogen bonds may relax to this
    #: the retries of designs a polish leaves unsound take this many times its steps (0: no retry)
    retry_factor: float = 2.0
    #: the weights of the last retry (:data:`CONSERVATIVE`; empty: no conservative retry)
    fallback: dict = field(default_factory=lambda: dict(CONSERVATIVE))

    def attempts(self, iters: int) -> list[tuple[PolishSettings, int]]:
        """The polishes a design goes through until one leaves it sound: these settings for ``iters`` steps, again
        for ``retry_factor × iters``, then the fallback weights for as many (the first one sound is kept)."""
        retry = round(self.retry_factor * iters)
        if retry <= 0:
            return [(self, iters)]
        ladder = [(self, iters), (self, retry)]
        if self.fallback:
            ladder.append((replace(self, **self.fallback, fallback={}), retry))
        return ladder

    def to_dict(self) -> dict:
        return asdict(self)


def _cos_angle(a: Tensor, b: Tensor, c: Tensor) -> Tensor:
    u, v = a - b, c - b
    return (u * v).sum(-1) / (u.norm(dim=-1) * v.norm(dim=-1)).clamp_min(1e-8)


def clash_limits(length: int, clash: float = 3.0, dtype=torch.float64, hbond: float = 2.7) -> Tensor:
    """Closest allowed distance ``[4L, 4L]`` (Å) between backbone atoms of residues more than 3 apart (0 for
    nearer pairs): ``clash``, except ``hbond`` for N–O pairs (backbone hydrogen bonds are ~2.9 Å)."""
    residue = torch.arange(length).repeat_interleave(4)
    element = torch.arange(4).repeat(length)
    n_o = ((element[:, None] == 0) & (element[None] == 3)) | ((element[:, None] == 3) & (element[None] == 0))
    limits = torch.where(n_o, torch.tensor(hbond, dtype=dtype), torch.tensor(clash, dtype=dtype))
    return limits * ((residue[:, None] - residue[None]).abs() > 3).to(dtype)


def close_pairs(atoms: Tensor, limits: Tensor, margin: float = 0.0) -> tuple[Tensor, Tensor, Tensor]:
    """Atom pairs closer than their limit plus ``margin`` (Å), as ``(design, i, j)`` index tensors into the flat
    ``[B, 4L]`` atoms of backbones ``[B, L, 4, 3]`` (each unordered pair once, ``i < j``); no gradient.

    The search starts from residue pairs: two atoms closer than the largest limit (plus margin) belong to residues
    whose Cα are closer than that plus twice the farthest any atom sits from its own Cα."""
    with torch.no_grad():
        flat = atoms.flatten(1, 2)
        ca = atoms[:, :, 1]
        reach = float((atoms - ca[:, :, None]).norm(dim=-1).max()) if atoms.numel() else 0.0
        near = torch.triu(torch.cdist(ca, ca) < float(limits.max()) + margin + 2 * reach + 1e-6, diagonal=1)
        b, ri, rj = near.nonzero(as_tuple=True)
        slot = torch.arange(4, device=atoms.device)
        i = (4 * ri[:, None, None] + slot[None, :, None]).expand(-1, 4, 4).flatten()
        j = (4 * rj[:, None, None] + slot[None, None, :]).expand(-1, 4, 4).flatten()
        b = b.repeat_interleave(16)
        limit = limits[i, j]
        keep = ((flat[b, i] - flat[b, j]).norm(dim=-1) < limit + margin) & (limit > 0)  # 0: residues ≤ 3 apart
        return b[keep], i[keep], j[keep]


def clash_energy(atoms: Tensor, limits: Tensor, pairs: tuple[Tensor, Tensor, Tensor] | None = None) -> Tensor:
    """``Σ relu(limit − d)²`` over atom pairs closer than their limit, per design ``[B]``, for backbones
    ``[B, L, 4, 3]`` (Å) and limits ``[4L, 4L]`` (:func:`clash_limits`; each unordered pair counted once).

    Only the few pairs inside their limit contribute to the value or the gradient, so only their distances are
    differentiated (the dense ``[B, 4L, 4L]`` version spent most of the polish's time in its backward pass over
    pairs whose penalty is exactly zero). ``pairs``: a superset of those pairs from :func:`close_pairs` with a
    margin (a neighbour list kept while no atom has moved more than half the margin); the others add exactly 0, so
    the value and gradient are the same as with the exact search (``None``)."""
    b, i, j = close_pairs(atoms, limits) if pairs is None else pairs
    flat = atoms.flatten(1, 2)
    overlap = torch.relu(limits[i, j] - (flat[b, i] - flat[b, j]).norm(dim=-1))
    return torch.zeros(atoms.shape[0], dtype=atoms.dtype, device=atoms.device).index_add(0, b, overlap.pow(2))


def junction_energy(atoms: Tensor, settings: PolishSettings | None = None, limits: Tensor | None = None,
                    pairs: tuple[Tensor, Tensor, Tensor] | None = None) -> Tensor:
    """The geometric energy of backbones ``[B, L, 4, 3]`` (Å) per design ``[B]`` (see the module doc). ``limits``:
    the settings' :func:`clash_limits` when the caller already has them (the polish builds them once); ``pairs``:
    a neighbour list for :func:`clash_energy`."""
    p = settings or PolishSettings()
    n, ca, c = atoms[..., 0, :], atoms[..., 1, :], atoms[..., 2, :]
    bond = ((c[:, :-1] - n[:, 1:]).norm(dim=-1) - ideal.C_N).pow(2)
    cos0 = torch.cos(torch.deg2rad(torch.tensor([ideal.CA_C_N, ideal.C_N_CA], dtype=atoms.dtype)))
    ang1 = (_cos_angle(ca[:, :-1], c[:, :-1], n[:, 1:]) - cos0[0]).pow(2)
    ang2 = (_cos_angle(c[:, :-1], n[:, 1:], ca[:, 1:]) - cos0[1]).pow(2)
    omega = 1 + torch.cos(dihedral(ca[:, :-1], c[:, :-1], n[:, 1:], ca[:, 1:]))
    if limits is None:
        limits = clash_limits(atoms.shape[1], p.clash, atoms.dtype, p.hbond).to(atoms.device)
    junction = p.bond_weight * bond.sum(-1) + p.angle_weight * (ang1.sum(-1) + ang2.sum(-1))
    return junction + p.omega_weight * omega.sum(-1) + p.clash_weight * clash_energy(atoms, limits, pairs)


#: DSSP's electrostatic constant: partial charges q1 q2 = 0.42 e × 0.20 e times f = 332 (kcal/mol · Å / e²)
DSSP_Q1Q2_F = 0.084 * 332.0


def _unit(v: Tensor) -> Tensor:
    return v / v.norm(dim=-1, keepdim=True)


def hbond_pair_energy(atoms: Tensor, b: Tensor, donor: Tensor, acceptor: Tensor) -> Tensor:
    """DSSP's hydrogen-bond energy (kcal/mol, Kabsch & Sander 1983) of the listed pairs ``[P]``: N–H of residue
    ``donor`` (≥ 1) to C=O of residue ``acceptor`` in design ``b`` of backbones ``[B, L, 4, 3]`` (Å).

    ``E = q1 q2 f (1/r_ON + 1/r_CH − 1/r_OH − 1/r_CN)``, with the amide H 1.01 Å from N along the bisector of
    C_{i−1}→N_i and CA_i→N_i, the placement of ``pydssp``, whose assignment the evaluation uses (the tests check
    these energies against its dense ``[B, L, L]`` map). Differentiable; costs O(P), not O(L²)."""
    n, ca, c_prev = atoms[b, donor, 0], atoms[b, donor, 1], atoms[b, donor - 1, 2]
    c, o = atoms[b, acceptor, 2], atoms[b, acceptor, 3]
    h = n + 1.01 * _unit(_unit(n - c_prev) + _unit(n - ca))
    inv = [1.0 / (x - y).norm(dim=-1) for x, y in ((o, n), (c, h), (o, h), (c, n))]
    return DSSP_Q1Q2_F * (inv[0] + inv[1] - inv[2] - inv[3])


def hbond_energy(atoms: Tensor) -> tuple[Tensor, Tensor]:
    """DSSP's hydrogen-bond energies ``[B, L, L]`` (kcal/mol; donor N–H of residue i, acceptor C=O of j) and the
    bonds DSSP counts (bool ``[B, L, L]``) of backbones ``[B, L, 4, 3]`` (Å), both from ``pydssp``, the assignment
    the evaluation uses."""
    from pydssp.pydssp_torch import get_hbond_map

    return get_hbond_map(atoms, return_e=True), get_hbond_map(atoms.detach()) > 0


#: Å: the polish's clash neighbour list holds the pairs within their limit plus this, and is rebuilt once an atom
#: has moved half of it (so no pair outside the list can have come inside its limit: the energy is exact). 1.5 Å
#: rebuilds it every ~10 steps instead of every ~3 at 0.5 Å: 28 % less time, the same bits (the extra pairs add 0)
NEIGHBOUR_SKIN = 1.5


#: Å: N–O pairs of residues more than 3 apart may come this close in a sound design (the benchmark's
#: hydrogen-bond-exempt rule; other heavy-atom pairs: the evaluation's ``HEAVY_CLASH``)
SOUND_HBOND = 2.5


def unsound(atoms: Tensor) -> Tensor:
    """Which backbones ``[B, L, 4, 3]`` (Å) have a chain break (a Cα gap > ``MAX_CA_GAP``), a peptide bond off ideal
    by more than the evaluation's ``BACKBONE_BOND_TOL``, or a heavy-atom clash (``HEAVY_CLASH``, N–O pairs
    :data:`SOUND_HBOND`); bool ``[B]``."""
    with torch.no_grad():
        gap = (atoms[:, 1:, 1] - atoms[:, :-1, 1]).norm(dim=-1).amax(-1) > MAX_CA_GAP
        peptide = ((atoms[:, :-1, 2] - atoms[:, 1:, 0]).norm(dim=-1) - ideal.C_N).abs().amax(-1) > BACKBONE_BOND_TOL
        limits = clash_limits(atoms.shape[1], HEAVY_CLASH, atoms.dtype, SOUND_HBOND).to(atoms.device)
        b, _, _ = close_pairs(atoms, limits)
        clash = torch.zeros(atoms.shape[0], dtype=torch.bool, device=atoms.device)
        clash[b] = True
        return gap | peptide | clash


def polish_frames(trans: Tensor, rots: Tensor, iters: int = 2000,
                  settings: PolishSettings | None = None) -> tuple[Tensor, Tensor]:
    """Frames ``(trans [B, L, 3] in Å, rots [B, L, 3, 3])`` moved to a minimum of :func:`junction_energy`, the
    hydrogen-bond term and the restraint; float64, no gradient kept. ``iters = 0`` returns the input. Designs left
    :func:`unsound` are polished again from the input (:meth:`PolishSettings.attempts`: longer, then with the
    conservative weights) and take the first sound retry. Designs are independent (Adam is elementwise; the check
    is per design), so a design's result does not depend on its batch."""
    p = settings or PolishSettings()
    trans, rots = trans.detach().double(), rots.detach().double()
    if iters <= 0:
        return trans, rots
    (first, first_iters), *retries = p.attempts(iters)
    out_trans, out_rots = _descend(trans, rots, first_iters, first)
    redo = unsound(atoms_from_frames(out_trans, out_rots)).nonzero(as_tuple=True)[0]
    for settings_k, iters_k in retries:
        if not len(redo):
            break
        again_trans, again_rots = _descend(trans[redo], rots[redo], iters_k, settings_k)
        sound = ~unsound(atoms_from_frames(again_trans, again_rots))
        out_trans[redo[sound]], out_rots[redo[sound]] = again_trans[sound], again_rots[sound]
        redo = redo[~sound]
    return out_trans, out_rots


def _descend(trans: Tensor, rots: Tensor, iters: int, p: PolishSettings) -> tuple[Tensor, Tensor]:
    """``iters`` Adam steps of the polish on float64 frames (see :func:`polish_frames`)."""
    shift = torch.zeros_like(trans, requires_grad=True)
    turn = torch.zeros_like(trans, requires_grad=True)
    opt = torch.optim.Adam([shift, turn], lr=p.lr)
    e0, bonded = hbond_energy(atoms_from_frames(trans, rots))
    b, donor, acceptor = bonded.nonzero(as_tuple=True)  # the bonds to keep are fixed before the loop
    target = e0[b, donor, acceptor].clamp_min(p.keep_floor)
    limits = clash_limits(trans.shape[1], p.clash, trans.dtype, p.hbond).to(trans.device)
    listed_at, pairs = None, None
    with torch.enable_grad():
        for step in range(iters):
            opt.param_groups[0]["lr"] = p.lr * (1 - step / iters)  # linear decay: settles instead of jittering
            atoms = atoms_from_frames(trans + shift, rots @ so3.exp(turn))
            if listed_at is None or float((atoms.detach() - listed_at).norm(dim=-1).max()) > NEIGHBOUR_SKIN / 2:
                listed_at, pairs = atoms.detach(), close_pairs(atoms, limits, NEIGHBOUR_SKIN)
            loss = junction_energy(atoms, p, limits, pairs) + p.restraint * shift.pow(2).sum((1, 2))
            if p.keep_hbonds and len(b):
                weaker = torch.relu(hbond_pair_energy(atoms, b, donor, acceptor) - target)
                loss = loss + p.keep_hbonds * torch.zeros_like(loss).index_add(0, b, weaker.pow(2))
            opt.zero_grad()
            loss.sum().backward()
            opt.step()
    return (trans + shift).detach(), (rots @ so3.exp(turn)).detach()
