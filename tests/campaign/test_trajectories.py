"""The report's κ / log-density traces re-run exactly the designs the sampling jobs made, in the models' own space."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from superdiff.campaign.report.trajectories import trace_backbones
from superdiff.proteins.registry import load_model
from superdiff.proteins.sampling import SamplingRequest, sample_length

FRAME_MODELS = ("superdiff.proteins.tiny_frame_nets:tiny_framediff", "superdiff.proteins.tiny_frame_nets:tiny_proteus")


@pytest.mark.parametrize("method", ["and", "or"])
def test_frame_trace_ends_at_the_sampled_designs_log_densities(method):
    """Frame models are traced on their FramePath in Frames space ([L, 4, 3] states); the trace's last log densities
    are the sampling job's for the same design numbers (the Cα space, [L, 3], would not even accept the states)."""
    steps, length, first = 12, 16, 3
    trace = trace_backbones(FRAME_MODELS, method, length=length, num=2, seed=5, steps=steps, first_index=first)
    models = [load_model(spec, torch.device("cpu")) for spec in FRAME_MODELS]
    request = SamplingRequest(models=FRAME_MODELS, method=method, seed=5, steps=steps, denoise=False)
    sampled = sample_length(models, request, length, [first, first + 1], torch.device("cpu"))
    last = trace[trace["step"] == steps].sort_values(["design", "model"])
    assert sorted(set(trace["design"])) == [first, first + 1]
    assert len(trace) == 2 * (steps + 1) * 2 and trace["log_q"].notna().all()
    np.testing.assert_allclose(last["log_q"].to_numpy().reshape(2, 2), sampled["log_q"], rtol=1e-5, atol=1e-4)
