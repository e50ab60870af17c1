"""Residue frames from backbone atoms (N, CA, C) and full backbones (N, CA, C, O) back from frames.

Convention (AlphaFold's ``rigid_from_3_points``; the engine's ``x_global = R x_local + t``): the origin is Cα, the
first axis points from Cα to C, the second is the Gram–Schmidt part of Cα→N orthogonal to it (so N lies in the
local xy-plane with y > 0), the third is their cross product. ``R``'s columns are the three axes.

Back from frames: N, CA, C are placed at their ideal local coordinates (Engh–Huber bond lengths and the N–CA–C angle
of :mod:`superdiff.proteins.ideal`); the carbonyl O of residue i lies in the peptide plane (Cα_i, C_i, N_{i+1}) with
the ideal C=O length and CA–C–O angle, trans to N_{i+1} about the CA–C bond (dihedral N_{i+1}–CA_i–C_i–O = 180°).
The last residue has no N_{i+1}: its O is placed with the ψ of the residue before it (ψ_{L−2}, from the frames; a
regular-structure continuation), or :data:`DEFAULT_LAST_PSI` for a single residue.

Works on torch tensors of any leading batch shape (differentiable, used in training losses); numpy arrays in give
numpy arrays out.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from superdiff.proteins import ideal

#: ψ (degrees) for the O of a lone residue (no previous residue whose ψ could be continued)
DEFAULT_LAST_PSI = 120.0


def ideal_local_atoms(dtype=torch.float64) -> Tensor:
    """The ideal local coordinates ``[3, 3]`` (Å) of N, CA, C in their residue's frame."""
    angle = math.radians(ideal.N_CA_C)
    n = [ideal.N_CA * math.cos(angle), ideal.N_CA * math.sin(angle), 0.0]
    return torch.tensor([n, [0.0, 0.0, 0.0], [ideal.CA_C, 0.0, 0.0]], dtype=dtype)


def _normalise(v: Tensor) -> Tensor:
    return v / v.norm(dim=-1, keepdim=True).clamp_min(1e-8)


def frames_from_atoms(atoms) -> tuple:
    """``(trans [..., L, 3], rots [..., L, 3, 3])`` of backbone atoms ``[..., L, ≥3, 3]`` (N, CA, C first)."""
    as_numpy = isinstance(atoms, np.ndarray)
    x = torch.as_tensor(atoms)
    n, ca, c = x[..., 0, :], x[..., 1, :], x[..., 2, :]
    e1 = _normalise(c - ca)
    v2 = n - ca
    e2 = _normalise(v2 - (v2 * e1).sum(-1, keepdim=True) * e1)
    e3 = torch.cross(e1, e2, dim=-1)
    rots = torch.stack([e1, e2, e3], dim=-1)
    if as_numpy:
        return ca.numpy(), rots.numpy()
    return ca, rots


def _place(a: Tensor, b: Tensor, c: Tensor, bond: float, angle: float, torsion: Tensor) -> Tensor:
    """Torch NeRF: atom d with ``|cd| = bond``, angle b–c–d = ``angle`` (degrees), dihedral a–b–c–d = ``torsion``
    (radians, a tensor broadcasting over the atoms)."""
    ang = math.radians(angle)
    bc = _normalise(c - b)
    normal = _normalise(torch.cross(b - a, bc, dim=-1))
    frame = torch.stack([bc, torch.cross(normal, bc, dim=-1), normal], dim=-1)
    local = torch.stack([torch.full_like(torsion, -math.cos(ang)), math.sin(ang) * torch.cos(torsion),
                         math.sin(ang) * torch.sin(torsion)], dim=-1) * bond
    return c + (frame @ local.unsqueeze(-1)).squeeze(-1)


def dihedral(a: Tensor, b: Tensor, c: Tensor, d: Tensor) -> Tensor:
    """Dihedral angle a–b–c–d in radians, ``(−π, π]``, IUPAC sign (α-helix φ, ψ ≈ −57°, −47°)."""
    b1, b2, b3 = b - a, c - b, d - c
    n1, n2 = torch.cross(b1, b2, dim=-1), torch.cross(b2, b3, dim=-1)
    m1 = torch.cross(n1, _normalise(b2), dim=-1)
    return -torch.atan2((m1 * n2).sum(-1), (n1 * n2).sum(-1))


def atoms_from_frames(trans, rots):
    """Backbone atoms ``[..., L, 4, 3]`` (N, CA, C, O; units of ``trans``, Å) from frames (see the module doc)."""
    as_numpy = isinstance(trans, np.ndarray)
    trans, rots = torch.as_tensor(trans), torch.as_tensor(rots)
    local = ideal_local_atoms(trans.dtype).to(trans.device)
    ncac = trans[..., None, :] + torch.einsum("...ij,aj->...ai", rots, local)  # [..., L, 3, 3]
    n, ca, c = ncac[..., 0, :], ncac[..., 1, :], ncac[..., 2, :]
    length = trans.shape[-2]
    if length > 1:
        pi = torch.full_like(ca[..., :-1, 0], math.pi)
        o_inner = _place(n[..., 1:, :], ca[..., :-1, :], c[..., :-1, :], ideal.C_O, ideal.CA_C_O, pi)
        psi_prev = dihedral(n[..., -2, :], ca[..., -2, :], c[..., -2, :], n[..., -1, :])
    else:
        o_inner = ca[..., :0, :]
        psi_prev = torch.full_like(ca[..., 0, 0], math.radians(DEFAULT_LAST_PSI))
    o_last = _place(n[..., -1, :], ca[..., -1, :], c[..., -1, :], ideal.C_O, ideal.CA_C_O, psi_prev + math.pi)
    o = torch.cat([o_inner, o_last[..., None, :]], dim=-2)
    atoms = torch.cat([ncac, o[..., None, :]], dim=-2)
    return atoms.numpy() if as_numpy else atoms
