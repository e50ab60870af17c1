"""Residue frames R³ × SO(3) per residue against closed forms (SCIENCE.md §8, issue 19): joint κ (no chimeras),
OR / AND / Itô on frame experts (VPLinear translations + RotationSchedule rotations), ``from_frame_x0`` against the
exact scores, reduced noise on both blocks, seeds, block-independent noise and shape errors.

The experts are exact: translations N(m, s0² I) on the centred subspace (marginal N(α m, (α² s0² + σ²) I)),
rotations IGSO(3)(R, ε0²) per residue (marginal IGSO(3)(R, ε0² + σ_R(t)²)); a frame expert's log density is the sum
of the two blocks. They start from their exact t = 1 marginals with exact log densities unless a test says otherwise.
The chimera oracle runs both halves: joint κ (the default) and ``Or(per_block=True)``, the reference code's
separate κ per block, which should stitch about 2 ω (1 − ω) of the samples (``test_chimeras.py`` has the lead's
version of the same oracle on other experts).
"""

import functools
import math

import pytest
import torch

import superdiff
from superdiff.engine import sampler, so3
from superdiff.engine.frames import FramePath, Frames, frame_model, from_frame_x0, join, split
from superdiff.engine.paths import VPLinear

F64 = torch.float64
PATH = FramePath(VPLinear(0.1, 20.0), so3.RotationSchedule(0.1, 1.5))
TRANS, ROTS = PATH.translations, PATH.rotations
N = 2  # residues: translations live on the 3 (N − 1) = 3-dimensional centred subspace, rotations on SO(3)²
EPS0_SQ = 0.1
R_A = so3.exp(torch.tensor([0.0, 0.0, 1.0], dtype=F64))
R_B = so3.exp(torch.tensor([0.0, 0.0, -1.0], dtype=F64))
M_A = torch.tensor([[1.0, 0.0, 0.0], [-1.0, 0.0, 0.0]], dtype=F64)  # centred; expert B sits at −M_A
ONE = torch.tensor(1.0, dtype=F64)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def centre(x: torch.Tensor) -> torch.Tensor:
    return x - x.mean(dim=-2, keepdim=True)


class FrameExpert:
    """Exact frame expert: translations N(m, s0² I) (centred), rotations IGSO(3)(R, ε0²) on every residue.

    ``__call__`` is the frame-model contract ``(trans, rots, t) -> (trans_score, rot_score)``.
    """

    def __init__(self, m: torch.Tensor, rot: torch.Tensor, s0: float, eps0_sq: float = EPS0_SQ):
        self.m, self.rot, self.s0, self.eps0_sq = m, rot, s0, eps0_sq

    def trans_var(self, t) -> torch.Tensor:
        t = torch.as_tensor(t, dtype=F64)
        return TRANS.alpha(t) ** 2 * self.s0**2 + TRANS.sigma(t) ** 2

    def rot_eps2(self, t) -> torch.Tensor:
        return ROTS.marginal_eps2(torch.as_tensor(t, dtype=F64), self.eps0_sq)

    def __call__(self, trans, rots, t):
        t = t.double()
        alpha = TRANS.alpha(t)[:, None, None]
        trans_score = -(centre(trans.double()) - alpha * self.m) / self.trans_var(t)[:, None, None]
        rot_score = so3.igso3_score(rots, self.rot_eps2(t)[:, None], mean=self.rot)
        return trans_score.to(trans.dtype), rot_score.to(rots.dtype)

    def log_prob(self, x: torch.Tensor, t) -> torch.Tensor:
        """Gaussian log density on the centred subspace (dimension 3 (N − 1)) + Σ_residues IGSO(3) log density."""
        trans, rots = split(x.double())
        var = self.trans_var(t)
        dim = 3 * (trans.shape[-2] - 1)
        resid = centre(trans) - TRANS.alpha(torch.as_tensor(t, dtype=F64)) * self.m
        log_trans = -resid.pow(2).sum((1, 2)) / (2 * var) - 0.5 * dim * torch.log(2 * math.pi * var)
        return log_trans + so3.igso3_log_density(rots, self.rot_eps2(t), mean=self.rot).sum(-1)

    def sample_at_one(self, n: int, g: torch.Generator) -> torch.Tensor:
        """Exact draws of the t = 1 marginal."""
        trans = TRANS.alpha(ONE) * self.m + self.trans_var(1.0).sqrt() * centre(torch.randn(n, N, 3, generator=g,
                                                                                             dtype=F64))
        return join(trans, so3.igso3_sample((n, N), float(self.rot_eps2(1.0)), g, mean=self.rot))


