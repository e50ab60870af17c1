"""Gaussian paths, grids, converters and the one-clock alignment against closed forms (SCIENCE.md sections 6, 9)."""

import re

import pytest
import torch

from superdiff.engine.analytic import GaussianMixture
from superdiff.engine.paths import (
    AlignedTime,
    GaussianPath,
    LinearInterpolant,
    VarianceExploding,
    VPCosine,
    VPLinear,
    align_time,
    aligned_log_q,
    aligned_score,
    bisect_log_snr,
    edm_grid,
    log_snr_grid,
    make_grid,
    score_from_epsilon,
    score_from_velocity,
    score_from_x0,
    uniform_grid,
    velocity_from_score,
)

PATHS = [
    VPLinear(),
    VPLinear(beta_min=0.1, beta_max=12.0),
    VPCosine(),
    VPCosine(t_end=1.0),
    LinearInterpolant(),
    VarianceExploding(),
]
F64 = torch.float64


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def assert_rel(actual: torch.Tensor, expected: torch.Tensor, rel: float, floor: float = 0.0) -> None:
    """``max |actual − expected| ≤ rel · (max |expected| + floor)``."""
    err = (actual - expected).abs().max().item()
    bound = rel * (expected.abs().max().item() + floor)
    assert err <= bound, f"max error {err:.3e} > {bound:.3e}"


def mixture(path: GaussianPath) -> GaussianMixture:
    return GaussianMixture([[1.0, -1.0], [-2.0, 0.5], [0.5, 2.0]], [0.6, 1.0, 0.4], [0.5, 0.3, 0.2], schedule=path)


def points(n: int, seed: int) -> torch.Tensor:
    return 1.5 * torch.randn(n, 2, dtype=F64, generator=gen(seed))


def times(n: int, seed: int, lo: float = 0.1, hi: float = 0.85) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, dtype=F64, generator=gen(seed))


# ---------------------------------------------------------------------------------------------------------------
# Path coefficients


@pytest.mark.parametrize("path", PATHS, ids=repr)
def test_derivatives_and_sde_coefficients_match_finite_differences(path):
    t = torch.linspace(0.05, 0.95, 19, dtype=F64)
    h = 1e-5
    d_alpha = (path.alpha(t + h) - path.alpha(t - h)) / (2 * h)
    d_sigma = (path.sigma(t + h) - path.sigma(t - h)) / (2 * h)
    alpha, sigma = path.alpha(t), path.sigma(t)
    assert_rel(path.d_alpha(t), d_alpha, 1e-6, floor=1e-9)
    assert_rel(path.d_sigma(t), d_sigma, 1e-6)
    # The definitions of SCIENCE.md §9: f = (α̇/α) x, g² = d(σ²)/dt − 2 (α̇/α) σ².
    assert_rel(path.drift_coefficient(t), d_alpha / alpha, 1e-6, floor=1e-9)
    assert_rel(path.g2(t), 2 * sigma * d_sigma - 2 * (d_alpha / alpha) * sigma**2, 1e-6)
    assert_rel(path.diffusion(t) ** 2, path.g2(t), 1e-12)
    assert_rel(path.divergence_of_drift(t, 5), 5 * d_alpha / alpha, 1e-6, floor=1e-9)
    # The generic formulas of the base class agree with each path's closed-form overrides.
    assert_rel(GaussianPath.g2(path, t), path.g2(t), 1e-10)
    assert_rel(GaussianPath.drift_coefficient(path, t), path.drift_coefficient(t), 1e-12, floor=1e-12)
    assert_rel(GaussianPath.log_snr(path, t), path.log_snr(t), 1e-12)


@pytest.mark.parametrize("path", PATHS, ids=repr)
def test_forward_sde_reproduces_the_marginal_variance(path):
    """RK4 on d Var/dt = 2 (α̇/α) Var + g² from t = 0.001 must land on α² s0² + σ² at t = 0.9."""
    s0, t0, t1, n = 0.7, 1e-3, 0.9, 2000
    h = (t1 - t0) / n
    knots = t0 + h * torch.arange(2 * n + 1, dtype=F64) / 2  # steps and their midpoints
    a = (2 * path.drift_coefficient(knots)).tolist()
    b = path.g2(knots).tolist()

    def rate(i: int, var: float) -> float:
        return a[i] * var + b[i]

    var = float(path.alpha(t0) ** 2 * s0**2 + path.sigma(t0) ** 2)
    for k in range(n):
        i = 2 * k
        k1 = rate(i, var)
        k2 = rate(i + 1, var + 0.5 * h * k1)
        k3 = rate(i + 1, var + 0.5 * h * k2)
        k4 = rate(i + 2, var + h * k3)
        var += h * (k1 + 2 * k2 + 2 * k3 + k4) / 6
    expected = float(path.alpha(t1) ** 2 * s0**2 + path.sigma(t1) ** 2)
    assert var == pytest.approx(expected, rel=1e-4)


