"""Frame experts: the network's SE(3) equivariance, saving/loading, and sample-backbones on frames (full N, CA, C, O
PDBs, every operator, per-design seeds), with a tiny random network."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from superdiff.engine import so3
from superdiff.proteins.frame_experts import FrameExpert, frame_path, load_frame_expert, save_frame_expert
from superdiff.proteins.frame_net import FrameDenoiser, FrameNetConfig
from superdiff.proteins.sampling import SamplingRequest, sample_backbones, sample_length
from superdiff.proteins.structure import read_backbone

TINY = FrameNetConfig(dim=16, pair_dim=8, heads=2, layers=2, rbf=8)


def tiny_net(seed: int) -> FrameDenoiser:
    torch.manual_seed(seed)
    net = FrameDenoiser(TINY)
    with torch.no_grad():  # the frame updates start at zero: make them non-trivial
        for block in net.blocks:
            block.update.weight.normal_(0, 0.05)
            block.update.bias.normal_(0, 0.05)
    return net.eval().requires_grad_(False)


def tiny_expert(seed: int) -> FrameExpert:
    return FrameExpert(tiny_net(seed), frame_path(), f"tiny{seed}", {})


def test_network_is_se3_equivariant():
    gen = torch.Generator().manual_seed(0)
    net = tiny_net(1).double()
    trans = torch.randn(2, 12, 3, generator=gen, dtype=torch.float64)
    rots = so3.uniform_rotations((2, 12), gen)
    t = torch.tensor([0.3, 0.8], dtype=torch.float64)
    g = so3.uniform_rotations((1,), gen)[0]
    shift = torch.randn(3, generator=gen, dtype=torch.float64)
    trans0, rots0 = net(trans, rots, t)
    trans1, rots1 = net(trans @ g.T + shift, g @ rots, t)
    torch.testing.assert_close(trans1, trans0 @ g.T)  # outputs are centred: the shift drops out
    torch.testing.assert_close(rots1, g @ rots0)
    assert not torch.allclose(rots0, rots)  # the updates are not trivial


def test_save_and_load_round_trip(tmp_path):
    net = tiny_net(2)
    manifest = save_frame_expert(net, tmp_path / "x.safetensors", {"name": "x"})
    expert = load_frame_expert(tmp_path / "x.safetensors")
    assert expert.frames and expert.coord_scale == 10.0 and len(manifest["sha256"]) == 64
    x = torch.cat([torch.randn(1, 10, 1, 3), so3.uniform_rotations((1, 10), torch.Generator().manual_seed(0),
                                                                   dtype=torch.float32)], dim=2)
    t = torch.tensor([0.5])
    torch.testing.assert_close(expert(x, t), FrameExpert(net, frame_path(), "x", {})(x, t))
    with pytest.raises(ValueError, match="accepts"):
        expert.check_length(4)


@pytest.mark.parametrize("method", ["single", "average", "or", "and", "product"])
def test_sample_backbones_writes_full_backbone_pdbs(tmp_path, method):
    models = [tiny_expert(3), tiny_expert(4)]
    specs = ("tiny:a", "tiny:b")
    request = SamplingRequest(models=specs if method != "single" else specs[:1], method=method, lengths=(18,),
                              num=2, steps=6, batch_size=2, seed=5)
    frame = sample_backbones(request, tmp_path, models=models if method != "single" else models[:1],
                             progress=False)
    assert len(frame) == 2
    for pdb in frame["pdb"]:
        backbone = read_backbone(tmp_path / pdb)
        assert backbone.atoms is not None and backbone.atoms.shape == (18, 4, 3)
        assert np.isfinite(backbone.atoms).all()
        n_ca = np.linalg.norm(backbone.atoms[:, 1] - backbone.atoms[:, 0], axis=-1)
        np.testing.assert_allclose(n_ca, 1.458, atol=2e-3)


def test_the_shard_provenance_records_the_polish(tmp_path):
    """A polished frame shard's provenance holds the polish's steps and weights (a design can be re-made from
    it); an unpolished one says ``None``."""
    import json

    from superdiff.proteins.frame_polish import PolishSettings

    polished, plain = tiny_expert(3), tiny_expert(4)
    polished.polish_iters = 3
    for model, out in ((polished, tmp_path / "a"), (plain, tmp_path / "b")):
        sample_backbones(SamplingRequest(models=("tiny",), lengths=(16,), num=1, steps=2), out, models=[model],
                         progress=False)
    record = json.loads((tmp_path / "a" / "provenance.json").read_text())["settings"]["polish"]
    assert record == {"iters": 3, **PolishSettings().to_dict()}
    assert json.loads((tmp_path / "b" / "provenance.json").read_text())["settings"]["polish"] is None


def test_frame_design_is_bit_identical_alone_or_in_a_batch():
    models = [tiny_expert(5), tiny_expert(6)]
    models[0].polish_iters = 10  # the polish runs in fixed micro-batches too
    request = SamplingRequest(models=("a", "b"), method="and", seed=1, steps=5)
    together = sample_length(models, request, 16, [0, 1, 2], torch.device("cpu"))
    alone = sample_length(models, request, 16, [2], torch.device("cpu"))
    assert np.array_equal(together["atoms"][2], alone["atoms"][0])
    assert not np.allclose(together["atoms"][0], together["atoms"][1])


def test_frame_and_ca_models_are_not_composed(experts):
    request = SamplingRequest(models=("builtin:helix", "tiny"), method="or", steps=2)
    with pytest.raises(ValueError, match="Cα models"):
        sample_length([experts[0], tiny_expert(7)], request, 16, [0], torch.device("cpu"))


def make_tiny(device=None, seed: int = 8) -> FrameExpert:
    """A ``module:factory`` for the command-line test."""
    return tiny_expert(seed)


def test_sample_backbones_command_line_with_a_frame_factory(tmp_path):
    from superdiff.cli import main

    out = tmp_path / "designs"
    code = main(["sample-backbones", "--model", "tests.proteins.test_frame_experts:make_tiny", "--length", "20",
                 "--num", "1", "--steps", "4", "--out", str(out)])
    assert code == 0
    text = (out / "len020_0000.pdb").read_text()
    assert [line[12:16].strip() for line in text.splitlines()[:4]] == ["N", "CA", "C", "O"]


def test_polish_restores_peptide_bonds_of_perturbed_frames():
    from superdiff.proteins import ideal
    from superdiff.proteins.frame_polish import PolishSettings, junction_energy, polish_frames
    from superdiff.proteins.frames_backbone import atoms_from_frames, frames_from_atoms

    gen = torch.Generator().manual_seed(0)
    trans, rots = frames_from_atoms(torch.from_numpy(ideal.ideal_chain("helix", 14))[None])
    assert float(junction_energy(atoms_from_frames(trans, rots))) < 1e-6  # ideal chains are minima
    noisy = (trans + 0.3 * torch.randn(trans.shape, generator=gen, dtype=torch.float64),
             rots @ so3.exp(0.1 * torch.randn(trans.shape, generator=gen, dtype=torch.float64)))
    atoms = atoms_from_frames(*polish_frames(*noisy, iters=200, settings=PolishSettings(lr=0.03)))
    before = atoms_from_frames(*noisy)
    c_n = (atoms[0, 1:, 0] - atoms[0, :-1, 2]).norm(dim=-1)
    assert float((c_n - ideal.C_N).abs().max()) < 0.05
    assert float((before[0, 1:, 0] - before[0, :-1, 2]).norm(dim=-1).sub(ideal.C_N).abs().max()) > 0.2



def test_clash_loss_is_zero_on_ideal_chains_and_positive_on_overlaps():
    from superdiff.proteins import ideal
    from superdiff.proteins.frame_training import clash_loss, clean_frames, model_atoms

    helix = torch.from_numpy(ideal.ideal_chain("helix", 20))[None].float()
    assert float(clash_loss(model_atoms(*clean_frames(helix)))) == 0.0
    folded = helix.clone()
    folded[0, 10:] -= folded[0, 10, 1] - folded[0, 0, 1] + torch.tensor([0.5, 0.0, 0.0])  # residue 10 onto 0
    assert float(clash_loss(model_atoms(*clean_frames(folded)))) > 0.01


def test_radial_basis_is_the_gaussian_without_subnormal_floats():
    """Far pairs must not produce subnormal floats (slow on CPUs; they were most of the pair features' time): the
    basis is exp(−((d − c)/w)²) (relative error 1e−4 down to exp(−80), absolute 2e−35 below), and every value is a
    normal float32."""
    from superdiff.proteins.ca_model import rbf

    d = torch.linspace(0.0, 12.0, 5000)
    out = rbf(d, 16, 2.0)
    centres, width = torch.linspace(0.0, 2.0, 16), 2.0 / 15
    exact = torch.exp(-(((d.double()[:, None] - centres.double()) / width) ** 2))
    assert float((out.double() - exact).abs().max()) < 1e-6
    normal = exact > np.exp(-80.0)
    assert float(((out.double() - exact).abs() / exact)[normal].max()) < 1e-4
    assert float((out.double() - exact).abs()[~normal].max()) < 2e-35
    assert float(out.min()) >= torch.finfo(torch.float32).tiny  # no subnormals (nor zeros) anywhere