def experts(s0: float) -> tuple[FrameExpert, FrameExpert]:
    return FrameExpert(M_A, R_A, s0), FrameExpert(-M_A, R_B, s0)


def true_log_q(models, x, t) -> torch.Tensor:
    return torch.stack([m.log_prob(x, t) for m in models], dim=1)


def exact_start(models, weights, n: int, seed: int):
    g = gen(seed)
    draws = torch.stack([m.sample_at_one(n, g) for m in models])
    pick = torch.multinomial(torch.tensor(weights, dtype=F64), n, replacement=True, generator=g)
    x = draws[pick, torch.arange(n)]
    return x, true_log_q(models, x, ONE)


def run(models, operator, x, log_q, steps: int, seed: int = 0, **kwargs) -> superdiff.SampleResult:
    return superdiff.sample([frame_model(m) for m in models], PATH, operator, x_init=x, log_q_init=log_q,
                            steps=steps, generator=gen(seed), space=Frames(), dtype=F64, **kwargs)


def ito_error(models, result) -> tuple[list[float], list[float]]:
    err = result.log_q - true_log_q(models, result.x, result.t[-1])
    return err.mean(0).tolist(), err.pow(2).mean(0).sqrt().tolist()


def classify(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per sample: translations nearer expert A's (vs B's), rotations nearer R_a (vs R_b) summed over residues."""
    trans, rots = split(x)
    trans_a = (centre(trans) * M_A).sum((1, 2)) > 0
    rots_a = (so3.geodesic_distance(rots, R_A) - so3.geodesic_distance(rots, R_B)).sum(-1) < 0
    return trans_a, rots_a


# ---------------------------------------------------------------------------------------------------------------------
# 4. Chimera test: joint κ never stitches one expert's translations to the other's rotations
# ---------------------------------------------------------------------------------------------------------------------


def chimera_run(omega: float, n: int, steps: int, seed: int, per_block: bool = False) -> tuple[float, float]:
    """OR from the sampler's own prior (centred N(0, I) translations, uniform rotations, shared log q at t = 1)."""
    models = experts(s0=0.1)
    x = Frames().prior_sample(torch.randn(n, N, 7, generator=gen(seed), dtype=F64), 1.0)
    operator = superdiff.Or(bias=[math.log(omega), math.log(1 - omega)], per_block=per_block)
    result = run(models, operator, x, None, steps, seed + 1)
    trans_a, rots_a = classify(result.x)
    return float((trans_a != rots_a).double().mean()), float(trans_a.double().mean())


def test_joint_kappa_makes_no_chimeras_fast():
    chimeras, frac = chimera_run(0.5, n=300, steps=100, seed=1)
    assert chimeras < 0.02, chimeras
    assert abs(frac - 0.5) < 0.1, frac
    chimeras, _ = chimera_run(0.5, n=300, steps=100, seed=1, per_block=True)
    assert abs(chimeras - 0.5) < 0.12, chimeras  # the reference's per-block κ: independent choices per block


