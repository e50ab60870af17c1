"""The built-in Cα denoiser: a small SE(3)-equivariant network that predicts clean coordinates x̂0.

Coordinates are **scaled**: ``x = Cα (Å) / COORD_SCALE`` with ``COORD_SCALE = 10`` (so a 3.8 Å bond is 0.38) and
centred (zero mean over residues). The network takes noisy centred coordinates ``x_t [B, L, 3]`` and forward time
``t [B]`` and returns ``x̂0 [B, L, 3]``, centred; :func:`superdiff.models.from_x0` turns it into a score.

Architecture (one block, repeated): invariant per-residue features from the current trace (distances to the
sequence neighbours i±1..3, the bond angle and the chiral Cα dihedral, so helices keep their handedness),
multi-head attention with a pair bias from radial basis functions of all Cα–Cα distances and a relative
sequence-position embedding, then an equivariant coordinate update: each residue moves along

* ``x_i − Σ_j a_ij^h x_j`` for every head ``h`` (towards / away from its attention-weighted centroid),
* its two bond vectors ``x_{i±1} − x_i`` and their cross product (a local chiral frame),

with coefficients read from the residue's invariant features, scaled by σ_t (so corrections shrink with the noise).
The last layer is a differentiable chain projection (:func:`chain_projection`): a few Jacobi sweeps that pull
sequence neighbours to 3.8 Å, push residues ``|i − j| ≥ 2`` apart to at least 3.5 Å and pull the pairs
``(i, i + k)``, k = 2..4, towards distances the network predicts from its invariant features (with a predicted
confidence), so every x̂0 is a plausible chain whose secondary structure is set by invariant predictions
("bond-aware" output). Every operation commutes with rotations and
translations of the input, so no augmentation is needed; the cross product makes it chiral (not reflection
equivariant), as proteins are.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

COORD_SCALE = 10.0  # Å per model unit


@dataclass(frozen=True)
class CAModelConfig:
    """Hyper-parameters of :class:`CADenoiser` (saved in the weights manifest)."""

    dim: int = 64
    heads: int = 4
    layers: int = 4
    rbf: int = 12
    rbf_max: float = 2.0  # model units (20 Å)
    max_offset: int = 32  # relative sequence positions clipped to ±max_offset
    min_length: int = 16
    max_length: int = 256
    scale_updates: bool = True  # multiply coordinate updates by σ_t (small corrections at low noise)
    projection_iters: int = 12  # bond / clash projection iterations on x̂0 (0 = off)
    bond: float = 0.38  # model units (3.8 Å)
    clash: float = 0.35  # model units (3.5 Å), for |i - j| >= 2
    local_targets: bool = True  # predict Cα(i)–Cα(i+k) distances, k = 2..4, and pull x̂0 towards them
    target_bins: int = 0  # > 0: classify each distance into this many bins (sharpened expectation as target)
    target_temperature: float = 0.25  # softmax temperature of the sharpened expectation
    polish_iters: int = 0  # extra bond / clash-only sweeps after the projection (an inference-time setting)

    def to_dict(self) -> dict:
        return asdict(self)


def rbf(d: Tensor, n: int, d_max: float) -> Tensor:
    """Gaussian radial basis ``[..., n]`` of distances ``d`` (model units), centres evenly in [0, d_max].

    The exponent is capped at 80 (``exp(−80) ≈ 2e−35``, a change below 1e−34): far pairs would otherwise make
    subnormal floats, which CPUs compute up to ~7x slower (this was most of the frame experts' pair features)."""
    centres = torch.linspace(0.0, d_max, n, device=d.device, dtype=d.dtype)
    width = d_max / (n - 1)
    u = (d / width).unsqueeze(-1) - centres / width
    return u.square().clamp(max=80.0).neg().exp()


def time_embedding(t: Tensor, dim: int) -> Tensor:
    """Sinusoidal embedding ``[B, dim]`` of forward time ``t [B]`` in [0, 1]."""
    half = dim // 2
    freqs = torch.exp(torch.linspace(0.0, math.log(1000.0), half, device=t.device, dtype=t.dtype))
    angles = t[:, None] * freqs[None, :]
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)


