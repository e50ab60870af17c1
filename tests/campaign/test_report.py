"""Aggregation and the HTML summary on small hand-made shard folders (no Snakemake)."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml

from superdiff.campaign.report.aggregate import (
    campaign_designs,
    design_key,
    gather_designs,
    method_summary,
    parse_shard,
    sequences_per_design,
)
from superdiff.campaign.report.html import load_outputs, molecule_table, render
from superdiff.campaign.report.tables import concat_tables, gather_molecules, parse_assignments
from superdiff.proteins.structure import write_ca_pdb


def _helix(n: int, phase: float) -> np.ndarray:
    i = np.arange(n)
    return np.stack([2.3 * np.cos(1.745 * i + phase), 2.3 * np.sin(1.745 * i + phase), 1.5 * i], axis=1)


def _shard(root, method, length, first, stop):
    """A shard folder as sample-backbones writes it: PDBs and designs.parquet (designs numbered globally)."""
    d = root / "shards" / method / f"L{length}" / f"seeds{first}-{stop}"
    d.mkdir(parents=True)
    ids = [f"len{length:03d}_{i:04d}" for i in range(first, stop)]
    for k, did in enumerate(ids):
        write_ca_pdb(d / f"{did}.pdb", _helix(length, first + k))
    pd.DataFrame({"design_id": ids, "length": length, "index": range(first, stop), "method": "and",
                  "seed": [first * 100 + k for k in range(len(ids))], "pdb": [f"{i}.pdb" for i in ids],
                  "log_q_0": -1.0 - first, "log_q_1": -2.0, "kappa_final_0": 0.5, "kappa_final_1": 0.5}
                 ).to_parquet(d / "designs.parquet")
    return d


def _method(root, method, shards, *, failed=()):
    """A method folder: its shards gathered, and the evaluation tables the rules write beside them."""
    d = root / "methods" / method
    d.mkdir(parents=True)
    gathered = gather_designs(shards, d / "pdbs")
    gathered.to_parquet(d / "designs.parquet")
    ids = list(gathered["design_id"])
    ok = [i not in failed for i in ids]
    pd.DataFrame({"design_id": ids, "status": ["ok" if o else "failed" for o in ok],
                  "reason": ["" if o else "chain break" for o in ok],
                  "max_tm": [0.4 if o else math.nan for o in ok], "novel_tm_lt_0_5": ok,
                  "novel_tm_lt_0_3": [False] * len(ids)}).to_parquet(d / "novelty.parquet")
    pd.DataFrame({"design_id": ids, "status": "ok", "reason": "", "helix_fraction": 0.8, "strand_fraction": 0.1,
                  "coil_fraction": 0.1}).to_parquet(d / "secondary_structure.parquet")
    pd.DataFrame({"design_id": np.repeat(ids, 2), "status": "ok", "reason": "", "sequence": ["AAAA", "AAAC"] * len(ids),
                  "mpnn_nll": 1.5, "native_recovery": [0.1, 0.3] * len(ids)}).to_parquet(d / "sequences.parquet")
    return d, gathered


def test_parse_shard_and_design_keys():
    assert parse_shard("results/x/proteins/shards/or_l1/L50/seeds4-8") == \
        {"method": "or_l1", "length": 50, "first": 4, "stop": 8}
    with pytest.raises(ValueError, match="is not a shard folder"):
        parse_shard("results/x/proteins/shards/or_l1/50/seeds4-8")
    assert design_key(4, "len050_0000") != design_key(0, "len050_0000")


def test_sequences_per_design_counts_unique_and_best_recovery():
    frame = pd.DataFrame({"design_id": ["a", "a", "a", "b"], "status": ["ok", "ok", "ok", "failed"],
                          "sequence": ["AC", "AC", "GG", None], "mpnn_nll": [1.0, 2.0, 3.0, np.nan],
                          "native_recovery": [0.1, 0.5, 0.2, np.nan]})
    per = sequences_per_design(frame).set_index("design_id")
    assert per.loc["a", "n_sequences"] == 3 and per.loc["a", "n_unique_sequences"] == 2
    assert per.loc["a", "mean_mpnn_nll"] == pytest.approx(2.0) and per.loc["a", "best_native_recovery"] == 0.5
    assert "b" not in per.index


def test_campaign_tables_and_summary(tmp_path):
    and_dir, gathered = _method(tmp_path, "and", [_shard(tmp_path, "and", 24, 0, 2), _shard(tmp_path, "and", 24, 2, 4)],
                                failed={"len024_0001"})
    helix_dir, _ = _method(tmp_path, "helix", [_shard(tmp_path, "helix", 24, 0, 2)])
    assert gathered["design_id"].is_unique and len(gathered) == 4
    assert sorted(p.stem for p in (and_dir / "pdbs").glob("*.pdb")) == sorted(gathered["design_id"])
    assert list(gathered["shard"]) == ["seeds0-2", "seeds0-2", "seeds2-4", "seeds2-4"]
    pd.DataFrame({"design_id": gathered["design_id"], "status": "ok", "cluster": [0, 0, 1, 1],
                  "mean_tm_to_others": 0.3}).to_parquet(and_dir / "diversity.parquet")
    (and_dir / "diversity.summary.json").write_text(json.dumps({"n_clusters": 2, "cluster_fraction": 0.5,
                                                                 "mean_pairwise_tm": 0.3}))
    designs = campaign_designs([and_dir, helix_dir])
    assert len(designs) == 6 and designs.groupby("method")["design_key"].apply(lambda s: s.is_unique).all()
    assert list(designs.columns[:4]) == ["method", "design_key", "design_id", "length"]
    and_rows = designs[designs["method"] == "and"]
    assert list(and_rows["cluster"]) == [0, 0, 1, 1]
    assert list(and_rows["design_key"]) == ["s0000_len024_0000", "s0000_len024_0001", "s0002_len024_0002",
                                            "s0002_len024_0003"]
    failed = and_rows[and_rows["design_id"] == "len024_0001"].iloc[0]
    assert failed["novelty_status"] == "failed" and math.isnan(failed["max_tm"])
    assert and_rows["mean_mpnn_nll"].eq(1.5).all() and and_rows["n_sequences"].eq(2).all()
    summaries = {m: tmp_path / "methods" / m / "diversity.summary.json" for m in ("and", "helix")}
    summary = method_summary(designs, summaries, refold_note="Refolding is off: x")
    row = summary.set_index("method").loc["and"]
    assert row["n_designs"] == 4 and row["novelty_failed"] == 1
    assert row["novel_fraction_tm_lt_0_5"] == 1.0  # among the 3 designs whose novelty was computed
    assert math.isnan(row["designable_fraction"]) and row["designability_note"] == "Refolding is off: x"
    assert row["cluster_fraction"] == 0.5 and row["mean_helix_fraction"] == pytest.approx(0.8)
    assert summary.set_index("method").loc["helix", "n_clusters"] != summary.set_index("method").loc[
        "helix", "n_clusters"]  # NaN: no diversity for helix


def test_gathering_overlapping_shards_is_refused(tmp_path):
    shards = [_shard(tmp_path, "and", 24, 0, 2), _shard(tmp_path / "again", "and", 24, 1, 3)]
    with pytest.raises(ValueError, match="more than one shard"):
        gather_designs(shards, tmp_path / "pdbs")


def test_html_summary(tmp_path):
    and_dir, _ = _method(tmp_path, "and", [_shard(tmp_path, "and", 24, 0, 4)])
    designs = campaign_designs([and_dir])
    summary = method_summary(designs, {}, refold_note="Refolding is off: x")
    # the HTML page: self-contained, says why designability is missing, shows the figures
    config = {"campaign": "t", "description": "unit", "device": "cpu",
              "proteins": {"enabled": True, "models": ["a", "b"], "lengths": [24], "steps": 5, "sharpen": 1.5,
                           "seeds": {"count": 4}, "evaluation": {"refold": {"enabled": False,
                                                                            "reason_off": "no weights offline"}}},
              "report": {"structure_pictures": 2}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    designs.to_parquet(tmp_path / "designs.parquet")
    summary.to_csv(tmp_path / "summary.csv", index=False)
    traj = pd.DataFrame({"method": "and", "design": 0, "seed": 1, "step": np.repeat([0, 1, 2], 2),
                         "t": np.repeat([1.0, 0.5, 0.01], 2), "model": [0, 1] * 3,
                         "kappa": [0.5, 0.5, 0.4, 0.6, np.nan, np.nan], "log_q": [-9.0, -9.0, -5, -4, -1, -1]})
    traj.to_parquet(tmp_path / "traj.parquet")
    out = load_outputs(tmp_path / "config.yaml", protein_designs=tmp_path / "designs.parquet",
                       protein_summary=tmp_path / "summary.csv", trajectories=[tmp_path / "traj.parquet"])
    page = render(out)
    assert "Refolding is off." in page and "no weights offline" in page
    assert "5 steps; sharpening w = 1.5" in page
    assert len(re.findall(r'<img src="data:image/png;base64,', page)) >= 5
    assert not re.search(r'(src|href)="https?://', page)


def test_gather_molecules_names_each_shard_by_its_method(tmp_path):
    paths = []
    for method, first in (("and", 0), ("and", 2), ("joint", 0)):
        d = tmp_path / "samples" / method / f"seeds{first}-{first + 2}"
        d.mkdir(parents=True)
        pd.DataFrame({"design": [first, first + 1], "smiles": ["C", "CC"]}).to_parquet(d / "molecules.parquet")
        paths.append(d / "molecules.parquet")
    frame = gather_molecules(paths)
    assert list(frame.columns) == ["method", "design", "smiles"]
    assert list(frame["method"]) == ["and"] * 4 + ["joint"] * 2 and list(frame["design"]) == [0, 1, 2, 3, 0, 1]
    with pytest.raises(ValueError, match="is not a shard table"):
        gather_molecules([tmp_path / "molecules.parquet"])


def test_molecule_table_and_concat(tmp_path):
    metrics = {"runs": {"and": {"composition": {"mean_product": 0.2, "fraction_satisfying_all": 0.1},
                                "validity": 0.9, "uniqueness": 1.0}, "joint": {"validity": 0.8}}}
    table = molecule_table(metrics)
    assert list(table["method"]) == ["and", "joint"] and table.loc[0, "mean_product"] == 0.2
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    pd.DataFrame({"x": [1, 2]}).to_parquet(a)
    pd.DataFrame({"x": [3], "y": ["z"]}).to_parquet(b)
    frame = concat_tables([a, b], parse_assignments(["method=and"]))
    assert list(frame.columns) == ["method", "x", "y"] and list(frame["x"]) == [1, 2, 3]
    with pytest.raises(ValueError, match="NAME=VALUE"):
        parse_assignments(["method"])
    with pytest.raises(FileNotFoundError):
        concat_tables([tmp_path / "missing.parquet"])


def _ess(shard, populations=(0, 2), steps=5):
    """An ``ess.parquet`` as product sampling writes it: one population per batch (first design index)."""
    t = np.linspace(1.0, 0.01, steps + 1)
    rows = [pd.DataFrame({"length": 24, "population": p, "step": np.arange(steps), "t": t[1:],
                          "ess": np.linspace(2.0, 1.0, steps) + p * 0.1, "size": 2}) for p in populations]
    pd.concat(rows, ignore_index=True).to_parquet(shard / "ess.parquet")


def test_the_report_draws_the_resampling_the_shards_recorded():
    """The ESS figure's threshold and resample-until lines come from the shards' own records (not the code's current
    defaults); records that disagree, or predate the columns, draw no line."""
    from superdiff.campaign.report.html import _resampling_settings

    ess = pd.DataFrame({"ess": [2.0, 1.5], "ess_threshold": [0.5, 0.5], "resample_until": [0.2, 0.2]})
    assert _resampling_settings(ess) == (0.5, 0.2)
    assert _resampling_settings(ess.assign(ess_threshold=[0.5, 0.7])) == (None, 0.2)
    assert _resampling_settings(ess[["ess"]]) == (None, None)


def _full_backbone_evaluations(method_dir, ids, ss_methods):
    """Secondary-structure table with geometry checks and an inverse-fold table naming the model per design."""
    full = [m == "dssp" for m in ss_methods]

    def per(if_full, if_ca):
        return [if_full if f else if_ca for f in full]

    pd.DataFrame({"design_id": ids, "status": "ok", "reason": "", "ss_method": ss_methods,
                  "helix_fraction": per(0.7, 0.2), "strand_fraction": per(0.1, 0.5), "coil_fraction": 0.2,
                  "geom_n_ca_ok": per(1.0, math.nan), "geom_ca_c_ok": per(0.5, math.nan),
                  "geom_c_n_ok": per(1.0, math.nan),
                  "geom_ca_ca_ok": 1.0, "geom_n_clashes": [0, 2] * (len(ids) // 2), "geom_min_distance": 3.5,
                  "geom_clash_free": [True, False] * (len(ids) // 2), "geom_full_backbone": full,
                  }).to_parquet(method_dir / "secondary_structure.parquet")
    models = per("proteinmpnn/vanilla/v_48_020", "proteinmpnn/ca/v_48_020")
    pd.DataFrame({"design_id": ids, "status": "ok", "reason": "", "sequence": "AAAA", "mpnn_nll": 1.0,
                  "native_recovery": math.nan, "mpnn_model": models}).to_parquet(method_dir / "sequences.parquet")


def test_geometry_ss_method_and_mpnn_model_reach_the_tables(tmp_path):
    method_dir, gathered = _method(tmp_path, "product", [_shard(tmp_path, "product", 24, 0, 4)])
    ids = list(gathered["design_id"])
    _full_backbone_evaluations(method_dir, ids, ["dssp", "dssp", "psea", "psea"])
    designs = campaign_designs([method_dir]).set_index("design_id")
    assert list(designs["ss_method"]) == ["dssp", "dssp", "psea", "psea"]
    assert designs.loc[ids[0], "mpnn_model"] == "proteinmpnn/vanilla/v_48_020"
    assert designs.loc[ids[2], "mpnn_model"] == "proteinmpnn/ca/v_48_020"
    assert designs.loc[ids[1], "geom_n_clashes"] == 2 and not designs.loc[ids[1], "geom_clash_free"]
    row = method_summary(designs.reset_index(), {}).iloc[0]
    assert row["mean_geom_ca_c_ok"] == pytest.approx(0.5)  # over the two full backbones (NaN for Cα-only)
    assert row["mean_geom_n_clashes"] == pytest.approx(1.0) and row["clash_free_fraction"] == pytest.approx(0.5)
    assert row["ss_methods"] == "dssp:2,psea:2" and row["full_backbone_fraction"] == 0.5
    assert row["mpnn_models"] == "proteinmpnn/ca/v_48_020:2,proteinmpnn/vanilla/v_48_020:2"
    # with refolding on, the model comes from the self-consistency table instead
    (method_dir / "sequences.parquet").unlink()
    pd.DataFrame({"design_id": ids, "status": "ok", "reason": "", "min_sc_rmsd": 1.0, "designable": True,
                  "mpnn_model": "proteinmpnn/vanilla/v_48_020"}).to_parquet(method_dir / "self_consistency.parquet")
    designs = campaign_designs([method_dir])
    assert set(designs["mpnn_model"]) == {"proteinmpnn/vanilla/v_48_020"}


def test_scatter_marks_the_ss_method_and_ess_draws_every_batch_and_the_threshold(tmp_path):
    from superdiff.campaign.report import figures

    designs = pd.DataFrame({"method": ["and", "and", "or"], "ss_method": ["dssp", "psea", "dssp"],
                            "helix_fraction": [0.6, 0.1, 0.3], "strand_fraction": [0.1, 0.5, 0.2]})
    fig = figures.helix_strand_scatter(designs)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["and (DSSP)", "and (P-SEA)", "or (DSSP)"]
    ess = pd.DataFrame({"method": "product", "shard": np.repeat(["seeds0-4", "seeds4-8"], 6), "length": 24,
                        "population": np.tile(np.repeat([0, 2], 3), 2), "t": np.tile([0.9, 0.5, 0.1], 4),
                        "ess": 1.5, "size": 2})
    fig = figures.effective_sample_size(ess, threshold=0.5, until=0.1)
    ax = fig.axes[0]
    assert len(ax.lines) == 4 + 2  # four populations (2 shards x 2 batches), the threshold, resample_until
    assert all(np.allclose(line.get_ydata(), 0.75) for line in ax.lines[:4])
    assert list(ax.lines[4].get_ydata()) == [0.5, 0.5]  # the threshold, as a fraction of the population
    assert figures.effective_sample_size(None, 0.5) is None


def test_html_report_has_the_ss_scatter_and_the_ess_plot_when_their_inputs_exist(tmp_path):
    shards = [_shard(tmp_path, "product", 24, 0, 2), _shard(tmp_path, "product", 24, 2, 4)]
    method_dir, gathered = _method(tmp_path, "product", shards)
    _full_backbone_evaluations(method_dir, list(gathered["design_id"]), ["dssp", "psea"] * 2)
    designs = campaign_designs([method_dir])
    designs.to_parquet(tmp_path / "designs.parquet")
    method_summary(designs, {}).to_csv(tmp_path / "summary.csv", index=False)
    config = {"campaign": "t", "device": "cpu", "report": {"structure_pictures": 0},
              "proteins": {"enabled": True, "models": ["a", "b"], "lengths": [24], "steps": 5, "seeds": {"count": 4},
                           "evaluation": {"refold": {"enabled": False, "reason_off": "offline"}}}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))

    def page():
        return render(load_outputs(tmp_path / "config.yaml", protein_designs=tmp_path / "designs.parquet",
                                   protein_summary=tmp_path / "summary.csv"))

    without_ess = page()
    assert "Helix versus strand" in without_ess and "Effective sample size" not in without_ess
    for shard in shards:
        _ess(shard)
    outputs = load_outputs(tmp_path / "config.yaml", protein_designs=tmp_path / "designs.parquet",
                           protein_summary=tmp_path / "summary.csv")
    assert set(outputs.ess["shard"]) == {"seeds0-2", "seeds2-4"} and set(outputs.ess["method"]) == {"product"}
    with_ess = page()
    assert "Helix versus strand" in with_ess and "Effective sample size" in with_ess
    images = re.findall(r'<figure><img src="data:image/png;base64,[^"]+" alt="([^"]+)"', with_ess)
    assert any(alt.startswith("Effective sample size") for alt in images)
    assert any(alt.startswith("Helix versus strand") for alt in images)
    # the report step runs without torch (the last job of a campaign: its start-up is on the critical path)
    files = [str(tmp_path / name) for name in ("config.yaml", "designs.parquet", "summary.csv")]
    code = ("import sys\nfrom superdiff.campaign.report.html import load_outputs, render\n"
            f"render(load_outputs({files[0]!r}, protein_designs={files[1]!r}, protein_summary={files[2]!r}))\n"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "False"
