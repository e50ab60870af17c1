"""Joint versus per-block weights on frames (SCIENCE.md §8): the reference code's separate κ for translations and
rotations stitches one expert's translations to the other's rotations; one joint κ per model does not."""

import torch

import superdiff
from superdiff.engine import so3
from superdiff.engine.analytic import GaussianMixture
from superdiff.engine.frames import FramePath, Frames, frame_model

PATH = FramePath()


def _expert(centre: torch.Tensor, rotation: torch.Tensor, trans_std: float = 0.2, eps0_sq: float = 0.05):
    """Frames whose translations are N(centre, trans_std²) (centred) and rotations IGSO(3)(rotation, eps0_sq)."""

    def scores(trans, rots, t):
        tt = t.double()
        alpha = PATH.translations.alpha(tt)[:, None, None]
        variance = alpha**2 * trans_std**2 + PATH.translations.sigma(tt)[:, None, None] ** 2
        trans_score = -(trans - alpha * centre) / variance
        eps2 = PATH.rotations.marginal_eps2(tt, eps0_sq)[:, None].expand(-1, rots.shape[1])
        rot_score = so3.igso3_score(rots, eps2, mean=rotation)
        return trans_score - trans_score.mean(1, keepdim=True), rot_score.to(trans.dtype)

    return frame_model(scores)


def _chimera_fraction(operator) -> float:
    r_a = so3.exp(torch.tensor([0.0, 0.0, 1.2], dtype=torch.float64))
    r_b = so3.exp(torch.tensor([0.0, 0.0, -1.2], dtype=torch.float64))
    centre = torch.tensor([[1.5, 0.0, 0.0], [-1.5, 0.0, 0.0]], dtype=torch.float64)
    models = [_expert(centre, r_a), _expert(-centre, r_b)]
    result = superdiff.sample(models, PATH, operator, shape=(2, 4, 3), seeds=range(300), steps=200, space=Frames(),
                              dtype=torch.float64)
    translation_is_a = result.x[:, 0, 0, 0] > 0
    rotation = result.x[:, 0, 1:, :]
    rotation_is_a = so3.geodesic_distance(rotation, r_a) < so3.geodesic_distance(rotation, r_b)
    assert 0.3 < translation_is_a.double().mean().item() < 0.7  # both experts are sampled
    return (translation_is_a != rotation_is_a).double().mean().item()


def test_joint_weights_give_no_chimeras_and_per_block_weights_give_about_half():
    assert _chimera_fraction(superdiff.Or()) < 0.02  # measured 0.0
    assert 0.3 < _chimera_fraction(superdiff.Or(per_block=True)) < 0.7  # measured 0.46: the reference's behaviour


def test_per_block_weights_need_a_space_with_blocks():
    model = GaussianMixture([[0.0, 0.0]], 1.0, schedule=superdiff.VPLinear())
    try:
        superdiff.sample([model, model], superdiff.VPLinear(), superdiff.Or(per_block=True), shape=(2,), seeds=[0],
                         steps=2)
    except ValueError as err:
        assert "has no blocks" in str(err)
    else:
        raise AssertionError("per-block weights on a Euclidean space were accepted")
