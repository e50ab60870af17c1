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
