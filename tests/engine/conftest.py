import pytest
import torch

import superdiff
from superdiff.engine.analytic import GaussianMixture


@pytest.fixture
def schedule():
    return superdiff.VPLinear()


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def standard_normal(n: int, d: int, seed: int) -> torch.Tensor:
    return torch.randn(n, d, generator=gen(seed), dtype=torch.float64)


def gaussian(mean, std, schedule) -> GaussianMixture:
    return GaussianMixture([mean], std, schedule=schedule)


def true_log_q(models, x, t=1e-3) -> torch.Tensor:
    return torch.stack([m.log_prob(x, t) for m in models], dim=1)