def _shift(x: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """``x`` shifted by ``k`` along the residue axis (``y_i = x_{i+k}``) and a validity mask ``[B, L]``."""
    B, L, _ = x.shape
    y = torch.zeros_like(x)
    mask = torch.zeros(B, L, device=x.device, dtype=x.dtype)
    if k > 0:
        y[:, : L - k] = x[:, k:]
        mask[:, : L - k] = 1
    else:
        y[:, -k:] = x[:, : L + k]
        mask[:, -k:] = 1
    return y, mask


def local_geometry(x: Tensor, n_rbf: int) -> tuple[Tensor, Tensor, Tensor]:
    """Invariant per-residue features ``[B, L, F]`` and the local frame vectors (next, previous bond) ``[B, L, 3]``.

    Features: RBFs of the distances to i±1, i±2, i±3 (0 where absent, with the mask), cos of the bond angle at i,
    and sin/cos of the dihedral (i−1, i, i+1, i+2).
    """
    feats = []
    for k in (1, 2, 3, -1, -2, -3):
        y, m = _shift(x, k)
        d = (y - x).norm(dim=-1)
        feats.append(rbf(d, n_rbf, 1.2 * abs(k) / 3 + 0.3) * m.unsqueeze(-1))
        feats.append(m.unsqueeze(-1))
    nxt, m_n = _shift(x, 1)
    prv, m_p = _shift(x, -1)
    e_next = (nxt - x) * m_n.unsqueeze(-1)
    e_prev = (prv - x) * m_p.unsqueeze(-1)
    eps = 1e-6
    cos_angle = (e_next * e_prev).sum(-1) / (e_next.norm(dim=-1) * e_prev.norm(dim=-1) + eps)
    # dihedral of (i-1, i, i+1, i+2)
    nn2, m_2 = _shift(x, 2)
    b1, b2, b3 = x - prv, nxt - x, nn2 - nxt
    n1, n2 = torch.cross(b1, b2, dim=-1), torch.cross(b2, b3, dim=-1)
    m1 = torch.cross(n1, b2 / (b2.norm(dim=-1, keepdim=True) + eps), dim=-1)
    xx, yy = (n1 * n2).sum(-1), (m1 * n2).sum(-1)
    r = torch.sqrt(xx**2 + yy**2 + eps)
    dmask = m_p * m_n * m_2
    feats += [(cos_angle * m_p * m_n).unsqueeze(-1), ((xx / r) * dmask).unsqueeze(-1),
              ((yy / r) * dmask).unsqueeze(-1)]
    return torch.cat(feats, dim=-1), e_next, e_prev


class Block(nn.Module):
    """Pair-biased attention on residue features plus an equivariant coordinate update."""

    def __init__(self, cfg: CAModelConfig, n_local: int):
        super().__init__()
        d, h = cfg.dim, cfg.heads
        self.cfg = cfg
        self.local_in = nn.Linear(n_local, d)
        self.norm1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.pair = nn.Linear(cfg.rbf, h)
        self.relpos = nn.Embedding(2 * cfg.max_offset + 1, h)
        self.out = nn.Linear(d, d)
        self.norm2 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, 2 * d), nn.SiLU(), nn.Linear(2 * d, d))
        self.norm3 = nn.LayerNorm(d)
        self.coef = nn.Linear(d, h + 3)
        nn.init.zeros_(self.coef.weight)
        nn.init.zeros_(self.coef.bias)

    def forward(self, h: Tensor, x: Tensor, relpos_idx: Tensor, step: Tensor) -> tuple[Tensor, Tensor]:
        cfg = self.cfg
        B, L, D = h.shape
        H = cfg.heads
        local, e_next, e_prev = local_geometry(x, 8)
        h = h + self.local_in(local)
        q, k, v = self.qkv(self.norm1(h)).view(B, L, 3, H, D // H).permute(2, 0, 3, 1, 4)
        dist = torch.cdist(x, x)
        bias = self.pair(rbf(dist, cfg.rbf, cfg.rbf_max)).permute(0, 3, 1, 2) + self.relpos(relpos_idx).permute(
            2, 0, 1
        )
        logits = q @ k.transpose(-1, -2) / math.sqrt(D // H) + bias
        attn = logits.softmax(dim=-1)  # [B, H, L, L]
        h = h + self.out((attn @ v).transpose(1, 2).reshape(B, L, D))
        h = h + self.mlp(self.norm2(h))
        c = self.coef(self.norm3(h))  # [B, L, H + 3]
        centroid = attn @ x.unsqueeze(1)  # [B, H, L, 3]
        radial = x.unsqueeze(1) - centroid
        dx = (c[..., :H].permute(0, 2, 1).unsqueeze(-1) * radial).sum(1)
        chiral = torch.cross(e_next, e_prev, dim=-1)
        dx = dx + c[..., H : H + 1] * e_next + c[..., H + 1 : H + 2] * e_prev + c[..., H + 2 : H + 3] * chiral
        x = x + step * dx
        return h, x - x.mean(dim=1, keepdim=True)


class CADenoiser(nn.Module):
    """x̂0 network for centred, scaled Cα traces; ``forward(x_t [B, L, 3], t [B]) -> x̂0 [B, L, 3]``.

    ``schedule_alpha`` supplies α_t: the first coordinate estimate is ``α_t x_t`` (the posterior mean for unit
    variance data), refined by the blocks.
    """

    def __init__(self, cfg: CAModelConfig | None = None, beta_min: float = 0.1, beta_max: float = 20.0):
        super().__init__()
        self.cfg = cfg or CAModelConfig()
        self.beta_min, self.beta_max = beta_min, beta_max
        n_local = 6 * (8 + 1) + 3
        d = self.cfg.dim
        self.t_mlp = nn.Sequential(nn.Linear(d, d), nn.SiLU(), nn.Linear(d, d))
        self.blocks = nn.ModuleList(Block(self.cfg, n_local) for _ in range(self.cfg.layers))
        if self.cfg.local_targets:
            per_k = self.cfg.target_bins + 1 if self.cfg.target_bins else 2
            self.target_head = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, per_k * len(TARGET_RANGES)))
        self.last_targets: tuple[Tensor, Tensor] | None = None
        self.last_target_logits: Tensor | None = None

    def alpha(self, t: Tensor) -> Tensor:
        integral = self.beta_min * t + 0.5 * t**2 * (self.beta_max - self.beta_min)
        return torch.exp(-0.5 * integral)

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        B, L, _ = x.shape
        if t.dim() == 0:
            t = t.expand(B)
        t = t.to(dtype=x.dtype, device=x.device)
        x = x - x.mean(dim=1, keepdim=True)
        h = self.t_mlp(time_embedding(t, self.cfg.dim)).unsqueeze(1).expand(B, L, self.cfg.dim)
        pos = torch.arange(L, device=x.device)
        off = self.cfg.max_offset
        relpos_idx = (pos[None, :] - pos[:, None]).clamp(-off, off) + off
        alpha = self.alpha(t)
        y = alpha[:, None, None] * x
        step = torch.sqrt(1 - alpha**2) if self.cfg.scale_updates else torch.ones_like(alpha)
        step = step[:, None, None]
        for block in self.blocks:
            h, y = block(h, y, relpos_idx, step)
        targets = None
        if self.cfg.local_targets:
            z = self.target_head(h)
            k = len(TARGET_RANGES)
            lo = torch.tensor([r[0] for r in TARGET_RANGES], device=z.device, dtype=z.dtype)
            hi = torch.tensor([r[1] for r in TARGET_RANGES], device=z.device, dtype=z.dtype)
            if self.cfg.target_bins:
                nb = self.cfg.target_bins
                logits = z[..., : k * nb].reshape(B, L, k, nb)
                centres = target_bin_centres(nb, z.device, z.dtype)  # [K, nb]
                probs = torch.softmax(logits / self.cfg.target_temperature, dim=-1)
                targets = ((probs * centres).sum(-1), torch.sigmoid(z[..., k * nb :]))
                self.last_target_logits = logits
            else:
                targets = (lo + (hi - lo) * torch.sigmoid(z[..., :k]), torch.sigmoid(z[..., k:]))
            self.last_targets = targets
        if self.cfg.projection_iters:
            y = chain_projection(y, self.cfg.bond, self.cfg.clash, self.cfg.projection_iters, targets=targets)
        if self.cfg.polish_iters:
            y = chain_projection(y, self.cfg.bond, self.cfg.clash, self.cfg.polish_iters)
        return y


