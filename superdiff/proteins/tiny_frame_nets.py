"""Tiny randomly initialised networks with FrameDiff's and Proteus's input/output contracts, for CI.

Real FrameDiff / Proteus checkpoints need their projects' code and a GPU; these stand-ins let CI run the very
adapters (:mod:`superdiff.proteins.frame_adapters`) and the campaign that composes them end to end. They read the
same feature dictionary (``rigids_t`` as quaternion + Å, ``t``, ``seq_idx``, ...) and answer in the same keys and
frames, and they are SE(3)-equivariant (outputs built from each residue's frame and its neighbours' offsets), so
composing them exercises every convention the real networks rely on. Their clean-structure estimate is the noisy
trace pulled onto a chain (consecutive Cα 3.8 Å apart), so designs pass the evaluation's chain checks; beyond that
their samples mean nothing.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from superdiff.engine import so3
from superdiff.engine.frames import FrameModel, FrameX0Score
from superdiff.proteins.frame_adapters import COORD_SCALE, framediff_model, framediff_path, proteus_model

HIDDEN = 32
CHAIN_SWEEPS = 100


def chain_projection(trans: Tensor, bond: float = 3.8, sweeps: int = CHAIN_SWEEPS) -> Tensor:
    """``[B, N, 3]`` (Å) moved towards consecutive distances of ``bond`` Å by relaxed Jacobi sweeps (equivariant)."""
    for _ in range(sweeps):
        d = trans[:, 1:] - trans[:, :-1]
        length = d.norm(dim=-1, keepdim=True).clamp_min(1e-6)
        pull = 0.25 * (length - bond) / length * d
        trans = trans + torch.nn.functional.pad(pull, (0, 0, 0, 1)) - torch.nn.functional.pad(pull, (0, 0, 1, 0))
    return trans


class _TinyFrameNet(nn.Module):
    """Per-residue invariants (time, distances and angle to the sequence neighbours) → bounded coefficients of
    equivariant vectors (neighbour offsets) and of a body-frame rotation vector."""

    def __init__(self, seed: int):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.mlp = nn.Sequential(nn.Linear(5, HIDDEN), nn.SiLU(), nn.Linear(HIDDEN, 5))
        with torch.no_grad():
            for p in self.mlp.parameters():
                p.copy_(0.3 * torch.randn(p.shape, generator=generator))

    def _heads(self, feats: dict[str, Tensor]) -> tuple[Tensor, Tensor, Tensor]:
        """Translations (Å) ``[B, N, 3]``, rotations, and a translation offset and body rotation vector per residue."""
        rigids = feats["rigids_t"]
        rots, trans = so3.quaternion_to_matrix(rigids[..., :4]), rigids[..., 4:]
        prev = torch.cat([trans[:, :1], trans[:, :-1]], dim=1) - trans
        nxt = torch.cat([trans[:, 1:], trans[:, -1:]], dim=1) - trans
        t = feats["t"][:, None, None].expand(*trans.shape[:2], 1).to(trans)
        cosine = (prev * nxt).sum(-1, keepdim=True) / (prev.norm(dim=-1, keepdim=True) * nxt.norm(dim=-1, keepdim=True)
                                                       + 1e-6)
        invariants = torch.cat([t, torch.tanh(prev.norm(dim=-1, keepdim=True) / 4),
                                torch.tanh(nxt.norm(dim=-1, keepdim=True) / 4), cosine, torch.ones_like(t)], dim=-1)
        c = 0.1 * torch.tanh(self.mlp(invariants))  # small, bounded corrections: the sampler stays stable
        offset = c[..., :1] * prev + c[..., 1:2] * nxt
        return trans, rots, torch.cat([offset, c[..., 2:]], dim=-1)


class TinyFrameDiffNet(_TinyFrameNet):
    """``feats -> {"trans_score" (per nm), "rot_score" (body frame)}`` as FrameDiff's ``ScoreNetwork``."""

    def forward(self, feats: dict[str, Tensor]) -> dict[str, Tensor]:
        trans, _, heads = self._heads(feats)
        x, x0 = trans / COORD_SCALE, chain_projection(trans + heads[..., :3]) / COORD_SCALE
        t = feats["t"].to(trans.dtype)
        path = framediff_path().translations  # the network's own noise schedule, as FrameDiff's diffuser holds it
        alpha, sigma = path.alpha(t)[:, None, None].to(x), path.sigma(t)[:, None, None].to(x)
        return {"trans_score": -(x - alpha * x0) / sigma**2, "rot_score": heads[..., 3:]}


class TinyProteusNet(_TinyFrameNet):
    """``feats -> {"pred_trans" (Å), "pred_rotmats"}`` as Proteus's ``ScoreNetwork``."""

    def forward(self, feats: dict[str, Tensor]) -> dict[str, Tensor]:
        trans, rots, heads = self._heads(feats)
        return {"pred_trans": chain_projection(trans + heads[..., :3]),
                "pred_rotmats": rots @ so3.exp(0.1 * heads[..., 3:])}


def tiny_framediff(device: torch.device, weights: Path | None = None, seed: int = 0) -> FrameModel:
    """Factory (``manifest:tiny_framediff``): a random FrameDiff-contract network behind the FrameDiff adapter."""
    return framediff_model(TinyFrameDiffNet(seed).to(device).eval(), name="tiny_framediff")


def tiny_proteus(device: torch.device, weights: Path | None = None, seed: int = 1) -> FrameX0Score:
    """Factory (``manifest:tiny_proteus``): a random Proteus-contract network behind the Proteus adapter."""
    return proteus_model(TinyProteusNet(seed).to(device).eval(), name="tiny_proteus")
