"""The strand-pairing parts of frame-expert training: ladder hydrogen bonds of real chains, crops that keep paired
strands together, and the hydrogen-bond loss."""

from __future__ import annotations

import numpy as np
import torch

from superdiff.proteins.backbone_set import load_backbone_set
from superdiff.proteins.frame_training import (
    FrameTrainConfig,
    _paired_start,
    clean_frames,
    hbond_loss,
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
