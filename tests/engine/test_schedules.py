import pytest
import torch

from superdiff import CosineVPSchedule, VPSchedule
from superdiff.models import from_epsilon, from_x0

from .conftest import gaussian

SCHEDULES = [VPSchedule(), VPSchedule(0.1, 12.0), CosineVPSchedule()]


@pytest.mark.parametrize("schedule", SCHEDULES, ids=repr)
def test_variance_preserving_and_beta_is_log_alpha_derivative(schedule):
    t = torch.linspace(0.01, 0.99, 50, dtype=torch.float64)
    assert torch.allclose(schedule.alpha(t) ** 2 + schedule.sigma(t) ** 2, torch.ones_like(t), atol=1e-12)
    h = 1e-6
    numeric = -2 * (schedule.log_alpha(t + h) - schedule.log_alpha(t - h)) / (2 * h)
    assert torch.allclose(schedule.beta(t), numeric, rtol=1e-5)
    assert torch.allclose(schedule.diffusion(t) ** 2, schedule.beta(t))


@pytest.mark.parametrize("schedule", [VPSchedule(), CosineVPSchedule()], ids=repr)
def test_endpoints(schedule):
    assert float(schedule.alpha(0.0)) == pytest.approx(1.0, abs=1e-9)
    assert float(schedule.alpha(1.0)) < 0.01  # the prior is (nearly) N(0, I)


def test_drift_broadcasts_per_sample_time():
    schedule = VPSchedule()
    x = torch.ones(3, 4, 2, dtype=torch.float64)
    t = torch.tensor([0.1, 0.5, 0.9], dtype=torch.float64)
    f = schedule.drift(x, t)
    assert torch.allclose(f[:, 0, 0], -0.5 * schedule.beta(t))


def test_bad_schedule_parameters_are_named():
    with pytest.raises(ValueError, match="beta_min"):
        VPSchedule(beta_min=5.0, beta_max=1.0)


def test_epsilon_and_x0_adapters_recover_the_exact_score():
    schedule = VPSchedule()
    model = gaussian([1.0, -2.0], 0.7, schedule)
    x = torch.randn(6, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    t = torch.rand(6, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) * 0.9 + 0.05
    score = model.score(x, t)
    sigma = schedule.sigma(t)[:, None]
    alpha = schedule.alpha(t)[:, None]

    def eps_net(x, t):  # ε̂ = −σ s
        return -schedule.sigma(t)[:, None] * model.score(x, t)

    def x0_net(x, t):  # Tweedie: x̂0 = (x + σ² s) / α
        return (x + schedule.sigma(t)[:, None] ** 2 * model.score(x, t)) / schedule.alpha(t)[:, None]

    assert torch.allclose(from_epsilon(eps_net, schedule)(x, t), score, atol=1e-10)
    assert torch.allclose(from_x0(x0_net, schedule)(x, t), score, atol=1e-10)
    assert sigma.shape == alpha.shape
