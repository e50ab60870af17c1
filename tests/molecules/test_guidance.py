"""Composition inside classifier-free guidance, checked against the engine and closed-form Gaussians."""

import pytest
import torch

import superdiff
from superdiff.analytic import GaussianMixture
from superdiff.molecules.guidance import sample_guided

SCHED = superdiff.VPSchedule()


def _models(dtype=torch.float64):
    a = GaussianMixture([1.5, 0.0], 1.0, schedule=SCHED)
    b = GaussianMixture([-1.5, 0.0], 1.0, schedule=SCHED)
    u = GaussianMixture([[1.5, 0.0], [-1.5, 0.0]], 1.0, schedule=SCHED)
    return a, b, u


@pytest.mark.parametrize("operator", [superdiff.Average(), superdiff.Or(), superdiff.And()])
def test_no_guidance_equals_engine(operator):
    """With w = 1 the guided loop is exactly superdiff.sample (same seeds, same noise order)."""
    a, b, u = _models()
    seeds = [3, 4, 5, 6]
    ours = sample_guided([a, b], u, SCHED, operator, guidance=1.0, dim=2, seeds=seeds, steps=60,
                         dtype=torch.float64)
    ref = superdiff.sample([a, b], SCHED, operator, shape=(2,), seeds=seeds, steps=60, dtype=torch.float64)
    torch.testing.assert_close(ours.x, ref.x, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(ours.log_q, ref.log_q, rtol=1e-9, atol=1e-8)


def test_guided_and_keeps_log_densities_equal():
    """Under guidance w = 3 the AND step still changes every conditional log density by the same amount,
    and lands between the two modes (x_1 near 0), unlike either single condition."""
    a, b, u = _models()
    seeds = list(range(64))
    res = sample_guided([a, b], u, SCHED, superdiff.And(curvature_correction=False), guidance=3.0, dim=2,
                        seeds=seeds, steps=200, dtype=torch.float64)
    gap = (res.log_q[:, 0] - res.log_q[:, 1]).abs()
    assert gap.max() < 1e-6
    assert res.x[:, 0].abs().mean() < 0.2
    single = sample_guided([a, b], u, SCHED, superdiff.Single(0), guidance=3.0, dim=2, seeds=seeds, steps=200,
                           dtype=torch.float64)
    assert single.x[:, 0].mean() > 1.0


def test_guided_sampling_is_batch_invariant():
    a, b, u = _models()
    whole = sample_guided([a, b], u, SCHED, superdiff.And(), guidance=2.0, dim=2, seeds=[1, 2, 3, 4], steps=30,
                          dtype=torch.float64)
    parts = sample_guided([a, b], u, SCHED, superdiff.And(), guidance=2.0, dim=2, seeds=[1, 2, 3, 4], steps=30,
                          batch_size=1, dtype=torch.float64)
    torch.testing.assert_close(whole.x, parts.x, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(whole.log_q, parts.log_q, rtol=1e-10, atol=1e-9)


def test_bad_guidance_and_operator_arity():
    a, b, u = _models()
    with pytest.raises(ValueError, match="guidance"):
        sample_guided([a, b], u, SCHED, superdiff.And(), guidance=0.0, dim=2, seeds=[1])
    with pytest.raises(ValueError, match="at least 2"):
        sample_guided([a], u, SCHED, superdiff.And(), guidance=2.0, dim=2, seeds=[1])
