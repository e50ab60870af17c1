"""The κ and log-density paths a sampling shard keeps of its first designs (``trajectories.parquet``), and the
method's paths the report reads: sampled with the designs, in the models' own space (Cα or frames)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from superdiff.campaign.report.aggregate import gather_traces
from superdiff.proteins.sampling import TRACED_DESIGNS, TRACES, SamplingRequest, design_id, sample_backbones

FRAME_MODELS = ("superdiff.proteins.tiny_frame_nets:tiny_framediff", "superdiff.proteins.tiny_frame_nets:tiny_proteus")


def _request(**kwargs) -> SamplingRequest:
    settings = {"models": FRAME_MODELS, "method": "and", "lengths": (16,), "num": 3, "first_index": 4, "seed": 5,
                "steps": 10, "batch_size": 2} | kwargs
    return SamplingRequest(**settings)


def test_a_shard_keeps_the_paths_of_its_first_designs_ending_at_their_log_densities(tmp_path):
    """Frame models (states [L, 4, 3] on their FramePath): the shard's first two designs are traced, over every
    step and model, and the last log densities are the designs table's (the paths are those designs' own)."""
    designs = sample_backbones(_request(), tmp_path, progress=False)
    traces = pd.read_parquet(tmp_path / TRACES)
    assert sorted(traces["design"].unique()) == [4, 5] and TRACED_DESIGNS == 2
    assert len(traces) == 2 * 11 * 2 and traces["log_q"].notna().all()
    assert traces.groupby(["design", "step"])["kappa"].apply(lambda k: k.isna().all()).sum() == 2  # the last time
    last = traces[traces["step"] == 10].pivot(index="design", columns="model", values="log_q")
    table = designs.set_index("index").loc[[4, 5], ["log_q_0", "log_q_1"]].to_numpy()
    np.testing.assert_allclose(last.to_numpy(), table, rtol=1e-12)
    seeds = traces.groupby("design")["seed"].first()
    assert (seeds.to_numpy() == designs.set_index("index").loc[[4, 5], "seed"].to_numpy()).all()


def test_lost_paths_are_sampled_again_identically(tmp_path):
    """A finished shard that lost its paths samples its first designs again (same seeds, so the same paths);
    the other designs are not redone."""
    sample_backbones(_request(), tmp_path, progress=False)
    first = pd.read_parquet(tmp_path / TRACES)
    untouched = (tmp_path / f"{design_id(16, 6)}.pdb").stat().st_mtime_ns  # design 6 is not traced
    (tmp_path / TRACES).unlink()
    sample_backbones(_request(), tmp_path, progress=False)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / TRACES), first)
    assert (tmp_path / f"{design_id(16, 6)}.pdb").stat().st_mtime_ns == untouched


def test_the_report_reads_the_shortest_lengths_first_designs(tmp_path):
    """gather_traces: of every shard's traces, the shortest length's first two designs, labelled with the method."""
    for length, first in ((20, 0), (16, 3), (16, 0)):
        sample_backbones(_request(lengths=(length,), first_index=first, num=2, steps=6), tmp_path / f"{length}_{first}",
                         progress=False)
    traces = gather_traces(sorted(tmp_path.iterdir()), "and_method")
    assert set(traces["method"]) == {"and_method"} and set(traces["length"]) == {16}
    assert sorted(traces["design"].unique()) == [0, 1]
    assert torch.isfinite(torch.tensor(traces["log_q"].to_numpy())).all()
