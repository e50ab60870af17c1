r"""Classifier-free guidance around a composition, with one shared unconditional model.

With M conditional models ``s_i`` composed by an operator into ``u = Σ κ_i s_i`` and an unconditional model
``s_u``, a guided reverse step is

.. math:: dx = \big(-f + \lambda g^2 v\big)\,d\tau + \xi, \qquad v = s_u + w\,(u - s_u) = w\,u + (1 - w)\,s_u.

The engine tracks the CONDITIONAL models' log densities (the densities the operator compares, as in the paper's
LDMol experiment). Model i's Itô increment under this step is

.. math:: d\log q^i = \lambda w g^2 d\tau \langle u, s_i\rangle + \lambda (1 - w) g^2 d\tau \langle s_u, s_i\rangle
          + \langle \xi, s_i\rangle + (\nabla\!\cdot\! f - \tfrac12 g^2 |s_i|^2)\,d\tau,

the engine's unguided step with drift scale ``λ w`` plus a term known before the step. So an operator sees the
guided step through two :class:`~superdiff.engine.operators.StepContext` slots, ``drift_scale = λ w`` and
``log_q_extra += λ (1 − w) g² dτ ⟨s_u, s_i⟩``, and :class:`~superdiff.And` keeps the conditional densities equal
under guidance with no change to its math. ``kappa_from="unguided"`` is the reference recipe instead: κ solved
as if the step were unguided, guidance applied afterwards (AND's equality then holds only at ``w = 1``).

**Sharpening** is guidance against a flat unconditional density (``unconditional=None``: ``s_u = 0``, never
evaluated): the drift becomes ``λ g² w u``, a lower-temperature sampler (for one Gaussian model ``N(m, I)`` on a VP
path the samples' variance falls to about ``1 / (2w − 1)``), the usual inference knob of protein diffusion models
(FrameDiff's and Chroma's temperatures). Nothing else changes: the Itô estimator holds along any drift, so every
model's log density stays exact, and AND still keeps them equal.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import Tensor

KAPPA_FROM = ("guided", "unguided")
DEFAULT_KAPPA_FROM = "guided"


@dataclass(frozen=True)
class Guidance:
    """Classifier-free guidance of weight ``w`` around the composed conditional models.

    Attributes:
        unconditional: the shared unconditional score model ``(x [B, *shape], t [B]) -> [B, *shape]``, or None for
            a flat density (score 0): sharpening, the drift ``w u``.
        weight: ``w > 0``; 1 is no guidance (the unconditional model is then never evaluated).
        kappa_from: "guided" solves the operator's weights for the guided step; "unguided" solves them as if
            the step were unguided (the reference LDMol recipe).
    """

    unconditional: Callable[[Tensor, Tensor], Tensor] | None
    weight: float
    kappa_from: str = DEFAULT_KAPPA_FROM

    def __post_init__(self) -> None:
        if not float(self.weight) > 0:
            raise ValueError(f"guidance weight must be > 0, got {self.weight}")
        if self.kappa_from not in KAPPA_FROM:
            raise ValueError(f"guidance kappa_from must be one of {KAPPA_FROM}, got {self.kappa_from!r}")

    @property
    def active(self) -> bool:
        """False for ``w = 1``, where guidance changes nothing."""
        return float(self.weight) != 1.0

    def drift_scale(self, lam: float) -> float:
        """The drift scale the operator should assume for its weights."""
        return lam * float(self.weight) if self.kappa_from == "guided" else lam

    def log_q_extra(self, scores: Tensor, s_u: Tensor | None, lam: float, g2: float, dtau: float) -> Tensor | None:
        """``[B, M]`` float64: the unconditional drift's part of each ``d log q^i``, known before the step (guided
        κ only; with unguided κ the operator ignores it)."""
        if self.kappa_from != "guided" or s_u is None:
            return None
        return lam * (1.0 - float(self.weight)) * g2 * dtau * (scores.double() * s_u.double()[:, None]).sum(-1)

    def velocity(self, combined: Tensor, s_u: Tensor | None) -> Tensor:
        """``v = w u + (1 − w) s_u`` ``[B, D]`` from the operator's combined score ``u`` (``w u`` when flat)."""
        w = float(self.weight)
        return w * combined if s_u is None else (1.0 - w) * s_u + w * combined
