"""SO(3) maps and IGSO(3) against closed forms, high-precision sums and numerical integration (SCIENCE.md §8)."""

import math

import pytest
import torch

from superdiff.engine import so3

F64 = torch.float64


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def random_vectors_with_angles(angles: list[float], seed: int) -> torch.Tensor:
    """Rotation vectors with random axes and the given norms."""
    axes = torch.randn(len(angles), 3, generator=gen(seed), dtype=F64)
    return axes / axes.norm(dim=-1, keepdim=True) * torch.tensor(angles, dtype=F64)[:, None]


def angle_cdf(eps2: float, n: int = 20001) -> tuple[torch.Tensor, torch.Tensor]:
    """Reference CDF of the IGSO(3) angle on a fine grid: cumulative trapezoid of (1 − cos ω)/π f_ε(ω)."""
    grid = torch.linspace(0, math.pi, n, dtype=F64)
    density = (1 - torch.cos(grid)) / math.pi * torch.exp(so3.igso3_log_f(grid, eps2))
    cdf = torch.cat((torch.zeros(1, dtype=F64), torch.cumulative_trapezoid(density, grid)))
    return grid, cdf


def interp(x: torch.Tensor, xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
    idx = torch.searchsorted(xs, x).clamp(1, len(xs) - 1)
    w = (x - xs[idx - 1]) / (xs[idx] - xs[idx - 1])
    return ys[idx - 1] + w * (ys[idx] - ys[idx - 1])


def ks_statistic(samples: torch.Tensor, grid: torch.Tensor, cdf: torch.Tensor) -> float:
    """max |F_empirical − F| (Kolmogorov–Smirnov), F given on a grid."""
    x = samples.flatten().sort().values
    f = interp(x, grid, cdf / cdf[-1])
    n = len(x)
    upper = torch.arange(1, n + 1, dtype=F64) / n
    return float(torch.maximum(upper - f, f - (upper - 1 / n)).max())


def mean_angle(eps2: float) -> tuple[float, float]:
    """Mean and standard deviation of the IGSO(3) angle by quadrature."""
    grid = torch.linspace(0, math.pi, 20001, dtype=F64)
    p = (1 - torch.cos(grid)) / math.pi * torch.exp(so3.igso3_log_f(grid, eps2))
    m1 = torch.trapezoid(grid * p, grid)
    m2 = torch.trapezoid(grid**2 * p, grid)
    return float(m1), float(torch.sqrt(m2 - m1**2))


# ---------------------------------------------------------------------------------------------------------------------
# hat, vee, exp, log, angle
# ---------------------------------------------------------------------------------------------------------------------


def test_hat_is_cross_product_and_vee_inverts_it():
    v, w = torch.randn(2, 5, 3, generator=gen(0), dtype=F64)
    assert torch.allclose(so3.hat(v) @ w[..., None], torch.linalg.cross(v, w)[..., None], atol=1e-15)
    assert torch.equal(so3.vee(so3.hat(v)), v)
    assert torch.allclose(so3.hat(v).transpose(-1, -2), -so3.hat(v))


def test_exp_log_round_trip_across_all_branches():
    angles = [1e-8, 1e-5, 9.9e-4, 1.1e-3, 0.3, 1.0, 0.5 * math.pi - 1e-9, 0.5 * math.pi + 1e-9, 2.5, 3.0]
    angles += [math.pi - 1e-3, math.pi - 1e-6]
    v = random_vectors_with_angles(angles, seed=1)
    back = so3.log(so3.exp(v))
    assert (back - v).norm(dim=-1).max() < 1e-12
    random_v = random_vectors_with_angles((torch.rand(200, generator=gen(2), dtype=F64) * 3.1).tolist(), seed=3)
    assert (so3.log(so3.exp(random_v)) - random_v).abs().max() < 1e-12


def test_log_at_exactly_pi_gives_a_valid_logarithm():
    r = torch.diag(torch.tensor([1.0, -1.0, -1.0], dtype=F64))  # rotation by π about x
    v = so3.log(r)
    assert abs(float(v.norm()) - math.pi) < 1e-15
    assert torch.allclose(so3.exp(v), r, atol=1e-15)


def test_exp_is_a_rotation_and_matches_the_matrix_exponential():
    v = torch.randn(4, 6, 3, generator=gen(4), dtype=F64) * 2
    r = so3.exp(v)
    eye = torch.eye(3, dtype=F64)
    assert r.shape == (4, 6, 3, 3)
    assert (r.transpose(-1, -2) @ r - eye).abs().max() < 1e-14
    assert (torch.linalg.det(r) - 1).abs().max() < 1e-14
    assert torch.allclose(r, torch.linalg.matrix_exp(so3.hat(v)), atol=1e-13)


def test_exp_gradient_is_finite_at_zero():
    v = torch.zeros(3, dtype=F64, requires_grad=True)
    r = so3.exp(v)
    (grad,) = torch.autograd.grad(r[1, 0], v)  # d R / d v_k at 0 is hat(e_k): R[1, 0] = v_z
    assert torch.equal(grad, torch.tensor([0.0, 0.0, 1.0], dtype=F64))


def test_angle_is_accurate_at_both_ends():
    v = random_vectors_with_angles([1e-12, 1e-8, math.pi - 1e-9], seed=5)
    omega = so3.angle(so3.exp(v))
    assert torch.allclose(omega, v.norm(dim=-1), rtol=1e-9, atol=1e-15)


def test_geodesic_distance_is_symmetric_and_equals_the_rotation_angle():
    r1, r2 = so3.uniform_rotations((2, 50), gen(6))
    assert torch.allclose(so3.geodesic_distance(r1, r2), so3.geodesic_distance(r2, r1), atol=1e-14)
    v = random_vectors_with_angles((torch.rand(50, generator=gen(7), dtype=F64) * 3.14).tolist(), seed=8)
    assert torch.allclose(so3.geodesic_distance(r1, r1 @ so3.exp(v)), v.norm(dim=-1), atol=1e-12)


def test_uniform_rotations_have_the_haar_angle_law():
    r = so3.uniform_rotations((20000,), gen(9), device="cpu")
    assert r.dtype == F64 and r.shape == (20000, 3, 3)
    grid = torch.linspace(0, math.pi, 4001, dtype=F64)
    ks = ks_statistic(so3.angle(r), grid, (grid - torch.sin(grid)) / math.pi)  # CDF of (1 − cos ω)/π
    assert ks < 0.02


# ---------------------------------------------------------------------------------------------------------------------
# The angle density f_ε
# ---------------------------------------------------------------------------------------------------------------------


def test_log_f_matches_a_400_digit_series():
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 400  # f(π) ~ e^{−π²/(2ε²)} needs ~250 digits to survive the series' cancellation at ε² = 0.02

    def log_f(omega: float, eps2: float) -> float:
        w, e2, half = mpmath.mpf(omega), mpmath.mpf(eps2), mpmath.mpf(1) / 2
        terms = ((2 * l + 1) * mpmath.exp(-l * (l + 1) * e2 / 2) * mpmath.sin((l + half) * w) for l in range(300))
        return float(mpmath.log(mpmath.fsum(terms) / mpmath.sin(w / 2)))

    for eps2 in (0.02, 0.1, 0.3, 1.0, 2.0):
        for omega in (1e-6, 0.7, 2.0, math.pi - 1e-3):
            got = float(so3.igso3_log_f(torch.tensor(omega, dtype=F64), eps2))
            expected = log_f(omega, eps2)
            assert abs(got - expected) <= 1e-13 * max(1.0, abs(expected)), (eps2, omega, got, expected)


@pytest.mark.parametrize("eps2", [0.005, 0.02, 0.1, 0.5, 2.0])
def test_f_integrates_to_one_against_haar(eps2):
    # (1 − cos ω) f(ω) is smooth, even and 2π-periodic, so the trapezoid rule converges spectrally.
    grid = torch.linspace(0, math.pi, 4001, dtype=F64)
    density = (1 - torch.cos(grid)) / math.pi * torch.exp(so3.igso3_log_f(grid, eps2))
    assert abs(float(torch.trapezoid(density, grid)) - 1) < 1e-12


def test_small_eps_form_and_series_agree_around_the_switch():
    grid = torch.linspace(0, math.pi, 257, dtype=F64)
    for eps2 in (0.7, 0.9, 1.0, 1.1, 1.5):
        series = so3.igso3_log_f_series(grid, eps2, l_max=400)
        small = so3.igso3_log_f_small_eps(grid, eps2)
        assert (series.value - small.value).abs().max() < 1e-12
        assert (series.slope - small.slope).abs().max() < 1e-12
    below = so3.igso3_log_f(grid, so3.EPS2_SMALL)
    above = so3.igso3_log_f(grid, so3.EPS2_SMALL * (1 + 1e-12))
    assert (below - above).abs().max() < 1e-11


def test_log_f_limits_at_zero_angle_and_large_eps():
    zero = torch.zeros((), dtype=F64)
    eps2 = 2.0
    l = torch.arange(50, dtype=F64)
    at_zero = torch.log(((2 * l + 1) ** 2 * torch.exp(-l * (l + 1) * eps2 / 2)).sum())  # Σ (2l+1)² e^{−l(l+1)ε²/2}
    assert torch.allclose(so3.igso3_log_f(zero, eps2), at_zero, rtol=1e-14)
    eps2 = 1e-4  # a 3-d Gaussian of variance ε² per axis over the Haar volume 8π², times e^{ε²/8}
    gaussian_peak = math.log(8 * math.pi**2 * (2 * math.pi * eps2) ** -1.5) + eps2 / 8
    assert abs(float(so3.igso3_log_f(zero, eps2)) - gaussian_peak) < 1e-13
    grid = torch.linspace(0, math.pi, 33, dtype=F64)
    assert torch.equal(so3.igso3_log_f(grid, 40.0), torch.zeros_like(grid))
    assert so3.igso3_log_f(grid, so3.EPS2_UNIFORM).abs().max() < 1e-12


def test_slope_is_the_derivative_of_log_f():
    omega = torch.tensor([1e-6, 0.05, 0.099, 0.101, 0.5, 1.5, 2.5, 3.0, math.pi - 1e-4], dtype=F64)
    h = 1e-6
    for eps2 in (1e-3, 0.05, 0.5, 1.0, 1.2, 4.0):
        fd = (so3.igso3_log_f(omega + h, eps2) - so3.igso3_log_f(omega - h, eps2)) / (2 * h)
        slope = so3.igso3_dlog_f(omega, eps2)
        scale = 1 + omega / eps2  # the slope is about −ω/ε²
        assert ((fd - slope).abs() / scale).max() < 1e-6, eps2
    ends = torch.tensor([0.0, math.pi], dtype=F64)
    for eps2 in (1e-3, 0.5, 2.0):
        assert so3.igso3_dlog_f(ends, eps2).abs().max() < 1e-9


def test_eps2_must_be_positive():
    with pytest.raises(ValueError, match="eps2"):
        so3.igso3_log_f(0.5, 0.0)
    with pytest.raises(ValueError, match="eps2"):
        so3.igso3_sample((3,), torch.tensor([0.1, -1.0, 0.1]), gen(0))


# ---------------------------------------------------------------------------------------------------------------------
# Density and score on rotation matrices
# ---------------------------------------------------------------------------------------------------------------------


def test_log_density_and_score_use_the_relative_rotation():
    r, m = so3.uniform_rotations((2, 10), gen(10))
    eps2 = torch.linspace(0.05, 3.0, 10, dtype=F64)
    rel = m.transpose(-1, -2) @ r
    assert torch.allclose(so3.igso3_log_density(r, eps2, mean=m), so3.igso3_log_density(rel, eps2), atol=1e-12)
    assert torch.allclose(so3.igso3_score(r, eps2, mean=m), so3.igso3_score(rel, eps2), atol=1e-10)
    assert torch.equal(so3.igso3_score(torch.eye(3, dtype=F64), 0.1), torch.zeros(3, dtype=F64))


@pytest.mark.parametrize("eps2", [0.01, 0.2, 1.0, 3.0])
def test_score_is_the_finite_difference_gradient(eps2):
    r = so3.uniform_rotations((6,), gen(11))
    near = so3.exp(random_vectors_with_angles([1e-3, 0.05, math.pi - 1e-3], seed=12))  # near identity and near π
    r = torch.cat((r, near))
    h = 1e-6
    fd = []
    for k in range(3):
        step = torch.zeros(3, dtype=F64)
        step[k] = h
        up = so3.igso3_log_density(r @ so3.exp(step), eps2)
        down = so3.igso3_log_density(r @ so3.exp(-step), eps2)
        fd.append((up - down) / (2 * h))
    fd = torch.stack(fd, -1)
    score = so3.igso3_score(r, eps2)
    scale = 1 + score.norm(dim=-1, keepdim=True)
    assert ((fd - score).abs() / scale).max() < 1e-6


def test_score_equals_autograd_of_log_density_along_the_body_frame():
    r = so3.uniform_rotations((5,), gen(13))
    h = torch.zeros(5, 3, dtype=F64, requires_grad=True)
    (grad,) = torch.autograd.grad(so3.igso3_log_density(r @ so3.exp(h), 0.3).sum(), h)
    assert torch.allclose(grad, so3.igso3_score(r, 0.3), atol=1e-10)


# ---------------------------------------------------------------------------------------------------------------------
# Sampling
# ---------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("eps2", [0.02, 0.5, 2.0])
def test_sample_angles_follow_the_igso3_angle_law(eps2):
    n = 20000
    r = so3.igso3_sample((n,), eps2, gen(14), device="cpu")
    omega = so3.angle(r)
    assert ks_statistic(omega, *angle_cdf(eps2)) < 0.02
    mean, std = mean_angle(eps2)
    assert abs(float(omega.mean()) - mean) < 4 * std / math.sqrt(n)


def test_sample_with_mean_is_centred_on_the_mean():
    r0 = so3.exp(torch.tensor([0.3, -1.2, 2.0], dtype=F64))
    centred = so3.igso3_sample((4000,), 0.1, gen(15), mean=r0)
    at_identity = so3.igso3_sample((4000,), 0.1, gen(15))
    assert torch.allclose(centred, r0 @ at_identity, atol=1e-14)
    offsets = so3.log(r0.transpose(-1, -2) @ centred)  # body-frame offsets: mean zero
    assert offsets.mean(0).abs().max() < 4 * float(offsets.std(0).max()) / math.sqrt(4000)


def test_sample_with_per_sample_and_tiny_eps2():
    eps = 1e-4
    eps2 = torch.tensor([eps**2, 0.3]).repeat(4000)
    omega = so3.angle(so3.igso3_sample(eps2.shape, eps2, gen(16)))
    x = torch.linspace(0, 10, 2001, dtype=F64)  # tiny ε: ω/ε is Maxwell (the norm of a standard 3-d normal)
    maxwell_cdf = torch.erf(x / math.sqrt(2)) - math.sqrt(2 / math.pi) * x * torch.exp(-(x**2) / 2)
    assert ks_statistic(omega[0::2] / eps, x, maxwell_cdf) < 0.03
    mean, std = mean_angle(0.3)
    assert abs(float(omega[1::2].mean()) - mean) < 4 * std / math.sqrt(4000)


def test_semigroup_brownian_motion_adds_variance():
    a, b, n, steps = 0.1, 0.3, 4000, 200
    g = gen(17)
    r = so3.igso3_sample((n,), a, g)
    for _ in range(steps):
        r = r @ so3.exp(math.sqrt(b / steps) * torch.randn(n, 3, generator=g, dtype=F64))
    assert ks_statistic(so3.angle(r), *angle_cdf(a + b)) < 0.03


def test_functions_keep_dtype_and_device():
    g = gen(18)
    r = so3.igso3_sample((2, 3), 0.2, g, device="cpu", dtype=F64)
    assert r.dtype == F64 and r.device.type == "cpu" and r.shape == (2, 3, 3, 3)
    assert so3.uniform_rotations((2,), g, device=torch.device("cpu")).dtype == F64
    assert so3.igso3_log_density(r, 0.2).dtype == F64
    assert so3.igso3_score(r, torch.full((2, 3), 0.2, dtype=F64)).dtype == F64
    assert so3.log(r).dtype == F64 and so3.angle(r).dtype == F64
    r32 = so3.igso3_sample((4,), 0.2, g, dtype=torch.float32)
    assert r32.dtype == torch.float32 and so3.log(r32).dtype == torch.float32
    assert so3.igso3_log_density(r32, 0.2).dtype == torch.float32
    assert so3.igso3_score(r32, 0.2).dtype == torch.float32


# ---------------------------------------------------------------------------------------------------------------------
# RotationSchedule
# ---------------------------------------------------------------------------------------------------------------------


def test_rotation_schedule_endpoints_derivative_and_marginal():
    schedule = so3.RotationSchedule()
    assert abs(float(schedule.sigma(0.0)) - 0.1) < 1e-15  # log(e^{σ_min}) = σ_min, not 0
    assert abs(float(schedule.sigma(1.0)) - 1.5) < 1e-15
    t = torch.linspace(0.01, 0.99, 99, dtype=F64)
    h = 1e-6
    fd = (schedule.variance(t + h) - schedule.variance(t - h)) / (2 * h)
    assert torch.allclose(schedule.g2(t), fd, rtol=1e-8)
    assert (schedule.sigma(t).diff() > 0).all() and (schedule.g2(t) > 0).all()
    assert torch.allclose(schedule.marginal_eps2(t, 0.1), 0.1 + schedule.sigma(t) ** 2)
    assert abs(float(schedule.marginal_eps2(0.0, 0.0)) - 0.01) < 1e-15


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"sigma_min": 0.0}, "sigma_min"),
        ({"sigma_max": float("nan")}, "sigma_max"),
        ({"sigma_min": 2.0, "sigma_max": 1.5}, "sigma_min must be < sigma_max"),
    ],
)
def test_rotation_schedule_rejects_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        so3.RotationSchedule(**kwargs)


def test_rotation_schedule_rejects_bad_times_and_eps0():
    schedule = so3.RotationSchedule()
    with pytest.raises(ValueError, match=r"t must lie in \[0, 1\]"):
        schedule.sigma(1.5)
    with pytest.raises(ValueError, match=r"t must lie in \[0, 1\]"):
        schedule.g2(torch.tensor([0.5, -0.1]))
    with pytest.raises(ValueError, match="eps0_sq"):
        schedule.marginal_eps2(0.5, -0.1)


def test_matrix_to_quaternion_inverts_quaternion_to_matrix_including_half_turns():
    g = torch.Generator().manual_seed(3)
    q = torch.randn(500, 4, generator=g, dtype=torch.float64)
    q = q / q.norm(dim=-1, keepdim=True) * torch.where(q[:, :1] < 0, -1.0, 1.0)
    assert torch.allclose(so3.matrix_to_quaternion(so3.quaternion_to_matrix(q)), q, atol=1e-12)
    half_turns = so3.exp(math.pi * torch.nn.functional.normalize(torch.randn(20, 3, generator=g, dtype=torch.float64)))
    back = so3.quaternion_to_matrix(so3.matrix_to_quaternion(half_turns))
    assert torch.allclose(back, half_turns, atol=1e-12)