@pytest.mark.parametrize("path", PATHS, ids=repr)
def test_log_snr_decreases_and_inverts(path):
    t = torch.cat([torch.tensor([0.0]), torch.logspace(-3, -1, 20), torch.linspace(0.11, 1.0, 50)]).to(F64)
    lam = path.log_snr(t)
    inner = lam[1:-1]
    assert (inner[1:] < inner[:-1]).all()
    assert (path.t_of_log_snr(lam) - t).abs().max() <= 1e-10
    assert (bisect_log_snr(path, lam) - t).abs().max() <= 1e-10  # the default inversion, on known answers
    assert float(path.t_of_log_snr(float(lam[30]))) == pytest.approx(float(t[30]), abs=1e-10)


def test_closed_form_values_of_each_path():
    t = torch.tensor([0.2, 0.7], dtype=F64)
    li, ve, vp = LinearInterpolant(), VarianceExploding(0.5, 8.0), VPLinear(0.1, 20.0)
    assert torch.allclose(li.g2(t), 2 * t / (1 - t)) and torch.allclose(li.drift_coefficient(t), -1 / (1 - t))
    assert torch.allclose(li.prior_std(t), torch.sqrt((1 - t) ** 2 + t**2))
    assert torch.allclose(ve.sigma(t), 0.5 * 16.0**t) and not ve.drift_coefficient(t).any()
    assert torch.allclose(ve.prior_std(t), torch.sqrt(1 + 0.25 * 16.0 ** (2 * t)))
    assert torch.allclose(vp.alpha(t), torch.exp(-0.5 * (0.1 * t + 0.5 * t**2 * 19.9)))
    assert torch.equal(vp.prior_std(t), torch.ones(2, dtype=F64))
    assert torch.allclose(vp.alpha(t) ** 2 + vp.sigma(t) ** 2, torch.ones(2, dtype=F64), atol=1e-15)
    assert [p.singular_at_one for p in PATHS] == [False, False, False, True, True, False]


@pytest.mark.parametrize("path", PATHS, ids=repr)
def test_outputs_are_float64_with_the_shape_of_t(path):
    for name in ("alpha", "sigma", "d_alpha", "d_sigma", "log_alpha", "log_snr", "g2", "drift_coefficient"):
        scalar = getattr(path, name)(0.3)
        batch = getattr(path, name)(torch.tensor([0.3, 0.6], dtype=torch.float32))
        assert (scalar.dtype, scalar.shape, batch.dtype, batch.shape) == (F64, (), F64, (2,)), name
    assert path.prior_std(0.3).dtype == F64 and path.divergence_of_drift(0.3, 4).shape == ()


@pytest.mark.parametrize("path", PATHS, ids=repr)
def test_drift_broadcasts_per_sample_time(path):
    x = torch.randn(3, 4, 2, dtype=F64, generator=gen(0))
    t = torch.tensor([0.1, 0.5, 0.9], dtype=F64)
    expected = path.drift_coefficient(t)[:, None, None] * x
    assert torch.allclose(path.drift(x, t), expected, rtol=1e-15, atol=0)
    assert torch.allclose(path.drift(x, 0.5), path.drift_coefficient(0.5) * x, rtol=1e-15, atol=0)
    assert path.drift(x.float(), t).dtype == torch.float32


