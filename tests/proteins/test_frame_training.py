"""The strand-pairing parts of frame-expert training: ladder hydrogen bonds of real chains, crops that keep paired
strands together, the hydrogen-bond and junction losses, and stages (resumed, or fine-tuned from weights)."""

from __future__ import annotations

import numpy as np
import torch

from superdiff.proteins.backbone_set import load_backbone_set
from superdiff.proteins.frame_training import (
    FrameTrainConfig,
    _paired_start,
    clean_frames,
    frame_loss,
    hbond_loss,
    junction_loss,
    model_atoms,
    sample_crops,
    strand_pairs,
)


def _sheet_chain():
    return next(c for c in load_backbone_set() if c.strand > 0.4 and len(c) >= 120)


def test_strand_pairs_are_hydrogen_bonded_strand_residues_far_apart_in_sequence():
    chain = _sheet_chain()
    pairs = strand_pairs(chain)
    assert len(pairs) > 10
    assert np.all(np.abs(pairs[:, 0] - pairs[:, 1]) > 2)
    assert all(chain.dssp[i] == "E" and chain.dssp[j] == "E" for i, j in pairs)
    d = np.linalg.norm(chain.atoms[pairs[:, 0], 0] - chain.atoms[pairs[:, 1], 3], axis=-1)
    assert d.max() < 3.5


def test_paired_start_keeps_more_ladder_bonds_inside_the_crop_than_random_starts():
    chain, length = _sheet_chain(), 48
    pairs = strand_pairs(chain)

    def inside(start: int) -> int:
        return int(((pairs >= start) & (pairs < start + length)).all(-1).sum())

    rng = np.random.default_rng(0)
    chosen = [inside(_paired_start(chain, length, 8, rng, {})) for _ in range(40)]
    random = [inside(int(s)) for s in rng.integers(0, len(chain) - length + 1, size=40)]
    assert np.mean(chosen) > np.mean(random) + 2
    cfg = FrameTrainConfig(pair_crops=8, min_crop=48, max_crop=48, batch_size=4)
    assert tuple(sample_crops([chain], cfg, np.random.default_rng(1)).shape) == (4, 48, 4, 3)


def test_the_hbond_loss_acts_only_below_its_noise_level_by_default_where_the_atom_losses_act():
    # at higher noise a distance loss on truth-selected pairs is minimised by a contracted prediction (the strand
    # expert's samples collapsed with it below t = 0.5): the default keeps it where the posterior is sharp
    from superdiff.proteins.frame_net import FrameDenoiser, FrameNetConfig

    assert FrameTrainConfig().hbond_t_max <= FrameTrainConfig().aux_t_max
    torch.manual_seed(0)
    net = FrameDenoiser(FrameNetConfig(dim=16, pair_dim=8, heads=2, layers=2, rbf=8))
    atoms = torch.from_numpy(_sheet_chain().atoms[:48].astype(np.float32))[None].repeat(2, 1, 1, 1)

    def loss(t_min: float, **hbond) -> float:
        cfg = FrameTrainConfig(t_min=t_min, **hbond)
        return float(frame_loss(net, atoms, cfg, torch.Generator().manual_seed(3))[0].detach())

    high_noise = 0.6  # every t of the batch is drawn from [t_min, 1]
    assert loss(high_noise, hbond_weight=1e3) == loss(high_noise, hbond_weight=0.0)
    assert loss(high_noise, hbond_weight=1e3, hbond_t_max=1.0) > loss(high_noise, hbond_weight=0.0)


def test_hbond_loss_is_zero_on_the_truth_and_grows_when_strands_part():
    chain = _sheet_chain()
    atoms = torch.from_numpy(chain.atoms[:80].astype(np.float32))[None]
    true = model_atoms(*clean_frames(atoms))
    assert float(hbond_loss(true, true)) == 0.0
    apart = true.clone()
    apart[0, 40:] += torch.tensor([0.1, 0.0, 0.0])  # second half 1 Å away: its ladder bonds to the first half stretch
    near = true.clone()
    near[0, 40:] += torch.tensor([0.02, 0.0, 0.0])
    assert float(hbond_loss(apart, true)) > float(hbond_loss(near, true)) > 0.0


