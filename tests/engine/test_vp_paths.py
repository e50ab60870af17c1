import pytest
import torch

from superdiff import VPCosine, VPLinear

SCHEDULES = [VPLinear(), VPLinear(0.1, 12.0), VPCosine()]


@pytest.mark.parametrize("schedule", SCHEDULES, ids=repr)
def test_variance_preserving_and_beta_is_log_alpha_derivative(schedule):
    t = torch.linspace(0.01, 0.99, 50, dtype=torch.float64)
    assert torch.allclose(schedule.alpha(t) ** 2 + schedule.sigma(t) ** 2, torch.ones_like(t), atol=1e-12)
    h = 1e-6
    numeric = -2 * (schedule.log_alpha(t + h) - schedule.log_alpha(t - h)) / (2 * h)
    assert torch.allclose(schedule.beta(t), numeric, rtol=1e-5)
    assert torch.allclose(schedule.diffusion(t) ** 2, schedule.beta(t))


@pytest.mark.parametrize("schedule", [VPLinear(), VPCosine()], ids=repr)
def test_endpoints(schedule):
    assert float(schedule.alpha(0.0)) == pytest.approx(1.0, abs=1e-9)
    assert float(schedule.alpha(1.0)) < 0.01  # the prior is (nearly) N(0, I)


def test_drift_broadcasts_per_sample_time():
    schedule = VPLinear()
    x = torch.ones(3, 4, 2, dtype=torch.float64)
    t = torch.tensor([0.1, 0.5, 0.9], dtype=torch.float64)
    f = schedule.drift(x, t)
    assert torch.allclose(f[:, 0, 0], -0.5 * schedule.beta(t))


def test_bad_schedule_parameters_are_named():
    with pytest.raises(ValueError, match="beta_min"):
        VPLinear(beta_min=5.0, beta_max=1.0)