@pytest.mark.parametrize("path", PATHS, ids=repr)
def test_repr_round_trips_and_settings_record_the_path(path):
    namespace = {c.__name__: c for c in (VPLinear, VPCosine, LinearInterpolant, VarianceExploding)}
    assert eval(repr(path), namespace) == path
    settings = path.settings()
    assert settings.pop("path") == type(path).__name__
    assert type(path)(**settings) == path


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: VPLinear(beta_min=-0.1), "beta_min"),
        (lambda: VPLinear(beta_min=5.0, beta_max=1.0), "beta_max"),
        (lambda: VPLinear(beta_max="high"), "beta_max"),
        (lambda: VPCosine(s=-1.0), "s"),
        (lambda: VPCosine(t_end=1.5), "t_end"),
        (lambda: VarianceExploding(sigma_min=0.0), "sigma_min"),
        (lambda: VarianceExploding(sigma_min=1.0, sigma_max=float("inf")), "sigma_max"),
        (lambda: GaussianMixture([[0.0], [1.0]], [1.0, 1.0], [1.0, -1.0], schedule=VPLinear()), "weights"),
        (lambda: GaussianMixture([[[0.0, 1.0]]], [1.0], [1.0], schedule=VPLinear()), "means"),
        (lambda: GaussianMixture([[0.0]], [0.0], [1.0], schedule=VPLinear()), "stds"),
    ],
)
def test_bad_arguments_are_named(make, field):
    with pytest.raises(ValueError, match=rf"{field}=.*expected"):
        make()


class _SqrtPath(GaussianPath):
    """α = 1 − t, σ = √t: only the four abstract methods, so every derived quantity is the base class's."""

    def alpha(self, t):
        return 1.0 - torch.as_tensor(t, dtype=F64)

    def sigma(self, t):
        return torch.sqrt(torch.as_tensor(t, dtype=F64))

    def d_alpha(self, t):
        return torch.full_like(torch.as_tensor(t, dtype=F64), -1.0)

    def d_sigma(self, t):
        return 0.5 / torch.sqrt(torch.as_tensor(t, dtype=F64))


def test_a_path_given_by_alpha_and_sigma_alone_gets_every_derived_quantity():
    path, t = _SqrtPath(), torch.linspace(0.01, 0.99, 50, dtype=F64)
    assert_rel(path.g2(t), (1 + t) / (1 - t), 1e-12)  # 1 + 2t / (1 − t)
    assert_rel(path.drift_coefficient(t), -1 / (1 - t), 1e-12)
    assert (path.t_of_log_snr(path.log_snr(t)) - t).abs().max() <= 1e-12  # by the default bisection
    assert path.settings() == {"path": "_SqrtPath"}


def test_t_of_log_snr_refuses_values_outside_the_range():
    with pytest.raises(ValueError, match=r"VarianceExploding.*outside the path's log-SNR range"):
        VarianceExploding().t_of_log_snr(torch.tensor([0.0, 100.0]))


@pytest.mark.parametrize("path", [VPCosine(), VPCosine(0.01, 0.99), VPCosine(t_end=1.0), VPLinear()], ids=repr)
def test_vp_paths_start_exactly_at_the_data(path):
    assert float(path.log_alpha(0.0)) == 0.0 and float(path.sigma(0.0)) == 0.0
    assert float(path.log_snr(0.0)) == float("inf") and float(path.t_of_log_snr(float("inf"))) == 0.0


# ---------------------------------------------------------------------------------------------------------------
# Gaussian-mixture experts on every path


@pytest.mark.parametrize("path", PATHS, ids=repr)
def test_mixture_score_and_laplacian_match_autograd(path):
    model = mixture(path)
    x = points(8, 4).requires_grad_(True)
    t = times(8, 5)
    (score,) = torch.autograd.grad(model.log_prob(x, t).sum(), x, create_graph=True)
    assert_rel(model.score(x, t), score, 1e-10)
    trace = sum(torch.autograd.grad(score[:, i].sum(), x, retain_graph=True)[0][:, i] for i in range(2))
    assert_rel(model.laplacian(x, t), trace, 1e-10)


@pytest.mark.parametrize("path", PATHS, ids=repr)
def test_mixture_density_integrates_to_one(path):
    axis = torch.linspace(-9.0, 9.0, 361, dtype=F64)
    grid = torch.cartesian_prod(axis, axis)
    cell = float(axis[1] - axis[0]) ** 2
    assert float(mixture(path).log_prob(grid, 0.5).exp().sum()) * cell == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("path", PATHS, ids=repr)
def test_mixture_obeys_the_fokker_planck_equation_of_the_path_sde(path):
    """∂_t log q = −∇·f − ⟨f, s⟩ + ½ g² (Δ log q + |s|²): ties f and g² to the path's marginals."""
    model = mixture(path)
    x, t, h = points(16, 6), times(16, 7), 1e-5
    lhs = (model.log_prob(x, t + h) - model.log_prob(x, t - h)) / (2 * h)
    score, f = model.score(x, t), path.drift(x, t)
    rhs = (
        -path.divergence_of_drift(t, 2)
        - (f * score).sum(1)
        + 0.5 * path.g2(t) * (model.laplacian(x, t) + score.pow(2).sum(1))
    )
    assert_rel(lhs, rhs, 1e-6)


