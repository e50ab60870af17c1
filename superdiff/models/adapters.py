"""Turn ε- and x0-predicting networks into score models (SCIENCE.md section 1)."""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor

from superdiff.schedules import Schedule, _broadcast_over

Network = Callable[[Tensor, Tensor], Tensor]


class _Adapter:
    def __init__(self, net: Network, schedule: Schedule):
        self.net = net
        self.schedule = schedule

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.net!r})"


class EpsilonScore(_Adapter):
    """``s = -ε̂(x, t) / σ_t``."""

    def __call__(self, x: Tensor, t: Tensor) -> Tensor:
        return -self.net(x, t) / _broadcast_over(x, self.schedule.sigma(t))


class X0Score(_Adapter):
    """``s = -(x - α_t x̂0(x, t)) / σ_t²``."""

    def __call__(self, x: Tensor, t: Tensor) -> Tensor:
        alpha = _broadcast_over(x, self.schedule.alpha(t))
        sigma2 = _broadcast_over(x, self.schedule.sigma(t)) ** 2
        return -(x - alpha * self.net(x, t)) / sigma2


def from_epsilon(net: Network, schedule: Schedule) -> EpsilonScore:
    """Wrap a network predicting the added noise ε as a score model."""
    return EpsilonScore(net, schedule)


def from_x0(net: Network, schedule: Schedule) -> X0Score:
    """Wrap a network predicting the clean sample x0 as a score model."""
    return X0Score(net, schedule)