@pytest.mark.slow
@pytest.mark.parametrize("omega", [0.5, 0.3])
def test_joint_kappa_makes_no_chimeras(omega):
    """< 2 % chimeras with joint κ; per-block κ chooses each block independently: 2 ω (1 − ω) chimeras."""
    chimeras, frac = chimera_run(omega, n=1000, steps=200, seed=2)
    assert chimeras < 0.02, chimeras
    assert abs(frac - omega) < 0.04, frac
    chimeras, _ = chimera_run(omega, n=1000, steps=200, seed=2, per_block=True)
    assert abs(chimeras - 2 * omega * (1 - omega)) < 0.06, chimeras


# ---------------------------------------------------------------------------------------------------------------------
# 5. OR / AND on frame experts; each expert's Itô estimate (both blocks) against the closed form
# ---------------------------------------------------------------------------------------------------------------------

# s0 = 0.3: tight enough to keep the experts apart, wide enough that the Euler–Itô estimate of the expert the
# samples do not follow (scores of ~(2/s0²) per Å-unit near t = 0) stays within a nat at 1000 steps.
ITO_EXPERTS = experts(s0=0.3)


def frames_or(n: int, steps: int, seed: int):
    x, log_q = exact_start(ITO_EXPERTS, [0.3, 0.7], n, seed)
    result = run(ITO_EXPERTS, superdiff.Or(bias=[math.log(0.3), math.log(0.7)]), x, log_q, steps, seed + 1)
    return result, float(classify(result.x)[0].double().mean())


def frames_and(n: int, steps: int, seed: int):
    x, log_q = exact_start(ITO_EXPERTS, [0.5, 0.5], n, seed)
    result = run(ITO_EXPERTS, superdiff.And(), x, log_q, steps, seed + 1)
    true_end = true_log_q(ITO_EXPERTS, result.x, result.t[-1])
    drift = (true_end[:, 0] - true_end[:, 1]) - (log_q[:, 0] - log_q[:, 1])  # AND keeps the log ratio
    return result, float(drift.pow(2).mean().sqrt())


def test_frames_or_ito_fast():
    result, frac = frames_or(200, 300, seed=3)
    mean, rms = ito_error(ITO_EXPERTS, result)
    assert max(rms) < 2.0 and max(map(abs, mean)) < 1.0, (mean, rms)
    assert abs(frac - 0.3) < 0.1, frac


def test_frames_and_ito_fast():
    result, drift = frames_and(80, 300, seed=4)
    mean, rms = ito_error(ITO_EXPERTS, result)
    assert max(rms) < 2.0 and max(map(abs, mean)) < 1.0, (mean, rms)
    assert drift < 0.8, drift


@pytest.mark.slow
def test_frames_or_ito():
    """OR (ω = 0.3), 400 samples, 1000 steps: Itô within 0.8 nats RMS of translation + rotation closed forms."""
    result, frac = frames_or(400, 1000, seed=5)
    mean, rms = ito_error(ITO_EXPERTS, result)
    assert max(rms) < 0.8 and max(map(abs, mean)) < 0.25, (mean, rms)
    assert abs(frac - 0.3) < 0.05, frac


@pytest.mark.slow
def test_frames_and_ito():
    result, drift = frames_and(150, 1000, seed=6)
    mean, rms = ito_error(ITO_EXPERTS, result)
    assert max(rms) < 0.7 and max(map(abs, mean)) < 0.25, (mean, rms)
    assert drift < 0.3, drift


# ---------------------------------------------------------------------------------------------------------------------
# 6. from_frame_x0 with an exact clean-frame predictor equals the exact expert (point-mass rotation data)
# ---------------------------------------------------------------------------------------------------------------------

POINT_ROT = so3.exp(torch.tensor([0.4, 0.1, -0.7], dtype=F64))
X0_EXPERT = FrameExpert(M_A, POINT_ROT, s0=0.3, eps0_sq=0.0)


