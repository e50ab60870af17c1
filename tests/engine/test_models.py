"""Score-model adapters on every path, and models trained on different paths composed on one clock (SCIENCE.md §9)."""

import math

import pytest
import torch

import superdiff
from superdiff.engine.analytic import GaussianMixture
from superdiff.engine.models import AlignedModel, align, from_epsilon, from_velocity, from_x0

from .conftest import gen, standard_normal

PATHS = [superdiff.VPLinear(), superdiff.VPCosine(), superdiff.LinearInterpolant(), superdiff.VarianceExploding()]


@pytest.mark.parametrize("path", PATHS, ids=repr)
def test_epsilon_x0_and_velocity_adapters_recover_the_exact_score(path):
    model = GaussianMixture([[1.0, -2.0], [0.5, 1.0]], [0.7, 0.4], [0.6, 0.4], schedule=path)
    x = standard_normal(6, 2, seed=0)
    t = torch.rand(6, dtype=torch.float64, generator=gen(1)) * 0.9 + 0.05
    exact = model.score(x, t)
    for adapter in (from_epsilon(model.posterior_epsilon, path), from_x0(model.posterior_x0, path),
                    from_velocity(model.velocity, path)):
        assert torch.allclose(adapter(x, t), exact, rtol=1e-9, atol=1e-9), adapter


def test_an_adapter_shows_the_networks_attributes():
    class Net:
        coord_scale = 10.0

        def __call__(self, x, t):
            return x

    wrapped = from_velocity(Net(), superdiff.LinearInterpolant())
    assert wrapped.coord_scale == 10.0
    with pytest.raises(AttributeError):
        wrapped.no_such_attribute  # noqa: B018


def _experts_two_ways(vp):
    """Two unit Gaussians at ±1.5 e_1: both as exact VP scores, and the second as a flow-matching velocity network
    on the linear interpolant put on the VP clock with ``align``."""
    first = GaussianMixture([[1.5, 0.0]], 1.0, schedule=vp)
    second = GaussianMixture([[-1.5, 0.0]], 0.5, schedule=vp)
    interpolant = superdiff.LinearInterpolant()
    flow = from_velocity(second.on(interpolant).velocity, interpolant)
    return [first, second], [first, align(flow, trained_on=interpolant, sample_on=vp)]


@pytest.mark.parametrize(
    "operator",
    [superdiff.Or(bias=[math.log(0.3), math.log(0.7)]), superdiff.And(), superdiff.Average()],
    ids=repr,
)
def test_a_flow_matching_model_composes_with_a_vp_model_exactly_as_the_all_vp_composition(operator):
    vp = superdiff.VPLinear()
    all_vp, mixed = _experts_two_ways(vp)
    assert isinstance(mixed[1], AlignedModel)
    x0 = standard_normal(400, 2, seed=1)
    runs = [superdiff.sample(models, vp, operator, x_init=x0, steps=300, generator=gen(0), dtype=torch.float64)
            for models in (all_vp, mixed)]
    assert torch.allclose(runs[0].x, runs[1].x, atol=1e-6)
    assert torch.allclose(runs[0].log_q, runs[1].log_q, atol=1e-5)
    truth = torch.stack([m.log_prob(runs[1].x, 1e-3) for m in all_vp], dim=1)
    assert (runs[1].log_q - truth).mean(0).abs().max() < 0.25  # Itô bias at 300 steps (SCIENCE.md §2: ~0.19)


def test_or_across_paths_recovers_the_mixture_weight():
    vp = superdiff.VPLinear()
    first = GaussianMixture([[3.0, 0.0]], 1.0, schedule=vp)
    interpolant = superdiff.LinearInterpolant()
    second = align(from_velocity(GaussianMixture([[-3.0, 0.0]], 1.0, schedule=interpolant).velocity, interpolant),
                   trained_on=interpolant, sample_on=vp)
    op = superdiff.Or(bias=[math.log(0.3), math.log(0.7)])
    result = superdiff.sample([first, second], vp, op, x_init=standard_normal(4000, 2, seed=2), steps=300,
                              generator=gen(0), dtype=torch.float64)
    assert abs((result.x[:, 0] > 0).double().mean().item() - 0.3) < 0.02


def test_aligning_a_model_to_its_own_path_is_the_model_and_the_offset_is_d_log_c():
    vp, interpolant = superdiff.VPLinear(), superdiff.LinearInterpolant()
    model = GaussianMixture([[0.0, 0.0]], 1.0, schedule=vp)
    assert align(model, vp, vp) is model
    aligned = align(model, trained_on=interpolant, sample_on=vp)
    t = 0.3
    _, scale = superdiff.paths.align_time(t, interpolant, vp)
    assert aligned.log_density_offset(t, dim=2) == pytest.approx(2 * math.log(float(scale)))
