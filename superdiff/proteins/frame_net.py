"""The built-in frame expert: a small SE(3)-invariant clean-frame predictor (IPA-lite).

Input: noisy residue frames ``trans [B, L, 3]`` (Cα in Å / :data:`COORD_SCALE`, centred) and ``rots [B, L, 3, 3]``
(local → global, the convention of :mod:`superdiff.proteins.frames_backbone`) at forward time ``t [B]``; output:
the predicted clean frames ``(trans_0, rots_0)``. :func:`superdiff.engine.frames.from_frame_x0` turns it into a
score model on a :class:`~superdiff.engine.frames.FramePath`.

Architecture (one block, repeated): pair features from the current frames, all invariant under a global rigid
motion — residue j's Cα in residue i's frame ``R_iᵀ (x_j − x_i)``, RBFs of the distance, the relative rotation
``R_iᵀ R_j`` (9 entries) and a relative sequence-position embedding; multi-head attention on the residue features
with a pair bias; each residue gathers the attention-weighted pair features and the attention-weighted positions of
the others in its own frame (IPA's point values, in the local frame); then each residue's frame is updated by a
translation step expressed in its own frame and a rotation ``R ← R · Exp(ω)`` (both read from its invariant
features; the first estimate is ``(α_t x_t, R_t)``). Every feature is invariant and every update local, so the map
is SE(3)-equivariant; nothing is reflection-symmetric, so helices keep their handedness.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

from superdiff.engine import so3
from superdiff.proteins.ca_model import rbf, time_embedding

COORD_SCALE = 10.0  # Å per model unit


@dataclass(frozen=True)
class FrameNetConfig:
    """Hyper-parameters of :class:`FrameDenoiser` (saved in the weights manifest)."""

    dim: int = 64
    pair_dim: int = 32
    heads: int = 4
    layers: int = 4
    rbf: int = 16
    rbf_max: float = 2.0  # model units (20 Å)
    max_offset: int = 32
    min_length: int = 16
    max_length: int = 256

    def to_dict(self) -> dict:
        return asdict(self)


def pair_geometry(trans: Tensor, rots: Tensor, n_rbf: int, rbf_max: float) -> tuple[Tensor, Tensor]:
    """Invariant pair features ``[B, L, L, F]`` and the local positions ``R_iᵀ (x_j − x_i)`` ``[B, L, L, 3]``."""
    diff = trans[:, None, :, :] - trans[:, :, None, :]  # [B, i, j, 3] = x_j - x_i
    local = torch.einsum("biac,bija->bijc", rots, diff)
    dist = local.norm(dim=-1)
    rel = torch.einsum("biac,bjad->bijcd", rots, rots).flatten(-2)
    direction = local / (dist[..., None] + 0.05)
    feats = torch.cat([rbf(dist, n_rbf, rbf_max), direction, rel, local.clamp(-2.0, 2.0)], dim=-1)
    return feats, local


class FrameBlock(nn.Module):
    """Pair-biased attention with local point values, then a local frame update."""

    def __init__(self, cfg: FrameNetConfig):
        super().__init__()
        d, h, p = cfg.dim, cfg.heads, cfg.pair_dim
        self.cfg = cfg
        self.pair_in = nn.Sequential(nn.Linear(cfg.rbf + 15, p), nn.SiLU(), nn.Linear(p, p))
        self.relpos = nn.Embedding(2 * cfg.max_offset + 1, p)
        self.norm1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.bias = nn.Linear(p, h)
        self.out = nn.Linear(d + h * (p + 4), d)
        self.norm2 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, 2 * d), nn.SiLU(), nn.Linear(2 * d, d))
        self.norm3 = nn.LayerNorm(d)
        self.update = nn.Linear(d, 6)
        nn.init.zeros_(self.update.weight)
        nn.init.zeros_(self.update.bias)

    def forward(self, h: Tensor, trans: Tensor, rots: Tensor, relpos_idx: Tensor,
                step: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        cfg = self.cfg
        B, L, D = h.shape
        H = cfg.heads
        feats, local = pair_geometry(trans, rots, cfg.rbf, cfg.rbf_max)
        z = self.pair_in(feats) + self.relpos(relpos_idx)  # [B, L, L, P]
        q, k, v = self.qkv(self.norm1(h)).view(B, L, 3, H, D // H).permute(2, 0, 3, 1, 4)
        logits = q @ k.transpose(-1, -2) / math.sqrt(D // H) + self.bias(z).permute(0, 3, 1, 2)
        attn = logits.softmax(dim=-1)  # [B, H, i, j]
        o_node = (attn @ v).transpose(1, 2).reshape(B, L, D)
        o_pair = torch.einsum("bhij,bijp->bihp", attn, z).reshape(B, L, -1)
        pts = torch.einsum("bhij,bijc->bihc", attn, local)  # [B, L, H, 3], in i's frame
        o_pts = torch.cat([pts, pts.norm(dim=-1, keepdim=True)], dim=-1).reshape(B, L, -1)
        h = h + self.out(torch.cat([o_node, o_pair, o_pts], dim=-1))
        h = h + self.mlp(self.norm2(h))
        u = self.update(self.norm3(h))
        trans = trans + step * torch.einsum("blij,blj->bli", rots, u[..., :3])
        rots = rots @ so3.exp(u[..., 3:])
        return h, trans - trans.mean(dim=1, keepdim=True), rots


class FrameDenoiser(nn.Module):
    """``forward(trans [B, L, 3], rots [B, L, 3, 3], t [B]) -> (trans_0, rots_0)`` (model units, centred)."""

    def __init__(self, cfg: FrameNetConfig | None = None, beta_min: float = 0.1, beta_max: float = 20.0):
        super().__init__()
        self.cfg = cfg or FrameNetConfig()
        self.beta_min, self.beta_max = beta_min, beta_max
        d = self.cfg.dim
        self.t_mlp = nn.Sequential(nn.Linear(d, d), nn.SiLU(), nn.Linear(d, d))
        self.blocks = nn.ModuleList(FrameBlock(self.cfg) for _ in range(self.cfg.layers))

    def alpha(self, t: Tensor) -> Tensor:
        return torch.exp(-0.5 * (self.beta_min * t + 0.5 * t**2 * (self.beta_max - self.beta_min)))

    def forward(self, trans: Tensor, rots: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        B, L, _ = trans.shape
        t = (t.expand(B) if t.dim() == 0 else t).to(dtype=trans.dtype, device=trans.device)
        rots = rots.to(trans.dtype)
        h = self.t_mlp(time_embedding(t, self.cfg.dim)).unsqueeze(1).expand(B, L, self.cfg.dim)
        pos = torch.arange(L, device=trans.device)
        off = self.cfg.max_offset
        relpos_idx = (pos[None, :] - pos[:, None]).clamp(-off, off) + off
        alpha = self.alpha(t)
        y = alpha[:, None, None] * (trans - trans.mean(dim=1, keepdim=True))
        step = (0.1 + torch.sqrt(1 - alpha**2))[:, None, None]
        for block in self.blocks:
            h, y, rots = block(h, y, rots, relpos_idx, step)
        return y, rots