def exact_clean_frames(trans, rots, t):
    """Tweedie's E[x0 | x_t] for N(m, s0² I) translations, and the point mass itself for rotations."""
    t = t.double()
    alpha = TRANS.alpha(t)[:, None, None]
    gain = alpha * X0_EXPERT.s0**2 / X0_EXPERT.trans_var(t)[:, None, None]
    trans_0 = X0_EXPERT.m + gain * (centre(trans.double()) - alpha * X0_EXPERT.m)
    return trans_0.to(trans.dtype), POINT_ROT.to(rots.dtype).expand(rots.shape)


def test_from_frame_x0_matches_the_exact_expert_scores():
    g = gen(8)
    n = 64
    t = torch.rand(n, generator=g, dtype=F64) * 0.98 + 0.01
    trans = centre(torch.randn(n, N, 3, generator=g, dtype=F64))
    rots = so3.uniform_rotations((n, N), g)
    x = join(trans, rots)
    got = from_frame_x0(exact_clean_frames, PATH)(x, t)
    # hand-written closed forms: Gaussian score −(x − α m)/(α² s0² + σ²); IGSO(3)(R0, σ_R(t)²) score
    var = (TRANS.alpha(t) ** 2 * 0.09 + TRANS.sigma(t) ** 2)[:, None, None]
    want_trans = -(trans - TRANS.alpha(t)[:, None, None] * M_A) / var
    want_rots = so3.igso3_score(rots, ROTS.sigma(t)[:, None] ** 2, mean=POINT_ROT)
    assert got.shape == (n, N, 6)
    assert torch.allclose(got[..., :3], want_trans, atol=1e-9, rtol=1e-9)
    assert torch.allclose(got[..., 3:], want_rots, atol=1e-9, rtol=1e-9)


def test_from_frame_x0_samples_like_the_exact_expert():
    seeds = [21, 22, 23]

    def go(model):
        return superdiff.sample([model], PATH, superdiff.Single(), shape=(N, 4, 3), steps=30, seeds=seeds,
                                space=Frames(), dtype=F64)

    a = go(from_frame_x0(exact_clean_frames, PATH))
    b = go(frame_model(X0_EXPERT))
    assert torch.allclose(a.x, b.x, atol=1e-8) and torch.allclose(a.log_q, b.log_q, atol=1e-6)


def test_from_frame_x0_in_float32():
    x = join(centre(torch.randn(3, N, 3, generator=gen(9))), so3.uniform_rotations((3, N), gen(10),
                                                                                    dtype=torch.float32))
    out = from_frame_x0(exact_clean_frames, PATH)(x, torch.full((3,), 0.5))
    assert out.dtype == torch.float32 and out.shape == (3, N, 6) and torch.isfinite(out).all()


# ---------------------------------------------------------------------------------------------------------------------
# 7. Reduced noise on frames: the whitened Hutchinson correction covers both blocks
# ---------------------------------------------------------------------------------------------------------------------

ETA = 0.3


@functools.cache
def uncorrected_bias(eta: float, t_min: float) -> float:
    """Expected error without ½ (η² − 1) tr(G ∇² log q) dτ: −½ (1 − η²) ∫ (β d / v + g_R² N E|s_R|²) dt.

    E_q[Δ log q] = −E_q|s|²; for the Gaussian block E|s|² = d / v (d = 3 (N − 1)); for IGSO(3) by quadrature.
    """
    expert = ITO_EXPERTS[0]
    ts = torch.linspace(t_min, 1.0, 401, dtype=F64)
    omega = torch.linspace(0, math.pi, 4001, dtype=F64)
    fisher = []
    for eps2 in expert.rot_eps2(ts).tolist():
        density = (1 - torch.cos(omega)) / math.pi * torch.exp(so3.igso3_log_f(omega, eps2))
        fisher.append(torch.trapezoid(so3.igso3_dlog_f(omega, eps2) ** 2 * density, omega))
    integrand = TRANS.g2(ts) * 3 * (N - 1) / expert.trans_var(ts) + ROTS.g2(ts) * N * torch.stack(fisher)
    return -0.5 * (1 - eta**2) * float(torch.trapezoid(integrand, ts))