def test_mixture_samples_have_the_mixture_mean_and_are_seeded():
    model = mixture(VPLinear())
    draws = model.sample_data(40_000, gen(8))
    assert torch.equal(draws, model.sample_data(40_000, gen(8)))
    expected = (model.log_weights.exp()[:, None] * model.means).sum(0)
    assert torch.allclose(draws.mean(0), expected, atol=0.03)


# ---------------------------------------------------------------------------------------------------------------
# Converters


@pytest.mark.parametrize("path", PATHS, ids=repr)
def test_exact_network_outputs_convert_to_the_exact_score(path):
    model = mixture(path)
    x, t = points(16, 9), times(16, 10, 0.05, 0.9)
    score = model.score(x, t)
    assert_rel(score_from_epsilon(model.posterior_epsilon(x, t), x, t, path), score, 1e-8)
    assert_rel(score_from_x0(model.posterior_x0(x, t), x, t, path), score, 1e-8)
    velocity = model.velocity(x, t)
    assert_rel(score_from_velocity(velocity, x, t, path), score, 1e-8)
    assert_rel(velocity_from_score(score, x, t, path), velocity, 1e-8)
    assert_rel(score_from_velocity(velocity_from_score(score, x, t, path), x, t, path), score, 1e-10)
    assert_rel(model.score(x, 0.4), score_from_epsilon(model.posterior_epsilon(x, 0.4), x, 0.4, path), 1e-8)


def test_velocity_is_the_time_derivative_of_the_interpolant():
    """v = α̇ x0 + σ̇ ε: for a point mass the posterior is exact, so v(x_t) = α̇ μ + σ̇ ε along each path."""
    for path in PATHS:
        point_mass = GaussianMixture([[0.7, -0.3]], [1e-9], [1.0], schedule=path)
        eps, t = torch.randn(5, 2, dtype=F64, generator=gen(11)), times(5, 12)
        x = path.alpha(t)[:, None] * point_mass.means + path.sigma(t)[:, None] * eps
        expected = path.d_alpha(t)[:, None] * point_mass.means + path.d_sigma(t)[:, None] * eps
        assert_rel(point_mass.velocity(x, t), expected, 1e-8)


# ---------------------------------------------------------------------------------------------------------------
# One clock: a model trained on path B evaluated on path A's time


ALIGN_PAIRS = [
    (VPLinear(), LinearInterpolant()),
    (LinearInterpolant(), VPLinear()),
    (VPCosine(), VPLinear()),
    (VarianceExploding(), VPLinear()),
]


@pytest.mark.parametrize(("sample_on", "trained_on"), ALIGN_PAIRS, ids=lambda p: type(p).__name__)
def test_aligned_scores_and_densities_agree_across_paths(sample_on, trained_on):
    model_a, model_b = mixture(sample_on), mixture(trained_on)
    x = points(5, 13)
    for t in (0.05, 0.3, 0.6, 0.9):
        t_batch = torch.full((5,), t, dtype=F64)
        t_prime, scale = align_time(t_batch, trained_on, sample_on)
        assert_rel(trained_on.log_snr(t_prime), sample_on.log_snr(t_batch), 1e-10)
        cx = scale[:, None] * x
        assert_rel(scale[:, None] * model_b.score(cx, t_prime), model_a.score(x, t), 1e-8)
        assert_rel(model_b.log_prob(cx, t_prime) + 2 * torch.log(scale), model_a.log_prob(x, t), 1e-8)
        assert_rel(aligned_score(model_b.score, x, t, trained_on, sample_on), model_a.score(x, t), 1e-8)
        assert_rel(aligned_log_q(model_b.log_prob, x, t, trained_on, sample_on), model_a.log_prob(x, t), 1e-8)
        # The same expert given as a velocity network on path B composes identically.
        v = model_b.velocity(cx, t_prime)
        assert_rel(scale[:, None] * score_from_velocity(v, cx, t_prime, trained_on), model_a.score(x, t), 1e-8)


