"""Classifier-free guidance around a composition (superdiff.Guidance), against closed-form Gaussians."""

import pytest
import torch

import superdiff
from superdiff.engine.analytic import GaussianMixture

SCHED = superdiff.VPLinear()


def _models():
    a = GaussianMixture([1.5, 0.0], 1.0, schedule=SCHED)
    b = GaussianMixture([-1.5, 0.0], 1.0, schedule=SCHED)
    u = GaussianMixture([[1.5, 0.0], [-1.5, 0.0]], 1.0, schedule=SCHED)
    return a, b, u


def _sample(models, operator, guidance, seeds, steps, **kwargs):
    return superdiff.sample(models, SCHED, operator, shape=(2,), seeds=seeds, steps=steps, dtype=torch.float64,
                            guidance=guidance, **kwargs)


def test_guided_single_gaussian_matches_closed_form():
    """Conditional N(m, I), unconditional N(0, I): s_u + w (s_c − s_u) is the score of N(α_t w m, I) at every t,
    so guided samples are N(w m, I). The tracked log density is the CONDITIONAL model's: its error at x shrinks
    like 1/steps (mean) and 1/sqrt(steps) (RMS), as unguided (no bias left by the guidance term)."""
    cond = GaussianMixture([1.0, -0.5], 1.0, schedule=SCHED)
    uncond = GaussianMixture([0.0, 0.0], 1.0, schedule=SCHED)
    x0 = torch.randn(3000, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    errors = {}
    for steps in (200, 800):
        res = superdiff.sample([cond], SCHED, superdiff.Single(0), x_init=x0, steps=steps, dtype=torch.float64,
                               generator=torch.Generator().manual_seed(1), guidance=superdiff.Guidance(uncond, 2.0))
        error = res.log_q[:, 0] - cond.log_prob(res.x, 1e-3)
        errors[steps] = (error.mean().item(), error.pow(2).mean().sqrt().item())
    torch.testing.assert_close(res.x.mean(0), torch.tensor([2.0, -1.0], dtype=torch.float64), atol=0.06, rtol=0)
    torch.testing.assert_close(res.x.std(0), torch.ones(2, dtype=torch.float64), atol=0.05, rtol=0)
    (mean_200, rms_200), (mean_800, rms_800) = errors[200], errors[800]
    assert abs(mean_800) < 0.07 and abs(mean_800) < 0.5 * abs(mean_200)
    assert rms_800 < 0.6 * rms_200


def test_sharpening_matches_closed_form():
    """A flat unconditional density (sharpening, drift w s) on data N(m, I) under VP: the reverse SDE is linear, its
    mean stays α m and its variance solves v' = (2w − 1) β v − β, so at t_min
    v = v* + (1 − v*) (α_1 / α_tmin)^(2(2w − 1)) with v* = 1 / (2w − 1) (0.5 at w = 1.5: a lower temperature). The
    log density tracked is still the model's own, exact up to the Euler error (which shrinks with the steps)."""
    cond = GaussianMixture([1.0, -0.5], 1.0, schedule=SCHED)
    x0 = torch.randn(4000, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    w, t_min = 1.5, 1e-3
    errors = {}
    for steps in (200, 800):
        res = superdiff.sample([cond], SCHED, superdiff.Single(0), x_init=x0, steps=steps, dtype=torch.float64,
                               t_min=t_min, generator=torch.Generator().manual_seed(1),
                               guidance=superdiff.Guidance(None, w))
        error = res.log_q[:, 0] - cond.log_prob(res.x, t_min)
        errors[steps] = (error.mean().item(), error.pow(2).mean().sqrt().item())
    alpha_min, alpha_1 = (SCHED.log_alpha(torch.tensor(t)).exp().item() for t in (t_min, 1.0))
    v_star = 1.0 / (2 * w - 1)
    variance = v_star + (1 - v_star) * (alpha_1 / alpha_min) ** (2 * (2 * w - 1))
    mean = alpha_min * torch.tensor([1.0, -0.5], dtype=torch.float64)
    torch.testing.assert_close(res.x.mean(0), mean, atol=0.04, rtol=0)
    torch.testing.assert_close(res.x.var(0), torch.full((2,), variance, dtype=torch.float64), atol=0.04, rtol=0)
    (mean_200, rms_200), (mean_800, rms_800) = errors[200], errors[800]
    assert abs(mean_800) < 0.1 and abs(mean_800) < 0.5 * abs(mean_200)
    assert rms_800 < 0.6 * rms_200


def test_sharpened_and_keeps_log_densities_equal_and_product_refuses():
    a, b, _ = _models()
    res = _sample([a, b], superdiff.And(curvature_correction=False), superdiff.Guidance(None, 1.5), list(range(16)),
                  100)
    assert (res.log_q[:, 0] - res.log_q[:, 1]).abs().max() < 1e-6
    with pytest.raises(ValueError, match="multiply its exponents by w"):
        _sample([a, b], superdiff.Product(), superdiff.Guidance(None, 1.5), [1], 5)


def test_guided_and_keeps_log_densities_equal():
    """Under guidance w = 3 the AND step changes both conditional log densities by the same amount and lands
    between the two modes (x_1 near 0), unlike a single condition; with κ solved as if unguided it does not."""
    a, b, u = _models()
    seeds = list(range(64))
    res = _sample([a, b], superdiff.And(curvature_correction=False), superdiff.Guidance(u, 3.0), seeds, 200)
    assert (res.log_q[:, 0] - res.log_q[:, 1]).abs().max() < 1e-6
    assert res.x[:, 0].abs().mean() < 0.2
    single = _sample([a, b], superdiff.Single(0), superdiff.Guidance(u, 3.0), seeds, 200)
    assert single.x[:, 0].mean() > 1.0
    unguided = _sample([a, b], superdiff.And(curvature_correction=False),
                       superdiff.Guidance(u, 3.0, kappa_from="unguided"), seeds, 200)
    assert (unguided.log_q[:, 0] - unguided.log_q[:, 1]).abs().max() > 1e-3


@pytest.mark.parametrize("operator", [superdiff.Average(), superdiff.Or(), superdiff.And()])
def test_unit_weight_is_no_guidance(operator):
    a, b, u = _models()
    ours = _sample([a, b], operator, superdiff.Guidance(u, 1.0), [3, 4, 5, 6], 60)
    ref = _sample([a, b], operator, None, [3, 4, 5, 6], 60)
    torch.testing.assert_close(ours.x, ref.x, rtol=0, atol=0)


def test_guided_sampling_is_batch_invariant():
    a, b, u = _models()
    g = superdiff.Guidance(u, 2.0)
    whole = _sample([a, b], superdiff.And(), g, [1, 2, 3, 4], 30)
    parts = _sample([a, b], superdiff.And(), g, [1, 2, 3, 4], 30, batch_size=1)
    torch.testing.assert_close(whole.x, parts.x, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(whole.log_q, parts.log_q, rtol=1e-10, atol=1e-9)


def test_bad_guidance():
    a, b, u = _models()
    with pytest.raises(ValueError, match=r"guidance weight must be > 0, got 0\.0"):
        superdiff.Guidance(u, 0.0)
    with pytest.raises(ValueError, match=r"kappa_from must be one of .*'sideways'"):
        superdiff.Guidance(u, 2.0, kappa_from="sideways")
    with pytest.raises(ValueError, match="cannot run inside guidance"):
        _sample([a, b], superdiff.Product(), superdiff.Guidance(u, 2.0), [1], 5)
    with pytest.raises(ValueError, match="shape"):
        _sample([a, b], superdiff.Average(), superdiff.Guidance(lambda x, t: x[:, :1], 2.0), [1], 5)
