"""Score models: the contract every composed model satisfies, adapters from ε-, x0- and velocity networks on any
Gaussian path, and :func:`align`, which puts a model trained on one path on another path's clock.

SCIENCE.md sections 1 and 9: ε-prediction ``s = −ε̂ / σ_t``; x0-prediction ``s = −(x − α_t x̂0) / σ_t²``;
velocity ``v = α̇ x0 + σ̇ ε``: ``s = (α v − α̇ x) / (σ (α̇ σ − α σ̇))``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

from torch import Tensor

from superdiff.engine import paths
from superdiff.engine.paths import GaussianPath

Network = Callable[[Tensor, Tensor], Tensor]


@runtime_checkable
class ScoreModel(Protocol):
    """Any callable ``model(x, t) -> score``.

    Args:
        x: noisy samples, ``[B, *shape]``.
        t: forward diffusion time per sample, ``[B]`` in (0, 1]; ``t = 1`` is noise.

    Returns:
        ``∇_x log q_t(x)``, the same shape as ``x``. To use the curvature-corrected AND or the
        Hutchinson (ODE) density estimate the output must be differentiable with respect to ``x``.
    """

    def __call__(self, x: Tensor, t: Tensor) -> Tensor: ...


class _Adapter:
    """A network ``net(x, t)`` on ``path`` seen as a score model; optional attributes of ``net`` show through."""

    def __init__(self, net: Network, path: GaussianPath):
        self.net = net
        self.path = path

    def __getattr__(self, name: str):
        # coord_scale, check_length and the like belong to the network (only reached for missing attributes)
        if name in ("net", "path"):
            raise AttributeError(name)
        return getattr(self.net, name)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.net!r}, {self.path!r})"


class EpsilonScore(_Adapter):
    """``s = −ε̂(x, t) / σ_t``."""

    def __call__(self, x: Tensor, t: Tensor) -> Tensor:
        return paths.score_from_epsilon(self.net(x, t), x, t, self.path)


class X0Score(_Adapter):
    """``s = −(x − α_t x̂0(x, t)) / σ_t²``."""

    def __call__(self, x: Tensor, t: Tensor) -> Tensor:
        return paths.score_from_x0(self.net(x, t), x, t, self.path)


class VelocityScore(_Adapter):
    """``s = (α v − α̇ x) / (σ (α̇ σ − α σ̇))`` for a velocity network ``v(x, t)`` (flow matching)."""

    def __call__(self, x: Tensor, t: Tensor) -> Tensor:
        return paths.score_from_velocity(self.net(x, t), x, t, self.path)


def from_epsilon(net: Network, path: GaussianPath) -> EpsilonScore:
    """Wrap a network predicting the added noise ε on ``path`` as a score model."""
    return EpsilonScore(net, path)


def from_x0(net: Network, path: GaussianPath) -> X0Score:
    """Wrap a network predicting the clean sample x0 on ``path`` as a score model."""
    return X0Score(net, path)


def from_velocity(net: Network, path: GaussianPath) -> VelocityScore:
    """Wrap a velocity network ``v = α̇ x0 + σ̇ ε`` on ``path`` (e.g. flow matching on the linear interpolant)."""
    return VelocityScore(net, path)


class AlignedModel:
    r"""A score model trained on path B, evaluated on path A's clock (SCIENCE.md §9).

    At A's time t it evaluates the model at B's time t' of equal log-SNR and at the rescaled point ``c x``,
    ``c = α_B(t') / α_A(t)``: ``s_A(x, t) = c · s_B(c x, t')``. Its log density differs from B's by the constant
    ``d log c`` at each t; :meth:`log_density_offset` gives it (the engine's log densities are estimated along the
    path, so only the starting value needs it).
    """

    def __init__(self, model: Network, trained_on: GaussianPath, sample_on: GaussianPath):
        self.model = model
        self.trained_on = trained_on
        self.sample_on = sample_on

    def __call__(self, x: Tensor, t: Tensor) -> Tensor:
        aligned = paths.align_time(t, self.trained_on, self.sample_on)
        scale = paths.broadcast_over(x, aligned.scale)
        return scale * self.model(scale * x, aligned.t_prime.to(t.dtype))

    def log_density_offset(self, t: float, dim: int) -> float:
        """``log q_A(x, t) − log q_B(c x, t') = d log c`` (nats) for ``dim`` diffusing coordinates."""
        return dim * float(paths.align_time(t, self.trained_on, self.sample_on).log_scale)

    def __getattr__(self, name: str):
        if name in ("model", "trained_on", "sample_on"):
            raise AttributeError(name)
        return getattr(self.model, name)

    def __repr__(self) -> str:
        return f"align({self.model!r}, trained_on={self.trained_on!r}, sample_on={self.sample_on!r})"


def align(model: Network, trained_on: GaussianPath, sample_on: GaussianPath) -> Network:
    """Put a score model trained on ``trained_on`` on the clock of ``sample_on`` (identity when they are equal)."""
    if trained_on == sample_on:
        return model
    return AlignedModel(model, trained_on, sample_on)
