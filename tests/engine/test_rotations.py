"""The sampler on SO(3)^N against closed forms (SCIENCE.md §8, issue 19): OR / AND / Itô on two IGSO(3) experts,
uniform data, Brownian motion, a point-mass expert's marginals, reduced noise (η ≠ 1), seeds and shape errors.

Every oracle is an exact law: IGSO(3) densities and angle CDFs from :mod:`superdiff.engine.so3` (checked against
series, quadrature and sampling in ``test_so3.py``), never the sampler against itself. The experts start from their
exact marginals at t = 1 with exact log densities (``x_init``, ``log_q_init``): with σ_max = 1.5 the t = 1 marginal
of a concentrated expert is not uniform, so the sampler's default start would blur the comparisons. Each oracle has a
fast version (fewer samples and steps, looser tolerance) and a ``slow`` one at the issue's tolerances.
"""

import functools
import math

import pytest
import torch

import superdiff
from superdiff.engine import sampler, so3
from superdiff.engine.spaces import Rotations

F64 = torch.float64
SCHEDULE = so3.RotationSchedule(0.1, 1.5)
EPS0_SQ = 0.1  # the experts' data: IGSO(3)(μ, ε0²)
R_A = so3.exp(torch.tensor([0.0, 0.0, 1.0], dtype=F64))
R_B = so3.exp(torch.tensor([0.0, 0.0, -1.0], dtype=F64))  # 2 rad from R_A; the bisector is 1 rad from each
ONE = torch.tensor(1.0, dtype=F64)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Small tensors and two shared cores: one thread is several times faster than contended threads."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