def test_alignment_with_itself_is_the_identity_and_unpacks():
    aligned = align_time(torch.tensor([0.2, 0.8], dtype=F64), VPLinear(), VPLinear())
    assert isinstance(aligned, AlignedTime)
    t_prime, scale = aligned
    assert torch.allclose(t_prime, torch.tensor([0.2, 0.8], dtype=F64), atol=1e-12, rtol=0)
    assert torch.allclose(scale, torch.ones(2, dtype=F64), atol=1e-12, rtol=0)
    assert align_time(0.5, LinearInterpolant(), VPLinear()).t_prime.shape == ()


def test_alignment_outside_the_trained_range_is_refused():
    sample_on, trained_on = VPLinear(), VarianceExploding()
    pattern = r"align_time: sampling on VPLinear\(.*t=\[0\.999\].*outside the range.*VarianceExploding\("
    with pytest.raises(ValueError, match=pattern):
        align_time(torch.tensor([0.5, 0.999], dtype=F64), trained_on, sample_on)


# ---------------------------------------------------------------------------------------------------------------
# Time grids


def _t_max(path: GaussianPath) -> float:
    return 0.999 if path.singular_at_one else 1.0


@pytest.mark.parametrize("name", ["uniform", "log_snr", "edm"])
@pytest.mark.parametrize("path", PATHS, ids=repr)
def test_grids_decrease_between_exact_endpoints(path, name):
    t_max = _t_max(path)
    grid = make_grid(name, path, 12, t_max, 2e-3)
    assert grid.dtype == F64 and grid.shape == (13,)
    assert float(grid[0]) == t_max and float(grid[-1]) == 2e-3
    assert (grid[1:] < grid[:-1]).all()


@pytest.mark.parametrize("path", PATHS, ids=repr)
def test_log_snr_and_edm_grids_are_uniform_in_their_variable(path):
    t_max = _t_max(path)
    lam = path.log_snr(log_snr_grid(path, 10, t_max, 1e-3))
    assert_rel(lam.diff(), lam.diff().mean().expand(10), 1e-9)
    ramp = torch.exp(-path.log_snr(edm_grid(path, 10, t_max, 1e-3, rho=7.0)) / 7.0)  # (σ/α)^{1/ρ}
    assert_rel(ramp.diff(), ramp.diff().mean().expand(10), 1e-9)
    assert torch.equal(uniform_grid(4, 1.0, 0.0), torch.tensor([1.0, 0.75, 0.5, 0.25, 0.0], dtype=F64))


def test_edm_grid_on_variance_exploding_is_the_karras_sigma_grid():
    path, steps, rho = VarianceExploding(0.002, 80.0), 8, 7.0
    sigma = path.sigma(edm_grid(path, steps, 1.0, 0.0, rho))
    ramp = torch.linspace(0, 1, steps + 1, dtype=F64)
    expected = (80.0 ** (1 / rho) + ramp * (0.002 ** (1 / rho) - 80.0 ** (1 / rho))) ** rho
    assert_rel(sigma, expected, 1e-12)


@pytest.mark.parametrize("name", ["uniform", "log_snr", "edm"])
@pytest.mark.parametrize("path", [LinearInterpolant(), VPCosine(t_end=1.0)], ids=repr)
def test_grids_refuse_to_start_a_singular_path_at_one(path, name):
    with pytest.raises(ValueError, match=re.escape(repr(path)) + r".*singular at t = 1.*pass t_max < 1"):
        make_grid(name, path, 10, 1.0, 1e-3)


def test_grid_arguments_are_checked():
    with pytest.raises(ValueError, match=r"steps=0 .*expected an integer >= 1"):
        uniform_grid(0)
    with pytest.raises(ValueError, match=r"t_min=0\.5, t_max=0\.5 .*expected 0 <= t_min < t_max <= 1"):
        log_snr_grid(VPLinear(), 10, 0.5, 0.5)
    with pytest.raises(ValueError, match=r"is infinite at t_min=0\.0; pass t_min > 0"):
        log_snr_grid(VPLinear(), 10, 1.0, 0.0)
    with pytest.raises(ValueError, match=r"rho=-1\.0 .*expected a finite number > 0"):
        edm_grid(VPLinear(), 10, rho=-1.0)
    with pytest.raises(ValueError, match=r"name='karras' is unknown; expected one of 'uniform', 'log_snr', 'edm'"):
        make_grid("karras", VPLinear(), 10)