def test_a_stage_on_the_extended_set_records_how_that_set_was_built(tmp_path, capsys):
    import argparse
    import json

    from superdiff.proteins.backbone_set import BUILD_COMMANDS, EXTENDED_SET_FILE
    from superdiff.proteins.frame_experts import train_frames_command

    out = tmp_path / "strand_frames.safetensors"
    base = dict(subset="strand", margin=0.15, batch_size=1, lr=1e-3, seed=0, max_minutes=5, min_crop=48,
                max_crop=48, checkpoint_every=1, out=str(out))
    train_frames_command(argparse.Namespace(**base, steps=1, data=None), "stage-1")
    train_frames_command(argparse.Namespace(**base, steps=2, data=str(EXTENDED_SET_FILE)), "stage-2")
    manifest = json.loads(out.with_suffix(".json").read_text())
    extended = BUILD_COMMANDS[EXTENDED_SET_FILE.resolve()]
    assert manifest["reproduce"] == ["superdiff build-backbone-set", "stage-1", extended, "stage-2"]
    assert manifest["training"]["steps_done"] == 2 and manifest["data"] == str(EXTENDED_SET_FILE)


def test_junction_loss_is_zero_on_the_truth_and_sees_a_stretched_peptide_bond_only():
    chain = _sheet_chain()
    true = model_atoms(*clean_frames(torch.from_numpy(chain.atoms[:60].astype(np.float64))[None]))
    assert float(junction_loss(true, true)) == 0.0
    moved = true.clone()
    moved[0, 30:] += torch.tensor([0.05, 0.0, 0.0])  # the second half 0.5 Å away: one junction (29 -> 30) changes
    one = float(junction_loss(moved, true))
    # by hand: the five distances across junction 29 -> 30, squared errors averaged over the 59 junctions and 5 pairs
    errs = [(float((moved[0, 29, i] - moved[0, 30, j]).norm()) - float((true[0, 29, i] - true[0, 30, j]).norm())) ** 2
            for i, j in ((2, 0), (1, 0), (2, 1), (1, 1), (3, 0))]
    assert np.isclose(one, sum(errs) / 59 / 5, rtol=1e-9)
    assert one > 0.0
    rigid = true + torch.tensor([0.3, -0.2, 0.1])  # a rigid shift keeps every junction
    assert float(junction_loss(rigid, true)) < 1e-20


def _stage_args(out, steps, **extra):
    import argparse

    return argparse.Namespace(subset="strand", margin=0.15, batch_size=1, lr=1e-3, seed=0, max_minutes=5,
                              min_crop=48, max_crop=48, checkpoint_every=1, out=str(out), steps=steps, data=None,
                              **extra)


def test_a_fine_tuning_stage_starts_from_the_weights_and_resumes_its_own_state_only(tmp_path):
    import json

    from superdiff.proteins.frame_experts import load_frame_expert, train_frames_command
    from superdiff.proteins.frame_training import load_state

    base = tmp_path / "base.safetensors"
    train_frames_command(_stage_args(base, 2), "base-stage")
    out = tmp_path / "tuned.safetensors"
    # a leftover state of another run at --out (an earlier stage) must not be resumed by the fine-tuning run
    train_frames_command(_stage_args(out, 3), "unrelated-stage")
    start = load_frame_expert(base)
    train_frames_command(_stage_args(out, 1, init=str(base), junction_weight=300.0), "tune-1")
    manifest = json.loads(out.with_suffix(".json").read_text())
    assert manifest["training"]["steps_done"] == 1
    assert manifest["reproduce"] == ["superdiff build-backbone-set", "base-stage", "tune-1"]
    assert manifest["init_from"]["sha256"] == start.manifest["sha256"]
    assert manifest["train_config"]["junction_weight"] == 300.0
    state = load_state(_cfg(), out.with_suffix(".state.pt"), (start.net.state_dict(), start.manifest["sha256"]))
    assert state["step"] == 1  # its own state: resumed
    fresh = load_state(_cfg(), out.with_suffix(".state.pt"), (start.net.state_dict(), "another-init"))
    assert fresh["step"] == 0
    for name, value in start.net.state_dict().items():
        assert torch.equal(fresh["model"].state_dict()[name], value)
    train_frames_command(_stage_args(out, 2, init=str(base), junction_weight=300.0), "tune-2")  # a later stage
    manifest = json.loads(out.with_suffix(".json").read_text())
    assert manifest["training"]["steps_done"] == 2
    assert manifest["reproduce"][-2:] == ["tune-1", "tune-2"]


def _cfg():
    return FrameTrainConfig(subset="strand", margin=0.15, batch_size=1, min_crop=48, max_crop=48)


def test_fine_tuning_into_its_own_weights_file_is_refused(tmp_path):
    import pytest

    from superdiff.proteins.frame_experts import train_frames_command

    out = tmp_path / "w.safetensors"
    train_frames_command(_stage_args(out, 1), "stage")
    with pytest.raises(ValueError, match=r"--init .*the same file as --out"):
        train_frames_command(_stage_args(out, 2, init=str(out)), "again")