class IGSO3Expert:
    """Exact score model of data IGSO(3)(mean, ε0²) on every residue: its marginal is IGSO(3)(mean, ε0² + σ(t)²)."""

    def __init__(self, mean: torch.Tensor, eps0_sq: float = EPS0_SQ):
        self.mean, self.eps0_sq = mean, eps0_sq

    def eps2(self, t) -> torch.Tensor:
        return SCHEDULE.marginal_eps2(torch.as_tensor(t, dtype=F64), self.eps0_sq)

    def __call__(self, r: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return so3.igso3_score(r, self.eps2(t.double())[:, None], mean=self.mean).to(r.dtype)

    def log_prob(self, r: torch.Tensor, t) -> torch.Tensor:
        """Joint log density over residues, w.r.t. Haar probability, float64 ``[B]``."""
        return so3.igso3_log_density(r.double(), self.eps2(t), mean=self.mean).sum(-1)


def true_log_q(models, r, t) -> torch.Tensor:
    return torch.stack([m.log_prob(r, t) for m in models], dim=1)


def exact_start(models, weights, n: int, residues: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """n draws of the mixture Σ w_i q^i_1 at t = 1 and every model's exact log density there."""
    g = gen(seed)
    draws = [so3.igso3_sample((n, residues), float(m.eps2(1.0)), g, mean=m.mean) for m in models]
    pick = torch.multinomial(torch.tensor(weights, dtype=F64), n, replacement=True, generator=g)
    x = torch.stack(draws)[pick, torch.arange(n)]
    return x, true_log_q(models, x, ONE)


def run(models, operator, x, log_q, steps: int, seed: int = 0, **kwargs) -> superdiff.SampleResult:
    return superdiff.sample(models, SCHEDULE, operator, x_init=x, log_q_init=log_q, steps=steps,
                            generator=gen(seed), space=Rotations(), dtype=F64, **kwargs)


def ito_error(models, result) -> tuple[list[float], list[float]]:
    """Mean and RMS over samples of (Itô estimate − closed form) at the final time, per model."""
    err = result.log_q - true_log_q(models, result.x, result.t[-1])
    return err.mean(0).tolist(), err.pow(2).mean(0).sqrt().tolist()


# ---------------------------------------------------------------------------------------------------------------------
# Angle laws and the Kolmogorov–Smirnov statistic
# ---------------------------------------------------------------------------------------------------------------------


@functools.cache
def igso3_angle_cdf(eps2: float, n: int = 20001) -> tuple[torch.Tensor, torch.Tensor]:
    """CDF of the IGSO(3)(·, ε²) angle on a fine grid: cumulative trapezoid of (1 − cos ω)/π f_ε(ω)."""
    grid = torch.linspace(0, math.pi, n, dtype=F64)
    density = (1 - torch.cos(grid)) / math.pi * torch.exp(so3.igso3_log_f(grid, eps2))
    cdf = torch.cat((torch.zeros(1, dtype=F64), torch.cumulative_trapezoid(density, grid)))
    return grid, cdf / cdf[-1]


def tabulated(grid: torch.Tensor, cdf: torch.Tensor):
    def f(x: torch.Tensor) -> torch.Tensor:
        idx = torch.searchsorted(grid, x).clamp(1, len(grid) - 1)
        w = (x - grid[idx - 1]) / (grid[idx] - grid[idx - 1])
        return cdf[idx - 1] + w * (cdf[idx] - cdf[idx - 1])

    return f


def uniform_angle_cdf(omega: torch.Tensor) -> torch.Tensor:
    """CDF of the Haar-uniform rotation angle, density (1 − cos ω)/π: (ω − sin ω)/π."""
    return (omega - torch.sin(omega)) / math.pi


def ks(samples: torch.Tensor, cdf) -> float:
    """sup |F_empirical − F| over the samples (flattened)."""
    x = samples.detach().double().flatten().sort().values
    f = cdf(x)
    n = len(x)
    upper = torch.arange(1, n + 1, dtype=F64) / n
    return float(torch.maximum(upper - f, f - (upper - 1 / n)).max())


def ks_igso3(samples: torch.Tensor, eps2: float) -> float:
    return ks(samples, tabulated(*igso3_angle_cdf(float(eps2))))


# ---------------------------------------------------------------------------------------------------------------------
# 1. Two IGSO(3) experts: OR fractions, AND on the bisector, Itô against the closed form
# ---------------------------------------------------------------------------------------------------------------------

EXPERTS = (IGSO3Expert(R_A), IGSO3Expert(R_B))


@functools.cache
def wrong_side_probability(t_min: float) -> float:
    """P(d(R, R_b) < d(R, R_a)) for R ~ IGSO(3)(R_a, ε0² + σ(t_min)²), by exact sampling (~1e-3)."""
    r = so3.igso3_sample((200_000,), float(EXPERTS[0].eps2(t_min)), gen(99), mean=R_A)
    return float((so3.geodesic_distance(r, R_B) < so3.geodesic_distance(r, R_A)).double().mean())


def fraction_nearer_a(r: torch.Tensor) -> float:
    return float((so3.geodesic_distance(r[:, 0], R_A) < so3.geodesic_distance(r[:, 0], R_B)).double().mean())


def expected_or_fraction(omega: float, t_min: float) -> float:
    """The mixture ω q_a + (1 − ω) q_b puts ω (1 − p) + (1 − ω) p of its mass nearer R_a."""
    p = wrong_side_probability(t_min)
    return omega * (1 - p) + (1 - omega) * p


def or_run(omega: float, n: int, steps: int, seed: int) -> tuple[float, superdiff.SampleResult]:
    x, log_q = exact_start(EXPERTS, [omega, 1 - omega], n, 1, seed)
    result = run(EXPERTS, superdiff.Or(bias=[math.log(omega), math.log(1 - omega)]), x, log_q, steps, seed + 1)
    return fraction_nearer_a(result.x), result


@pytest.mark.parametrize("omega", [0.5, 0.3, 0.1])
def test_or_bias_sets_the_mixture_weight_fast(omega):
    frac, result = or_run(omega, n=400, steps=150, seed=10)
    assert abs(frac - expected_or_fraction(omega, 1e-3)) < 0.07, frac
    mean, rms = ito_error(EXPERTS, result)
    assert max(rms) < 1.0 and max(map(abs, mean)) < 0.5, (mean, rms)


@pytest.mark.slow
@pytest.mark.parametrize("omega", [0.5, 0.3, 0.1])
def test_or_bias_sets_the_mixture_weight(omega):
    """2000 samples, 500 steps: fraction within ±0.03 of ω (up to the ~1e-3 mass across the bisector)."""
    frac, result = or_run(omega, n=2000, steps=500, seed=20)
    assert abs(frac - expected_or_fraction(omega, 1e-3)) < 0.03, frac
    mean, rms = ito_error(EXPERTS, result)
    assert max(rms) < 0.5 and max(map(abs, mean)) < 0.15, (mean, rms)


def and_run(n: int, steps: int, seed: int):
    x, log_q = exact_start(EXPERTS, [0.5, 0.5], n, 1, seed)
    result = run(EXPERTS, superdiff.And(), x, log_q, steps, seed + 1)
    gap = (so3.geodesic_distance(result.x[:, 0], R_A) - so3.geodesic_distance(result.x[:, 0], R_B)).abs()
    true_end = true_log_q(EXPERTS, result.x, result.t[-1])
    # AND (bias 0) keeps log q_a − log q_b at its starting value; the closed form must agree up to Itô error.
    ratio_drift = (true_end[:, 0] - true_end[:, 1]) - (log_q[:, 0] - log_q[:, 1])
    return float(gap.mean()), float(ratio_drift.pow(2).mean().sqrt()), result


def test_and_lands_on_the_bisector_fast():
    gap, drift, result = and_run(n=200, steps=100, seed=30)
    assert gap < 0.08, gap
    assert drift < 0.6, drift
    _, rms = ito_error(EXPERTS, result)
    assert max(rms) < 1.0, rms


@pytest.mark.slow
def test_and_lands_on_the_bisector():
    """Mean |d(R, R_a) − d(R, R_b)| ≤ 0.05 rad, and the Itô estimate within 0.5 nats RMS at 1000 steps."""
    gap, drift, result = and_run(n=200, steps=1000, seed=40)
    assert gap < 0.05, gap
    assert drift < 0.1, drift
    mean, rms = ito_error(EXPERTS, result)
    assert max(rms) < 0.5 and max(map(abs, mean)) < 0.1, (mean, rms)


def test_or_expected_fraction_is_the_mixture_weight():
    """The oracle itself: the experts barely overlap across the bisector, so the expected fraction is ω ± 0.005."""
    assert wrong_side_probability(1e-3) < 0.005


# ---------------------------------------------------------------------------------------------------------------------
# 2. Uniform data stays uniform; Brownian motion from the identity is IGSO(3)
# ---------------------------------------------------------------------------------------------------------------------


def zero_score(r: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """The score of uniform (Haar) data at every t."""
    return torch.zeros(r.shape[:-1], dtype=r.dtype)


def test_uniform_data_stays_uniform():
    """Prior draws and geodesic steps keep the Haar law: angle CDF (ω − sin ω)/π; log densities stay 0."""
    result = superdiff.sample([zero_score], SCHEDULE, superdiff.Single(), shape=(3, 3, 3), steps=50,
                              seeds=range(1000), space=Rotations(), dtype=F64)
    stat = ks(so3.angle(result.x), uniform_angle_cdf)
    assert stat < 0.035, stat  # 3000 angles: the 99.9 % level of the KS statistic is 0.036
    assert torch.equal(result.log_q, torch.zeros_like(result.log_q))
    rotvec = so3.log(result.x).reshape(-1, 3)
    assert rotvec.mean(0).abs().max() < 0.1  # axes uniform too (|v| ≤ π, std ~1.3 per coordinate)


def test_brownian_motion_from_identity_is_igso3():
    """Score 0 from R = I at t = 1: the geodesic random walk adds variance ∫ g² dt = σ(1)² − σ(t_min)²."""
    n, t_min = 2000, 0.05
    x = torch.eye(3, dtype=F64).expand(n, 2, 3, 3).clone()
    result = run([zero_score], superdiff.Single(), x, None, steps=300, t_min=t_min)
    eps2 = float(SCHEDULE.variance(1.0) - SCHEDULE.variance(t_min))
    stat = ks_igso3(so3.angle(result.x), eps2)
    assert stat < 0.03, stat
    wrong = ks_igso3(so3.angle(result.x), 1.1 * eps2)  # the oracle tells a 10 % variance error apart
    assert wrong > 2 * stat


# ---------------------------------------------------------------------------------------------------------------------
# 3. A point-mass expert reproduces IGSO(3)(μ, σ(t)²) at intermediate times
# ---------------------------------------------------------------------------------------------------------------------

MU = so3.exp(torch.tensor([0.3, -0.2, 0.5], dtype=F64))
POINT_MASS = IGSO3Expert(MU, eps0_sq=0.0)


def point_mass_run(n: int, t_min: float, steps: int):
    x = so3.igso3_sample((n, 1), float(SCHEDULE.variance(1.0)), gen(5), mean=MU)
    result = run([POINT_MASS], superdiff.Single(), x, POINT_MASS.log_prob(x, ONE), steps=steps, t_min=t_min)
    return ks_igso3(so3.geodesic_distance(result.x, MU), float(SCHEDULE.variance(t_min))), result


@pytest.mark.parametrize("t_min", [0.4, 0.05])
def test_point_mass_marginals_fast(t_min):
    stat, _ = point_mass_run(500, t_min, steps=200)
    assert stat < 0.1, stat


@pytest.mark.slow
@pytest.mark.parametrize("t_min", [0.7, 0.4, 0.1, 0.02])
def test_point_mass_marginals(t_min):
    """1000 samples, ~1000 steps per unit time: KS ≤ 0.05 (the 99 % level is 0.052); final log density too."""
    stat, result = point_mass_run(1000, t_min, steps=round(1000 * (1 - t_min)))
    assert stat < 0.05, stat
    mean, rms = ito_error([POINT_MASS], result)
    assert rms[0] < 0.5 and abs(mean[0]) < 0.1, (mean, rms)


# ---------------------------------------------------------------------------------------------------------------------
# 7. Reduced noise η ≠ 1: the Hutchinson Laplace–Beltrami correction keeps the estimate unbiased
# ---------------------------------------------------------------------------------------------------------------------

ETA = 0.3


def uncorrected_bias(expert: IGSO3Expert, eta: float, t_min: float) -> float:
    """Expected error of the estimate WITHOUT the ½ (η² − 1) g² Δ log q dτ term, by quadrature.

    Along the path X_t ~ q_t and E_q[Δ log q] = −E_q |s|² (SO(3) is compact), so the dropped term has mean
    ½ (1 − η²) ∫ g² E|s|² dt, with E|s|² = ∫ (d log f/dω)² (1 − cos ω)/π f dω for IGSO(3)(·, ε²(t)).
    """
    ts = torch.linspace(t_min, 1.0, 401, dtype=F64)
    omega = torch.linspace(0, math.pi, 4001, dtype=F64)
    fisher = []
    for eps2 in expert.eps2(ts).tolist():
        density = (1 - torch.cos(omega)) / math.pi * torch.exp(so3.igso3_log_f(omega, eps2))
        fisher.append(torch.trapezoid(so3.igso3_dlog_f(omega, eps2) ** 2 * density, omega))
    integrand = SCHEDULE.g2(ts) * torch.stack(fisher)
    return -0.5 * (1 - eta**2) * float(torch.trapezoid(integrand, ts))


def eta_errors(n: int, steps: int, monkeypatch) -> tuple[float, float, float]:
    """Mean error of the corrected estimate, of the uncorrected one (correction switched off), and the prediction."""
    expert = IGSO3Expert(MU)
    x = so3.igso3_sample((n, 1), float(expert.eps2(1.0)), gen(7), mean=MU)
    log_q = expert.log_prob(x, ONE)
    means = []
    for corrected in (True, False):
        with monkeypatch.context() as patch:
            if not corrected:
                patch.setattr(sampler, "_laplacian_term", lambda *args, **kwargs: None)
            result = run([expert], superdiff.Single(), x, log_q, steps, noise_scale=ETA)
        means.append(ito_error([expert], result)[0][0])
    return means[0], means[1], uncorrected_bias(expert, ETA, 1e-3)


def test_reduced_noise_estimate_is_unbiased_fast(monkeypatch):
    corrected, uncorrected, predicted = eta_errors(200, 100, monkeypatch)
    assert predicted < -2.5  # without the correction the estimate would be off by ~3 nats
    assert abs(corrected) < 0.3, corrected
    assert abs(uncorrected - predicted) < 0.25 * abs(predicted), (uncorrected, predicted)


@pytest.mark.slow
def test_reduced_noise_estimate_is_unbiased(monkeypatch):
    corrected, uncorrected, predicted = eta_errors(300, 300, monkeypatch)
    assert abs(corrected) < 0.05, corrected
    assert abs(uncorrected - predicted) < 0.1 * abs(predicted), (uncorrected, predicted)


# ---------------------------------------------------------------------------------------------------------------------
# 8. Seeds, batch invariance, shape and estimator errors
# ---------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("operator", [superdiff.Or(bias=[math.log(0.3), math.log(0.7)]), superdiff.And()],
                         ids=["or", "and"])
def test_batch_of_four_equals_four_batches_of_one(operator):
    seeds = [101, 102, 103, 104]

    def go(s):
        return superdiff.sample(list(EXPERTS), SCHEDULE, operator, shape=(2, 3, 3), steps=20, seeds=s,
                                space=Rotations(), dtype=F64)

    together = go(seeds)
    alone = [go([s]) for s in seeds]
    assert torch.allclose(together.x, torch.cat([r.x for r in alone]), atol=1e-6, rtol=0)
    assert torch.allclose(together.log_q, torch.cat([r.log_q for r in alone]), atol=1e-6, rtol=0)
    assert not torch.allclose(together.x[0], together.x[1])  # the designs do get different noise


def test_rotation_shapes_are_checked():
    with pytest.raises(ValueError, match=r"Rotations expects samples of shape \(N, 3, 3\), got \(4, 3\)"):
        superdiff.sample([zero_score], SCHEDULE, superdiff.Single(), shape=(4, 3), steps=2, seeds=[0],
                         space=Rotations())
    with pytest.raises(ValueError, match=r"Rotations expects samples of shape \(N, 3, 3\)"):
        superdiff.sample([zero_score], SCHEDULE, superdiff.Single(), x_init=torch.zeros(2, 4, 3), steps=2,
                         generator=gen(0), space=Rotations())

    def matrix_score(r, t):  # a score that is not a body-frame tangent vector
        return torch.zeros_like(r)

    with pytest.raises(ValueError, match=r"tangent shape \(1, 4, 3\)"):
        superdiff.sample([matrix_score], SCHEDULE, superdiff.Single(), shape=(4, 3, 3), steps=2, seeds=[0],
                         space=Rotations())


def test_kernel_ratio_is_refused_on_rotations():
    with pytest.raises(ValueError, match=r"kernel_ratio.*Gaussian transition kernels.*estimator='ito'"):
        superdiff.sample(list(EXPERTS), SCHEDULE, superdiff.Or(), shape=(1, 3, 3), steps=2, seeds=[0],
                         space=Rotations(), estimator="kernel_ratio")
