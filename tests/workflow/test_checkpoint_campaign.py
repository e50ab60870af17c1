"""The FrameDiff ⊕ Proteus campaign file, end to end on CPU with tiny random networks behind the same adapters."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from superdiff.proteins.structure import read_backbone

from .helpers import ROOT, copy_config, run

SIBLING = ROOT / "config" / "campaigns" / "proteins_framediff_proteus.yaml"


def _shrink(data: dict) -> None:
    """The sibling campaign with the CI stand-ins and a CPU-sized protocol; its methods are kept as they are."""
    proteins = data["proteins"]
    assert proteins["models"] == ["manifest:framediff", "manifest:proteus"]
    proteins["models"] = ["manifest:tiny_framediff", "manifest:tiny_proteus"]
    data["device"] = "cpu"
    data["campaign"] = "checkpoints_ci"
    proteins.update(lengths=[16], seeds={"start": 0, "count": 2, "shard_size": 2}, steps=20)
    proteins["evaluation"]["inverse_fold"] = {"enabled": True, "sequences": 1, "temperature": 0.1}
    proteins["evaluation"]["refold"] = {"enabled": False}
    data.pop("molecules", None)


@pytest.mark.slow
def test_the_framediff_proteus_campaign_runs_end_to_end_with_stand_in_networks(tmp_path: Path):
    config = copy_config(SIBLING, tmp_path / "config.yaml", _shrink)
    res = run(tmp_path, config, "--cores", "2", timeout=1200)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    out = tmp_path / "results" / "checkpoints_ci"
    assert (out / "summary.html").exists()
    pdbs = sorted((out / "proteins" / "shards").rglob("*.pdb"))
    assert len(pdbs) == 6 * 2  # six methods x two designs
    backbone = read_backbone(pdbs[0])
    assert backbone.atoms is not None and backbone.atoms.shape == (16, 4, 3)  # N, CA, C, O from frames
    ss = pd.concat(map(pd.read_parquet, (out / "proteins" / "methods").glob("*/secondary_structure.parquet")))
    assert len(ss) == 12 and (ss["status"] == "ok").all(), ss[["design_id", "status", "reason"]]
    assert set(ss["ss_method"]) == {"dssp"}  # full backbones: DSSP, not P-SEA
    sequences = pd.concat(map(pd.read_parquet, (out / "proteins" / "methods").glob("*/sequences.parquet")))
    assert (sequences["status"] == "ok").all()
    assert all(model.startswith("proteinmpnn/vanilla/") for model in sequences["mpnn_model"])
    traces = sorted((out / "proteins" / "methods").glob("*/trajectories.parquet"))
    assert len(traces) == 6  # record_trajectories: the frames are traced on their own path and space
    assert all(pd.read_parquet(path)["log_q"].notna().all() for path in traces)
