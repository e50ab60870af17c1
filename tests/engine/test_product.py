"""Product / annealing / negation with Feynman–Kac weights and SMC resampling (SCIENCE.md section 5)."""

import pytest
import torch

import superdiff
from superdiff.engine.analytic import GaussianMixture, product_of_gaussians
from superdiff.engine.smc import effective_sample_size, systematic_resample


def _run(models, operator, n, seed, steps=300):
    schedule = models[0].schedule
    x_init = torch.randn(n, 1, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return superdiff.sample(models, schedule, operator, x_init=x_init, steps=steps, dtype=torch.float64,
                            generator=torch.Generator().manual_seed(seed + 1))


def _weighted(result):
    w = torch.softmax(result.log_w, 0)
    mean = (w * result.x[:, 0]).sum()
    std = (w * (result.x[:, 0] - mean) ** 2).sum().sqrt()
    return w, mean.item(), std.item()


@pytest.mark.slow  # ~4 s of SMC; the fast lane keeps the other product oracles
def test_product_of_two_gaussians_is_exact_and_score_summing_is_not(schedule):
    models = [GaussianMixture([[1.0]], 1.0, schedule=schedule), GaussianMixture([[-1.0]], 0.6, schedule=schedule)]
    mean, std = product_of_gaussians(torch.tensor(1.0), 1.0, torch.tensor(-1.0), 0.6)
    smc = _run(models, superdiff.Product(), 60_000, seed=0)
    _, smc_mean, smc_std = _weighted(smc)
    assert abs(smc_mean - mean.item()) < 0.02 and abs(smc_std - std) < 0.02
    assert smc.ess.shape == (300,) and smc.ancestry.shape == (300, 60_000)
    assert (smc.ancestry != torch.arange(60_000)).any(), "the population was never resampled"
    summed = _run(models, superdiff.Product(resample=False), 20_000, seed=0)
    assert abs(summed.x[:, 0].mean().item() - mean.item()) > 0.07  # plain score summing is biased
    assert abs(summed.x[:, 0].std().item() - std) > 0.04


def test_annealing_sharpens_a_mixture(schedule):
    mixture = GaussianMixture([[2.0], [-2.0]], 0.5, [0.7, 0.3], schedule=schedule)
    result = _run([mixture], superdiff.Product([2.0]), 20_000, seed=0)
    w, _, _ = _weighted(result)
    right = result.x[:, 0] > 0
    # p^2 for well-separated equal-width components: weights ∝ w_k^2, widths / sqrt(2).
    assert abs(w[right].sum().item() - 0.49 / 0.58) < 0.02
    right_mean = (w[right] * result.x[right, 0]).sum() / w[right].sum()
    right_std = ((w[right] * (result.x[right, 0] - right_mean) ** 2).sum() / w[right].sum()).sqrt()
    assert abs(right_std.item() - 0.5 / 2**0.5) < 0.02


def test_negation_steers_away_from_a_model(schedule):
    a = GaussianMixture([[0.0]], 1.0, schedule=schedule)
    b = GaussianMixture([[2.0]], 2.0, schedule=schedule)
    result = _run([a, b], superdiff.Product([1.0, -0.5]), 20_000, seed=0)
    _, mean, std = _weighted(result)
    precision = 1.0 - 0.5 / 4.0  # N(0, 1) / N(2, 4)^0.5
    assert abs(mean - (-0.5 * 2.0 / 4.0) / precision) < 0.04
    assert abs(std - precision**-0.5) < 0.03


def test_resampling_is_reproducible_from_per_design_seeds(schedule):
    models = [GaussianMixture([[1.0, 0.0]], 1.0, schedule=schedule),
              GaussianMixture([[-1.0, 0.0]], 0.6, schedule=schedule)]
    op = superdiff.Product(ess_threshold=0.9)
    first = superdiff.sample(models, schedule, op, shape=(2,), seeds=range(64), steps=60)
    again = superdiff.sample(models, schedule, op, shape=(2,), seeds=range(64), steps=60)
    other = superdiff.sample(models, schedule, op, shape=(2,), seeds=range(1, 65), steps=60)
    assert torch.equal(first.x, again.x) and torch.equal(first.ancestry, again.ancestry)
    assert not torch.equal(first.x, other.x)


def test_systematic_resampling_copies_in_proportion_to_weight():
    log_w = torch.log(torch.tensor([0.5, 0.25, 0.125, 0.125], dtype=torch.float64))
    counts = torch.bincount(systematic_resample(log_w, torch.Generator().manual_seed(0)), minlength=4)
    assert counts.tolist() == [2, 1, 0, 1] or counts.tolist() == [2, 1, 1, 0]
    assert effective_sample_size(torch.zeros(10)).item() == pytest.approx(10.0)


def test_product_refuses_reduced_noise_and_bad_settings(schedule):
    model = GaussianMixture([[0.0]], 1.0, schedule=schedule)
    with pytest.raises(ValueError, match="full-noise SDE"):
        superdiff.sample([model, model], schedule, superdiff.Product(), shape=(1,), seeds=[0], method="ode")
    with pytest.raises(ValueError, match="ess_threshold"):
        superdiff.Product(ess_threshold=0.0)
    with pytest.raises(ValueError, match="Product weights has length 3"):
        superdiff.sample([model, model], schedule, superdiff.Product([1, 1, 1]), shape=(1,), seeds=[0])


def test_resample_until_stops_resampling_late_and_keeps_weighted_estimates_exact(schedule):
    models = [GaussianMixture([[1.0]], 1.0, schedule=schedule), GaussianMixture([[-1.0]], 0.6, schedule=schedule)]
    mean, std = product_of_gaussians(torch.tensor(1.0), 1.0, torch.tensor(-1.0), 0.6)
    result = _run(models, superdiff.Product(resample_until=0.3), 40_000, seed=2)
    late = result.t[1:] < 0.3
    identity = torch.arange(40_000)
    assert all(torch.equal(parents, identity) for parents in result.ancestry[late])
    assert any(not torch.equal(parents, identity) for parents in result.ancestry[~late])
    _, weighted_mean, weighted_std = _weighted(result)
    assert abs(weighted_mean - mean.item()) < 0.03 and abs(weighted_std - std) < 0.03
    with pytest.raises(ValueError, match="resample_until"):
        superdiff.Product(resample_until=1.0)
    with pytest.raises(ValueError, match="weights must be finite"):
        superdiff.sample(models, schedule, superdiff.Product([float("nan"), 1.0]), shape=(1,), seeds=[0], steps=2)
