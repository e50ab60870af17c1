"""The committed frame experts load through the registry, with their manifests."""

from __future__ import annotations

import pytest
import torch

from superdiff.proteins.frame_experts import FrameExpert


@pytest.mark.parametrize("name", ["helix_frames", "strand_frames"])
def test_builtin_frame_experts_load_through_the_registry(name):
    import json

    from superdiff.proteins.builtin import BUILTIN_DIR
    from superdiff.proteins.registry import check_spec, load_model, weights_fingerprint

    spec = f"builtin:{name}"
    check_spec(spec)
    model = load_model(spec)
    assert isinstance(model, FrameExpert) and model.frames and model.polish_iters > 0
    manifest = json.loads((BUILTIN_DIR / f"{name}.json").read_text())
    assert weights_fingerprint(spec) == manifest["sha256"] and manifest["reproduce"][-1].startswith("superdiff")
    x = torch.cat([torch.zeros(1, 16, 1, 3), torch.eye(3).expand(1, 16, 3, 3)], dim=2)
    assert model(x, torch.tensor([0.5])).shape == (1, 16, 6)


def test_the_strand_expert_alone_is_polished_with_its_stronger_hydrogen_bond_term_and_compositions_are_not():
    from superdiff.proteins.frame_polish import PolishSettings
    from superdiff.proteins.registry import load_model
    from superdiff.proteins.sampling import followed_models, polish_settings

    helix, strand = load_model("builtin:helix_frames"), load_model("builtin:strand_frames")
    default = PolishSettings().keep_hbonds
    assert polish_settings([strand]).keep_hbonds == 2.0 > default
    assert polish_settings([helix]).keep_hbonds == default
    assert polish_settings([helix, strand]).keep_hbonds == default
    assert polish_settings(followed_models([helix, strand], "single", 1)).keep_hbonds == 2.0
    assert polish_settings(followed_models([helix, strand], "and", 1)).keep_hbonds == default