def eta_errors(n: int, steps: int, monkeypatch) -> tuple[float, float]:
    expert = ITO_EXPERTS[0]
    x, log_q = exact_start([expert], [1.0], n, seed=11)
    means = []
    for corrected in (True, False):
        with monkeypatch.context() as patch:
            if not corrected:
                patch.setattr(sampler, "_laplacian_term", lambda *args, **kwargs: None)
            result = run([expert], superdiff.Single(), x, log_q, steps, seed=12, noise_scale=ETA)
        means.append(ito_error([expert], result)[0][0])
    return means[0], means[1]


def test_frames_reduced_noise_is_unbiased_fast(monkeypatch):
    corrected, uncorrected = eta_errors(100, 120, monkeypatch)
    predicted = uncorrected_bias(ETA, 1e-3)
    assert predicted < -6  # both blocks' Laplacians matter
    assert abs(corrected) < 0.5, corrected
    assert abs(uncorrected - predicted) < 0.25 * abs(predicted), (uncorrected, predicted)


@pytest.mark.slow
def test_frames_reduced_noise_is_unbiased(monkeypatch):
    corrected, uncorrected = eta_errors(200, 400, monkeypatch)
    predicted = uncorrected_bias(ETA, 1e-3)
    assert abs(corrected) < 0.15, corrected
    assert abs(uncorrected - predicted) < 0.1 * abs(predicted), (uncorrected, predicted)


# ---------------------------------------------------------------------------------------------------------------------
# 8. Seeds, batch invariance, independent block noise, shape and estimator errors
# ---------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("operator", [superdiff.Or(bias=[math.log(0.3), math.log(0.7)]), superdiff.And()],
                         ids=["or", "and"])
def test_batch_of_four_equals_four_batches_of_one(operator):
    seeds = [201, 202, 203, 204]
    models = [frame_model(m) for m in ITO_EXPERTS]

    def go(s):
        return superdiff.sample(models, PATH, operator, shape=(N, 4, 3), steps=15, seeds=s, space=Frames(),
                                dtype=F64)

    together = go(seeds)
    alone = [go([s]) for s in seeds]
    assert torch.allclose(together.x, torch.cat([r.x for r in alone]), atol=1e-6, rtol=0)
    assert torch.allclose(together.log_q, torch.cat([r.log_q for r in alone]), atol=1e-6, rtol=0)
    assert not torch.allclose(together.x[0], together.x[1])


def zero_frame_scores(trans, rots, t):
    return torch.zeros_like(trans), torch.zeros(rots.shape[:-1], dtype=rots.dtype)


def test_translation_and_rotation_noise_are_independent_with_their_own_variances():
    """Zero scores from the origin (translations 0, rotations I), t = 1 → 0.9 in 20 steps.

    Rotations: Brownian motion, so log R has variance σ_R(1)² − σ_R(0.9)² per component (small angles, so the
    composition of increments is additive to O(ε³)). Translations: centred noise, variance ∝ (1 − 1/N) per
    coordinate. Their empirical correlations, residue by residue and component by component, vanish; the reference
    code's shared draw would correlate them at 1/√2 for N = 2.
    """
    n, t_min = 4000, 0.9
    x = join(torch.zeros(n, N, 3, dtype=F64), torch.eye(3, dtype=F64).expand(n, N, 3, 3))
    result = superdiff.sample([frame_model(zero_frame_scores)], PATH, superdiff.Single(), x_init=x, steps=20,
                              t_min=t_min, generator=gen(13), space=Frames(), dtype=F64)
    trans, rots = split(result.x)
    rotvec = so3.log(rots)
    var_rot = float(ROTS.variance(1.0) - ROTS.variance(t_min))
    assert torch.allclose(rotvec.var(0), torch.full((N, 3), var_rot, dtype=F64), rtol=0.08)
    t_std = (trans - trans.mean(0)) / trans.std(0)
    r_std = (rotvec - rotvec.mean(0)) / rotvec.std(0)
    corr = torch.einsum("bic,bjd->icjd", t_std, r_std) / (n - 1)  # every translation vs every rotation coordinate
    assert corr.abs().max() < 0.06, corr.abs().max()  # 3.8 / sqrt(n); the largest of 36 null pairs is ~2.7 / sqrt(n)
    assert trans.sum(1).abs().max() < 1e-10  # translations stay centred