# Ranges (model units) of the predicted Cα(i)–Cα(i+k) distances for k = 2, 3, 4.
TARGET_RANGES = ((0.44, 0.74), (0.42, 1.12), (0.45, 1.40))


def target_bin_centres(bins: int, device=None, dtype=None) -> Tensor:
    """Bin centres ``[K, bins]`` (model units) spanning :data:`TARGET_RANGES`."""
    return torch.stack([torch.linspace(lo, hi, bins, device=device, dtype=dtype) for lo, hi in TARGET_RANGES])


def chain_projection(y: Tensor, bond: float, clash: float, iters: int, omega: float = 0.5,
                     targets: tuple[Tensor, Tensor] | None = None) -> Tensor:
    """Differentiable Jacobi projection of traces ``[B, L, 3]`` towards bond length ``bond`` between sequence
    neighbours and at least ``clash`` between residues ``|i − j| ≥ 2`` (model units).

    Each iteration moves both ends of every violated pair half-way (damped by ``omega``) along their difference
    vector: equal and opposite moves, so the centre is kept, and every move is along inter-residue vectors, so the
    map is rotation- and translation-equivariant. ``targets = (d [B, L, K], w [B, L, K])`` adds pulls of the pairs
    ``(i, i + k + 2)`` towards ``d[:, i, k]`` with strength ``w`` in [0, 1] (then ``omega`` is halved).
    """
    if targets is not None:
        omega = omega / 2
    L = y.shape[1]
    idx = torch.arange(L, device=y.device)
    far = ((idx[None, :] - idx[:, None]).abs() >= 2).to(y.dtype)
    for _ in range(iters):
        d = y[:, 1:] - y[:, :-1]
        n = d.norm(dim=-1, keepdim=True).clamp_min(1e-6)
        c = 0.5 * (n - bond) / n * d
        delta = torch.zeros_like(y)
        delta[:, :-1] = delta[:, :-1] + c
        delta[:, 1:] = delta[:, 1:] - c
        if targets is not None:
            for k in range(targets[0].shape[-1]):
                sep = k + 2
                if sep >= L:
                    break
                d = y[:, sep:] - y[:, :-sep]
                n = d.norm(dim=-1, keepdim=True).clamp_min(1e-6)
                goal, weight = targets[0][:, :-sep, k : k + 1], targets[1][:, :-sep, k : k + 1]
                c = 0.5 * weight * (n - goal) / n * d
                delta[:, :-sep] = delta[:, :-sep] + c
                delta[:, sep:] = delta[:, sep:] - c
        diff = y[:, None, :, :] - y[:, :, None, :]  # [B, i, j, 3] = y_j - y_i
        dist = diff.norm(dim=-1).clamp_min(1e-6)
        push = 0.5 * torch.relu(clash - dist) / dist * far
        delta = delta - (push.unsqueeze(-1) * diff).sum(2)
        y = y + omega * delta
    return y
