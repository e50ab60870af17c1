"""The GRU recurrence written out step by step over an ``nn.GRU``'s own parameters, for training on CPUs.

PyTorch's CPU ``nn.GRU`` slices its ``[B, T, 3H]`` input projection once per time step, and the backward pass of
every slice allocates and zero-fills a full ``[B, T, 3H]`` gradient: O(T²) memory traffic that was 60 % of an
autoencoder training step (T ≈ 40 SELFIES tokens). Here the projection is unbound into per-step views once, whose
backward stacks the T gradients in one allocation. Same equations and parameters as ``nn.GRU`` (gates r, z, n in
that order; ``h' = (1 − z) n + z h``), so a module keeps its state dict and checkpoints load unchanged.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F


def _recur(x_proj: Tensor, h: Tensor, w_hh: Tensor, b_hh: Tensor) -> Tensor:
    """Hidden states ``[B, T, H]`` from input projections ``[B, T, 3H]`` and the initial state ``h [B, H]``."""
    out = []
    for xt in x_proj.unbind(1):
        xr, xz, xn = xt.chunk(3, dim=-1)
        hr, hz, hn = F.linear(h, w_hh, b_hh).chunk(3, dim=-1)
        r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
        n = torch.tanh(xn + r * hn)
        h = n + z * (h - n)
        out.append(h)
    return torch.stack(out, dim=1)


def gru_sequence(gru: nn.GRU, x: Tensor, h0: Tensor) -> Tensor:
    """Outputs ``[B, T, H]`` of a one-layer, unidirectional, batch-first ``gru`` on ``x [B, T, I]`` from
    ``h0 [B, H]`` (as ``gru(x, h0[None])[0]``)."""
    return _recur(F.linear(x, gru.weight_ih_l0, gru.bias_ih_l0), h0, gru.weight_hh_l0, gru.bias_hh_l0)


def bidirectional_final_states(gru: nn.GRU, x: Tensor, lengths: Tensor) -> Tensor:
    """Final hidden states ``[2, B, H]`` (forward, backward) of a one-layer, bidirectional, batch-first ``gru`` on
    padded ``x [B, T, I]`` with true lengths ``[B]``: what ``gru`` returns on the packed sequence. The backward
    direction reads each sequence reversed within its own length (padding stays at the end)."""
    b, t = x.shape[:2]
    lengths = lengths.to(x.device)
    last = (lengths - 1).clamp_min(0)
    rows = torch.arange(b, device=x.device)
    h0 = x.new_zeros(b, gru.hidden_size)
    forward = _recur(F.linear(x, gru.weight_ih_l0, gru.bias_ih_l0), h0, gru.weight_hh_l0, gru.bias_hh_l0)
    steps = torch.arange(t, device=x.device)[None]
    order = torch.where(steps < lengths[:, None], last[:, None] - steps, steps)  # reverse the valid part
    reversed_x = x.gather(1, order[..., None].expand(-1, -1, x.shape[-1]))
    backward = _recur(F.linear(reversed_x, gru.weight_ih_l0_reverse, gru.bias_ih_l0_reverse), h0,
                      gru.weight_hh_l0_reverse, gru.bias_hh_l0_reverse)
    return torch.stack([forward[rows, last], backward[rows, last]])
