"""Reproducibility, shapes, subspaces and the errors bad input must raise."""

import pytest
import torch

import superdiff
from superdiff.engine.analytic import GaussianMixture


class TinyNet(torch.nn.Module):
    """A small neural score model, to check batch invariance with real matmuls."""

    def __init__(self, d: int, seed: int):
        super().__init__()
        torch.manual_seed(seed)
        self.net = torch.nn.Sequential(torch.nn.Linear(d + 1, 32), torch.nn.SiLU(), torch.nn.Linear(32, d))

    def forward(self, x, t):
        flat = x.flatten(1)
        return (self.net(torch.cat([flat, t[:, None]], 1)) - flat).view_as(x)


@pytest.mark.parametrize(
    "operator",
    [superdiff.Single(1), superdiff.Average(), superdiff.Or(temperature=2.0), superdiff.And(),
     superdiff.And(curvature_correction=False), superdiff.Product(resample=False)],
    ids=repr,
)
def test_a_designs_result_is_bit_identical_in_any_batch(operator):
    """Per-design seeds and fixed-shape network micro-batches (model_batch): every operator except resampling
    Product (whose population is its batch) gives each design the same bits alone, in a batch or in chunks.
    (log densities agree to rounding, ≤ 1e-6 nats: torch vectorises short reductions across rows.)"""
    models = [TinyNet(24, 0), TinyNet(24, 1)]
    schedule = superdiff.VPLinear()
    seeds = [11, 22, 33, 44]
    kw = dict(shape=(8, 3), steps=40, model_batch=4, noise_scale=1.0 if operator.full_noise_only else 0.5)
    together = superdiff.sample(models, schedule, operator, seeds=seeds, record=True, **kw)
    alone = [superdiff.sample(models, schedule, operator, seeds=[s], **kw) for s in seeds]
    chunked = superdiff.sample(models, schedule, operator, seeds=seeds, batch_size=3, **kw)
    for i, single in enumerate(alone):
        assert torch.equal(together.x[i], single.x[0])
        assert torch.allclose(together.log_q[i], single.log_q[0], rtol=0, atol=1e-6)
    assert torch.equal(chunked.x, together.x) and torch.allclose(chunked.log_q, together.log_q, rtol=0, atol=1e-6)
    assert together.kappa.shape == (40, 4, 2) and together.log_q_path.shape == (41, 4, 2)
    assert together.log_q.dtype == torch.float64


def test_same_seed_same_design_and_different_seeds_differ():
    schedule = superdiff.VPLinear()
    model = GaussianMixture([[0.0, 0.0]], 1.0, schedule=schedule)
    a = superdiff.sample([model], schedule, superdiff.Single(0), shape=(2,), seeds=[5, 6], steps=20)
    b = superdiff.sample([model], schedule, superdiff.Single(0), shape=(2,), seeds=[5, 6], steps=20)
    assert torch.equal(a.x, b.x)
    assert not torch.allclose(a.x[0], a.x[1])


def test_centred_space_keeps_samples_centred_and_uses_its_dimension():
    schedule = superdiff.VPLinear()
    space = superdiff.CentredCoordinates()

    def centred_gaussian_score(x, t):  # data N(0, I) on the centred subspace: the score is −x there
        return -space.project(x)

    result = superdiff.sample([centred_gaussian_score], schedule, superdiff.Single(0), shape=(10, 3), space=space,
                              seeds=range(128), steps=400, dtype=torch.float64,
                              estimator="kernel_ratio")
    assert result.x.mean(dim=1).abs().max() < 1e-10
    # For N(0, I) data, q_t = N(0, I) at every t: the exact log density on the 27-dim subspace.
    exact = space.log_standard_normal(result.x)
    # The kernel-ratio estimate is sharp here; the full-space dimension (30) would be off by ~15 nats.
    assert abs((result.log_q[:, 0] - exact).mean()) < 0.1
    assert space.dim((10, 3)) == 27


def _schedule_and_model():
    schedule = superdiff.VPLinear()
    return schedule, GaussianMixture([[0.0, 0.0]], 1.0, schedule=schedule)


def test_models_disagreeing_on_shape_are_named():
    schedule, model = _schedule_and_model()

    def wrong(x, t):
        return model(x, t)[:, :1]

    with pytest.raises(ValueError, match=r"model 1 .* shape \(1, 1\)"):
        superdiff.sample([model, wrong], schedule, superdiff.Average(), shape=(2,), seeds=[0], steps=3)


def test_non_finite_scores_name_the_model_and_step():
    schedule, model = _schedule_and_model()

    def explodes(x, t):
        out = model(x, t)
        return out / 0.0 if float(t[0]) < 0.5 else out

    with pytest.raises(FloatingPointError, match=r"model 1 .* non-finite scores at step \d+"):
        superdiff.sample([model, explodes], schedule, superdiff.Average(), shape=(2,), seeds=[0], steps=10)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"steps": 0}, "steps must be an integer >= 1"),
        ({"t_min": 0.0}, r"t_min must lie in \(0, 1\)"),
        ({"t_min": 1.5}, r"t_min must lie in \(0, 1\)"),
        ({"estimator": "hutch"}, "estimator must be one of"),
        ({"method": "heun"}, "method must be one of"),
        ({"seeds": None}, "give seeds"),
        ({"shape": None}, "give either shape"),
    ],
)
def test_bad_arguments_are_named(kwargs, message):
    schedule, model = _schedule_and_model()
    args = {"shape": (2,), "seeds": [0], "steps": 3, **kwargs}
    with pytest.raises(ValueError, match=message):
        superdiff.sample([model], schedule, superdiff.Single(0), **args)


@pytest.mark.parametrize(
    ("operator", "message"),
    [(superdiff.Or(), "at least 2 models"), (superdiff.And(), "at least 2 models"),
     (superdiff.Or(bias=[0.0, 0.0]), "at least 2"), (superdiff.Single(3), "out of range")],
)
def test_operators_refuse_the_wrong_number_of_models(operator, message):
    schedule, model = _schedule_and_model()
    with pytest.raises(ValueError, match=message):
        superdiff.sample([model], schedule, operator, shape=(2,), seeds=[0], steps=3)


def test_bias_of_the_wrong_length_is_named():
    schedule, model = _schedule_and_model()
    with pytest.raises(ValueError, match="Or bias has length 3, expected one value per model \\(2\\)"):
        superdiff.sample([model, model], schedule, superdiff.Or(bias=[0, 0, 0]), shape=(2,), seeds=[0], steps=3)
