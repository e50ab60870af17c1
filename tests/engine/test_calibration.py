"""AND relative to each model's typical density (superdiff.engine.calibration), against isotropic Gaussians."""

import math

import pytest
import torch

import superdiff
from superdiff.engine.analytic import GaussianMixture
from superdiff.engine.calibration import typical_and_bias

SCHED = superdiff.VPLinear()
STEPS = 200


def _models():
    wide = GaussianMixture([1.5, 0.0], 1.0, schedule=SCHED)
    narrow = GaussianMixture([-1.5, 0.0], 0.5, schedule=SCHED)
    return wide, narrow


def _exact_gap(bias):
    wide, narrow = _models()
    res = superdiff.sample([wide, narrow], SCHED, superdiff.And(bias), shape=(2,), seeds=list(range(400)),
                           steps=STEPS, dtype=torch.float64)
    return (wide.log_prob(res.x, 1e-3) - narrow.log_prob(res.x, 1e-3)).mean().item()


def test_typical_and_lands_equally_many_standard_deviations_from_each_mean():
    """N(μ_1, I) and N(μ_2, ¼ I) in D = 2: the paper's AND ends at log q_1 = log q_2; typical AND at
    log q_1 − log q_2 = D log(σ_2/σ_1) = −1.386, i.e. |x − μ_1|/σ_1 = |x − μ_2|/σ_2."""
    bias = typical_and_bias(list(_models()), SCHED, shape=(2,), seeds=list(range(1000, 1400)), steps=STEPS,
                            dtype=torch.float64)
    assert bias.shape == (STEPS, 2) and bias.dtype == torch.float64
    assert abs(_exact_gap(0.0)) < 0.05
    assert _exact_gap(bias) == pytest.approx(2 * math.log(0.5), abs=0.15)


def test_bias_path_must_match_the_grid():
    wide, narrow = _models()
    with pytest.raises(ValueError, match=r"bias path has 3 rows but the sampler reached step 3"):
        superdiff.sample([wide, narrow], SCHED, superdiff.And(torch.zeros(3, 2)), shape=(2,), seeds=[1], steps=5)
    with pytest.raises(ValueError, match=r"bias path has shape \(4, 3\), expected finite \[steps, 2\]"):
        superdiff.sample([wide, narrow], SCHED, superdiff.And(torch.zeros(4, 3)), shape=(2,), seeds=[1], steps=4)
    with pytest.raises(ValueError, match="at least 2 calibration seeds"):
        typical_and_bias([wide, narrow], SCHED, shape=(2,), seeds=[1], steps=4)
