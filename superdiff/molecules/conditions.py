"""Property labels the latent diffusion model is conditioned on, and their encoding.

A condition vector holds, per label k, ``(mask_k, mask_k * value_k)``: ``mask = 0`` means "not specified"
(marginalised), so one network gives ``p(x)``, ``p(x | gsk3b)``, ``p(x | druglike)`` and the joint
``p(x | gsk3b, druglike)`` (the ``joint`` baseline). Training drops each label independently and all labels at
once with some probability (classifier-free guidance).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

#: label -> definition (the predictors' probability threshold and the QED cut).
LABELS: dict[str, str] = {
    "gsk3b": "GSK3β forest probability >= 0.5",
    "jak2": "JAK2 forest probability >= 0.5",
    "druglike": "QED >= 0.6",
}
ACTIVITY_THRESHOLD = 0.5
QED_THRESHOLD = 0.6


def check_conditions(names: Sequence[str], trained: Sequence[str]) -> list[str]:
    """Validate condition names against the known labels and the labels the loaded model was trained on."""
    out = []
    for name in names:
        if name not in LABELS:
            raise ValueError(f"unknown condition {name!r}; expected one of {sorted(LABELS)}")
        if name not in trained:
            raise ValueError(f"condition {name!r} is not one the loaded diffusion model was trained on "
                             f"(trained labels: {list(trained)})")
        out.append(name)
    if len(set(out)) != len(out):
        raise ValueError(f"conditions must be distinct, got {list(names)}")
    return out


def encode(required: Sequence[str], labels: Sequence[str], batch: int, device=None) -> Tensor:
    """Condition tensor ``[batch, 2K]`` requiring every label in ``required`` to be positive (others unspecified)."""
    vec = torch.zeros(2 * len(labels))
    for name in required:
        k = list(labels).index(name)
        vec[2 * k] = 1.0
        vec[2 * k + 1] = 1.0
    return vec.to(device).expand(batch, -1)


def training_conditions(y: np.ndarray, drop_label: float, drop_all: float, rng: np.random.Generator) -> np.ndarray:
    """Randomly masked condition vectors for a batch of binary labels ``y [B, K]`` -> ``[B, 2K]`` float32."""
    b, k = y.shape
    mask = (rng.random((b, k)) >= drop_label) & (rng.random((b, 1)) >= drop_all)
    out = np.zeros((b, 2 * k), dtype=np.float32)
    out[:, 0::2] = mask
    out[:, 1::2] = mask * y
    return out
