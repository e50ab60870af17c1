"""AND algebra: the generic linear solve, the two-model closed form and the projection form agree."""

import pytest
import torch

from superdiff.engine.operators import And, Or, StepContext, and_kappa_solve, and_kappa_two_models, or_weights


def f64(values):
    return torch.tensor(values, dtype=torch.float64)


def _context(m: int, seed: int = 0, b: int = 7, d: int = 5, scale: float = 1.0) -> StepContext:
    g = torch.Generator().manual_seed(seed)
    scores = torch.randn(b, m, d, generator=g, dtype=torch.float64) * scale
    noise = torch.randn(b, d, generator=g, dtype=torch.float64) * 0.1
    return StepContext(scores=scores, log_q=torch.zeros(b, m, dtype=torch.float64), noise=noise, g2=3.0,
                       dtau=0.01, drift_scale=1.0, noise_scale=1.0)


def _step(ctx, kappa):
    """``(λ g² Σ κ s) dτ + ξ``: the part of dx an operator controls (the −f dτ part is common)."""
    combined = torch.einsum("bm,bmd->bd", kappa, ctx.scores)
    return ctx.drift_scale * ctx.g2 * ctx.dtau * combined + ctx.noise


def _b_terms(ctx):
    """Every term of d log q^i except g² dτ (Gκ)_i, dropping those common to all models (div f, <f, ·>)."""
    s = ctx.scores
    return (s * ctx.noise[:, None]).sum(-1) - 0.5 * ctx.g2 * ctx.dtau * s.pow(2).sum(-1)


@pytest.mark.parametrize("bias", [0.0, 0.3])
def test_two_model_closed_form_equals_generic_solve_equals_projection(bias):
    ctx = _context(2)
    op = And(bias=bias, curvature_correction=False)
    op.validate(2)
    comb = op.combine(ctx)
    generic = and_kappa_solve(ctx.scores, _b_terms(ctx), ctx.g2 * ctx.dtau, f64([bias, 0.0]))
    closed = and_kappa_two_models(ctx.scores[:, 0], ctx.scores[:, 1], ctx.noise, ctx.g2 * ctx.dtau, bias)
    assert torch.allclose(generic[:, 0], closed, rtol=0, atol=1e-10)
    assert torch.allclose(comb.kappa, generic, rtol=0, atol=1e-10)
    projection_step = ctx.drift_scale * ctx.g2 * ctx.dtau * comb.score + comb.noise
    assert torch.allclose(projection_step, _step(ctx, generic), rtol=0, atol=1e-12)
    assert comb.kappa.sum(-1).sub(1).abs().max() < 1e-12


def test_projection_form_equalises_log_density_increments_for_many_models():
    ctx = _context(4, seed=3, d=9)
    op = And(bias=[0.2, -0.1, 0.05, 0.0], curvature_correction=False)
    op.validate(4)
    comb = op.combine(ctx)
    step = ctx.drift_scale * ctx.g2 * ctx.dtau * comb.score + comb.noise
    # d log q^i up to model-independent terms: <dx, s_i> − ½ g² |s_i|² dτ (the <f, s_i> cancels with −f in dx).
    inc = (ctx.scores * step[:, None]).sum(-1) - 0.5 * ctx.g2 * ctx.dtau * ctx.scores.pow(2).sum(-1)
    differences = inc - inc[:, -1:]
    assert torch.allclose(differences, torch.tensor([0.2, -0.1, 0.05, 0.0], dtype=torch.float64).expand_as(inc),
                          atol=1e-10)
    generic = and_kappa_solve(ctx.scores, _b_terms(ctx), ctx.g2 * ctx.dtau, f64([0.2, -0.1, 0.05, 0.0]))
    assert torch.allclose(comb.kappa, generic, atol=1e-9)
    assert comb.residual.max() < 1e-10


def test_identical_models_fall_back_to_uniform_weights_and_keep_the_noise():
    ctx = _context(3)
    same = ctx.scores[:, :1].expand(-1, 3, -1).contiguous()
    ctx = StepContext(**{**ctx.__dict__, "scores": same})
    op = And(curvature_correction=False)
    op.validate(3)
    comb = op.combine(ctx)
    assert torch.isfinite(comb.kappa).all() and torch.isfinite(comb.score).all()
    assert torch.allclose(comb.kappa, torch.full_like(comb.kappa, 1 / 3))
    assert torch.equal(comb.noise, ctx.noise)


def test_raw_and_kappa_is_noise_dominated_and_not_clipped():
    ctx = _context(2, b=2000, d=50, scale=0.3)
    op = And(curvature_correction=False)
    op.validate(2)
    kappa = op.combine(ctx).kappa[:, 0]
    assert ((kappa < 0) | (kappa > 1)).float().mean() > 0.3


def test_or_weights_bias_stays_outside_the_temperature():
    log_q = torch.tensor([[0.0, 1.0]], dtype=torch.float64)
    bias = torch.tensor([0.5, 0.0], dtype=torch.float64)
    kappa = or_weights(log_q, 3.0, bias)
    expected = torch.softmax(torch.tensor([0.5, 3.0]), 0).double()
    assert torch.allclose(kappa[0], expected)
    assert torch.allclose(or_weights(log_q, 0.0, torch.zeros(2)), torch.full((1, 2), 0.5, dtype=torch.float64))


@pytest.mark.parametrize(
    ("operator", "models", "message"),
    [
        (Or(), 1, "at least 2 models"),
        (And(), 1, "at least 2 models"),
        (Or(bias=[0.0, 1.0, 2.0]), 2, "length 3"),
        (And(bias=[0.0]), 2, "length 1"),
        (And(bias=0.5), 3, "scalar"),
    ],
)
def test_operator_validation_names_the_problem(operator, models, message):
    with pytest.raises(ValueError, match=message):
        operator.validate(models)


def test_make_operator_builds_every_named_operator():
    from superdiff import OPERATOR_NAMES, make_operator
    from superdiff.engine.operators import Average, Product, Single

    built = {name: make_operator(name, index=1, weights=[1.0, 2.0], bias=[0.0, 1.0]) for name in OPERATOR_NAMES}
    assert isinstance(built["single"], Single) and built["single"].index == 1
    assert isinstance(built["average"], Average) and built["average"].weights == [1.0, 2.0]
    assert built["or"].bias == [0.0, 1.0] and built["and"].bias == [0.0, 1.0]
    assert isinstance(built["product"], Product) and built["product"].weights == [1.0, 2.0]
    with pytest.raises(ValueError, match="unknown operator 'xor'"):
        make_operator("xor")