def test_uncentred_start_is_centred():
    """x_init translations with a centre of mass sample exactly like their centred version (as CentredCoordinates
    does); the VP drift used to grow the centre by e^{∫β/2} (×44 after 5 of 500 steps' worth of time here)."""
    g = gen(14)
    trans = centre(torch.randn(3, N, 3, generator=g, dtype=F64))
    rots = so3.uniform_rotations((3, N), g)
    models = [frame_model(m) for m in ITO_EXPERTS]

    def go(x):
        return superdiff.sample(models, PATH, superdiff.Or(), x_init=x, steps=5, generator=gen(15), space=Frames(),
                                dtype=F64)

    centred, shifted = go(join(trans, rots)), go(join(trans + torch.tensor([1.0, -2.0, 0.5], dtype=F64), rots))
    assert torch.allclose(shifted.x, centred.x, atol=1e-12) and torch.allclose(shifted.log_q, centred.log_q, atol=1e-9)
    assert split(shifted.x)[0].mean(1).abs().max() < 1e-12


def test_frame_shapes_are_checked():
    with pytest.raises(ValueError, match=r"Frames expects samples of shape \(N, 4, 3\).*got \(2, 3, 3\)"):
        superdiff.sample([frame_model(zero_frame_scores)], PATH, superdiff.Single(), shape=(2, 3, 3), steps=2,
                         seeds=[0], space=Frames())
    with pytest.raises(ValueError, match=r"Frames expects samples of shape \(N, 4, 3\)"):
        superdiff.sample([frame_model(zero_frame_scores)], PATH, superdiff.Single(),
                         x_init=torch.eye(3).expand(1, 2, 3, 3), steps=2, generator=gen(0), space=Frames())

    def rotation_matrices_as_scores(trans, rots, t):
        return torch.zeros_like(trans), torch.zeros_like(rots)

    with pytest.raises(ValueError, match=r"rot_score \[1, 2, 3, 3\]; expected trans_score \[1, 2, 3\] and "
                                         r"rot_score \[1, 2, 3\]"):
        superdiff.sample([frame_model(rotation_matrices_as_scores)], PATH, superdiff.Single(), shape=(2, 4, 3),
                         steps=2, seeds=[0], space=Frames())

    def scores_only(trans, rots, t):  # a translation-only network is not a frame model
        return torch.zeros_like(trans)

    with pytest.raises(ValueError, match="must return a pair of tensors"):
        frame_model(scores_only)(join(torch.zeros(1, 2, 3), torch.eye(3).expand(1, 2, 3, 3)), torch.ones(1))

    def quaternions(trans, rots, t):  # clean rotations must be matrices
        return trans, torch.ones(*rots.shape[:-2], 4)

    with pytest.raises(ValueError, match=r"rots_0 \[1, 2, 4\]; expected trans_0 \[1, 2, 3\] and rots_0 \[1, 2, 3, 3\]"):
        from_frame_x0(quaternions, PATH)(join(torch.zeros(1, 2, 3), torch.eye(3).expand(1, 2, 3, 3)), torch.ones(1))


def test_kernel_ratio_is_refused_on_frames():
    with pytest.raises(ValueError, match=r"kernel_ratio.*Gaussian transition kernels.*estimator='ito'"):
        superdiff.sample([frame_model(zero_frame_scores)], PATH, superdiff.Single(), shape=(2, 4, 3), steps=2,
                         seeds=[0], space=Frames(), estimator="kernel_ratio")
