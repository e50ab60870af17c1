"""Engine defects found in review, each pinned by a test that failed before its fix."""

import torch

import superdiff
from superdiff.engine.seeds import NoiseSource, population_generator

from .conftest import gaussian, gen, standard_normal, true_log_q


def _and_estimates(schedule, estimator: str, widths=(1.0, 1.0)):
    models = [gaussian([1.5, 0.0], widths[0], schedule), gaussian([-1.5, 0.0], widths[1], schedule)]
    x0 = standard_normal(400, 2, seed=1)
    init = torch.stack([m.log_prob(x0, 1.0) for m in models], dim=1)
    result = superdiff.sample(models, schedule, superdiff.And(), x_init=x0, log_q_init=init, steps=500,
                              generator=gen(0), dtype=torch.float64, estimator=estimator)
    return result.log_q - true_log_q(models, result.x)


def test_and_with_the_kernel_ratio_estimator_adds_the_removed_noise_once(schedule):
    """Was: the curvature term added on top of the kernel ratio's own reaction to the removed noise (+5 nats)."""
    for widths in ((1.0, 1.0), (1.0, 0.5)):
        ito = _and_estimates(schedule, "ito", widths)
        kernel = _and_estimates(schedule, "kernel_ratio", widths)
        assert ito.mean(0).abs().max() < 0.15, widths
        assert kernel.mean(0).abs().max() < 0.15, widths


def test_resampling_draws_come_from_a_stream_independent_of_the_noise():
    """Was: a shared generator's seed seeded the resampler too, so its uniforms repeated the noise's draws."""
    shared = gen(1234)
    resampler = population_generator(None, shared)
    noise_twin = torch.Generator().manual_seed(shared.initial_seed())
    assert resampler.initial_seed() != shared.initial_seed()
    assert not torch.equal(torch.rand(8, generator=resampler), torch.rand(8, generator=noise_twin))
    per_design = population_generator([5, 6, 7], None)
    design_noise = NoiseSource(3, torch.device("cpu"), None, [5, 6, 7])
    assert per_design.initial_seed() not in {g.initial_seed() for g in design_noise.generators}


def test_product_with_given_starting_points_does_not_weight_them_as_standard_normal(schedule):
    """Was: ``x_init`` drawn from the product's own prior N(0, I/2) got weights as if drawn from N(0, I)."""
    models = [gaussian([1.0, 0.0], 1.0, schedule), gaussian([-1.0, 0.0], 1.0, schedule)]
    x0 = standard_normal(64, 2, seed=3) * 0.5**0.5
    result = superdiff.sample(models, schedule, superdiff.Product(resample=False), x_init=x0, steps=1,
                              generator=gen(0), dtype=torch.float64)
    step_only = superdiff.engine.operators.product_log_weight_increment(
        torch.stack([m(x0, torch.ones(64, dtype=torch.float64)) for m in models], dim=1),
        torch.ones(2, dtype=torch.float64), float(schedule.beta(1.0)), 1.0 - 1e-3,
        float(schedule.divergence_of_drift(1.0, 2)))
    assert torch.allclose(result.log_w, step_only)  # no N(0, I) term at the start
    # with the proposal's density given, the start weights are target / proposal: constant for the exact prior
    # N(0, I/2) of a product of two N(0, I) priors, varying for a declared N(0, I) proposal
    for variance, varies in ((0.5, False), (1.0, True)):
        log_p = -0.5 * x0.pow(2).sum(1) / variance - torch.log(torch.tensor(2 * torch.pi * variance,
                                                                             dtype=torch.float64))
        weighted = superdiff.sample(models, schedule, superdiff.Product(resample=False), x_init=x0,
                                    x_init_log_density=log_p, steps=1, generator=gen(0), dtype=torch.float64)
        assert ((weighted.log_w - step_only).std() > 0.1) == varies


def test_non_finite_results_are_refused_not_returned(schedule):
    model = gaussian([0.0, 0.0], 1.0, schedule)

    def overflows_late(x, t):
        score = model(x, t)
        return score * torch.where(t[:, None] < 0.1, torch.tensor(1e300, dtype=x.dtype), torch.ones((), dtype=x.dtype))

    try:
        superdiff.sample([overflows_late], schedule, superdiff.Single(0), shape=(2,), seeds=[0, 1], steps=20,
                         dtype=torch.float64)
    except FloatingPointError as err:
        assert "not finite" in str(err) or "non-finite" in str(err)
    else:
        raise AssertionError("non-finite samples were returned")
