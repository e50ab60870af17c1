"""Inference-time idealisation of sampled residue frames (the frame experts' analogue of the Cα experts' polish).

N, CA, C are rigid in each frame (ideal by construction); what a network can get wrong is the junction between
consecutive frames. :func:`polish_frames` moves every frame a little (a translation and a body-frame rotation per
residue, by gradient descent with Adam) to minimise, in Å and cosines:

* ``(|C_i N_{i+1}| − 1.329)²`` (the peptide bond) and the two junction angles CA_i–C_i–N_{i+1} (116.2°) and
  C_i–N_{i+1}–CA_{i+1} (121.7°), as ``(cos θ − cos θ0)²``;
* ``1 + cos ω_i`` (trans peptides, ω = CA_i–C_i–N_{i+1}–CA_{i+1} = 180°);
* ``relu(clash − d)²`` for heavy atoms (N, CA, C, O) of residues more than 3 apart (``clash`` = 3.0 Å, 2.7 Å for N–O
  pairs, which form the backbone's hydrogen bonds at ~2.9 Å);
* ``restraint · |Δx|²``, which keeps the design where the sampler put it.

It is not part of the learned model: a run sets it with ``polish_iters`` (0 = off) and the benchmark reports the
figures with and without it.
"""

from __future__ import annotations

import torch
from torch import Tensor

from superdiff.engine import so3
from superdiff.proteins import ideal
from superdiff.proteins.frames_backbone import atoms_from_frames, dihedral


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


def junction_energy(atoms: Tensor, clash: float = 3.0, clash_weight: float = 1.0) -> Tensor:
    """The geometric energy of backbones ``[B, L, 4, 3]`` (Å) per design ``[B]`` (see the module doc)."""
    n, ca, c = atoms[..., 0, :], atoms[..., 1, :], atoms[..., 2, :]
    bond = ((c[:, :-1] - n[:, 1:]).norm(dim=-1) - ideal.C_N).pow(2)
    cos0 = torch.cos(torch.deg2rad(torch.tensor([ideal.CA_C_N, ideal.C_N_CA], dtype=atoms.dtype)))
    ang1 = (_cos_angle(ca[:, :-1], c[:, :-1], n[:, 1:]) - cos0[0]).pow(2)
    ang2 = (_cos_angle(c[:, :-1], n[:, 1:], ca[:, 1:]) - cos0[1]).pow(2)
    omega = 1 + torch.cos(dihedral(ca[:, :-1], c[:, :-1], n[:, 1:], ca[:, 1:]))
    flat = atoms.flatten(1, 2)
    dist = torch.cdist(flat, flat)
    clashes = (torch.relu(clash_limits(atoms.shape[1], clash, atoms.dtype) - dist)).pow(2).sum((1, 2)) / 2
    return 10 * bond.sum(-1) + ang1.sum(-1) + ang2.sum(-1) + 0.1 * omega.sum(-1) + clash_weight * clashes


def polish_frames(trans: Tensor, rots: Tensor, iters: int = 300, lr: float = 0.01, restraint: float = 0.01,
                  clash_weight: float = 1.0) -> tuple[Tensor, Tensor]:
    """Frames ``(trans [B, L, 3] in Å, rots [B, L, 3, 3])`` moved to a minimum of :func:`junction_energy` plus
    the restraint; float64, no gradient kept. ``iters = 0`` returns the input."""
    trans, rots = trans.detach().double(), rots.detach().double()
    if iters <= 0:
        return trans, rots
    shift = torch.zeros_like(trans, requires_grad=True)
    turn = torch.zeros_like(trans, requires_grad=True)
    opt = torch.optim.Adam([shift, turn], lr=lr)
    with torch.enable_grad():
        for step in range(iters):
            opt.param_groups[0]["lr"] = lr * (1 - step / iters)  # linear decay: settles instead of jittering
            atoms = atoms_from_frames(trans + shift, rots @ so3.exp(turn))
            loss = (junction_energy(atoms, clash_weight=clash_weight) + restraint * shift.pow(2).sum((1, 2))).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
    return (trans + shift).detach(), (rots @ so3.exp(turn)).detach()
