"""FrameDiff / Proteus adapters: their conventions (units, world vs body rotation scores) against closed forms."""

from __future__ import annotations

import pytest
import torch

import superdiff
from superdiff.engine import so3
from superdiff.engine.frames import Frames, join
from superdiff.proteins import frame_adapters as fa
from superdiff.proteins.tiny_frame_nets import tiny_framediff, tiny_proteus

CPU = torch.device("cpu")


def _frames(b: int = 2, n: int = 6, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    trans = torch.randn(b, n, 3, generator=g, dtype=torch.float64)
    rots = so3.exp(torch.randn(b, n, 3, generator=g, dtype=torch.float64))
    return trans - trans.mean(dim=1, keepdim=True), rots


def test_features_hold_the_frames_in_angstrom_and_scalar_first_quaternions():
    trans, rots = _frames()
    feats = fa.framediff_features(trans, rots, torch.full((2,), 0.5, dtype=torch.float64))
    assert torch.allclose(feats["rigids_t"][..., 4:], trans * fa.COORD_SCALE)
    assert torch.allclose(so3.quaternion_to_matrix(feats["rigids_t"][..., :4]), rots, atol=1e-12)
    assert feats["seq_idx"].tolist() == [[1, 2, 3, 4, 5, 6]] * 2 and feats["fixed_mask"].sum() == 0


def test_body_frame_rotation_scores_pass_unchanged_and_world_frame_ones_are_turned():
    """Released FrameDiff and the engine step R ← R Exp(v); FrameDiff's equivariant_score variant R ← Exp(w) R:
    the same step when v = Rᵀ w."""
    trans, rots = _frames()
    world = torch.randn(2, 6, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    assert torch.allclose(so3.exp(world) @ rots, rots @ so3.exp((rots.transpose(-1, -2) @ world[..., None])[..., 0]),
                          atol=1e-12)

    def net(feats):
        return {"trans_score": torch.zeros_like(trans), "rot_score": world}

    _, body = fa.FrameDiffScores(net, world_frame_rotations=True)(trans, rots, torch.full((2,), 0.5))
    assert torch.allclose(so3.exp(world) @ rots, rots @ so3.exp(body), atol=1e-12)
    _, unchanged = fa.FrameDiffScores(net)(trans, rots, torch.full((2,), 0.5))
    assert torch.equal(unchanged, world)


def test_proteus_predicting_a_fixed_structure_gives_its_exact_point_mass_scores():
    """For data = one frame configuration F0, the x0 prediction is F0 and the scores are known in closed form."""
    trans, rots = _frames()
    trans0, rots0 = _frames(seed=5)
    t = torch.full((2,), 0.4, dtype=torch.float64)
    path = fa.framediff_path()

    def net(feats):  # Proteus answers in Å
        return {"pred_trans": trans0 * fa.COORD_SCALE, "pred_rotmats": rots0}

    scores = fa.proteus_model(net)(join(trans, rots), t)
    alpha, sigma = path.translations.alpha(t)[:, None, None], path.translations.sigma(t)[:, None, None]
    assert torch.allclose(scores[..., :3], -(trans - alpha * trans0) / sigma**2, atol=1e-9)
    exact_rot = so3.igso3_score(rots, path.rotations.variance(t)[:, None].expand(2, 6), mean=rots0)
    assert torch.allclose(scores[..., 3:], exact_rot, atol=1e-9)


@pytest.mark.parametrize("factory", [tiny_framediff, tiny_proteus])
def test_adapted_networks_are_equivariant_under_a_global_rotation(factory):
    model = factory(CPU)
    trans, rots = _frames()
    q = so3.exp(torch.tensor([0.3, -1.1, 0.7], dtype=torch.float64))
    t = torch.full((2,), 0.6, dtype=torch.float64)
    model.fn.net.double() if hasattr(model, "fn") else model.net.net.double()
    base = model(join(trans, rots), t)
    moved = model(join(trans @ q.T, q @ rots), t)
    assert torch.allclose(moved[..., :3], base[..., :3] @ q.T, atol=1e-8)  # translation scores rotate
    assert torch.allclose(moved[..., 3:], base[..., 3:], atol=1e-8)  # body-frame rotation scores do not


def test_adapted_checkpoint_networks_compose_on_one_path_with_and():
    models = [tiny_framediff(CPU), tiny_proteus(CPU)]
    assert models[0].path == models[1].path and all(m.frames for m in models)
    res = superdiff.sample(models, models[0].path, superdiff.And(), shape=(10, 4, 3), seeds=range(2), steps=30,
                           space=Frames())
    assert torch.isfinite(res.x).all() and torch.isfinite(res.log_q).all()
    assert torch.allclose(res.log_q[:, 0], res.log_q[:, 1], atol=1e-3)  # AND keeps the two densities equal


def test_a_network_answering_other_keys_is_named():
    trans, rots = _frames()
    with pytest.raises(ValueError, match=r"'trans_score'.*got \['pred_trans'\]"):
        fa.FrameDiffScores(lambda feats: {"pred_trans": trans})(trans, rots, torch.full((2,), 0.5))


class _Conf:  # a pickled Python object, as an OmegaConf config inside a checkpoint
    pass


def test_a_pickled_checkpoint_needs_explicit_trust_and_code_must_be_a_folder(tmp_path):
    ckpt = tmp_path / "best.pth"
    torch.save({"conf": _Conf(), "model": {}}, ckpt)
    with pytest.raises(ValueError, match=r"holds Python objects beyond tensors.*allow_pickle: true"):
        fa.framediff(CPU, ckpt, code=str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"code: .*nope is not a folder"):
        fa.proteus(CPU, ckpt, code=str(tmp_path / "nope"), allow_pickle=True)
