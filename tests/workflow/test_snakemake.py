"""The Snakemake workflow itself: lint, dry runs of every campaign, a bad config refused before any job, and a
real run of the tiny .test campaign that is killed mid-way, resumed, and then edited."""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from superdiff.campaign.config import read_campaign

from .helpers import (
    CAMPAIGN_CONFIGS,
    ROOT,
    TEST_CONFIG,
    copy_config,
    finished_jobs,
    kill_group,
    planned_jobs,
    run,
    start,
    wait_for,
)


@pytest.mark.slow  # snakemake --lint, ~3 s
def test_lint_is_clean(tmp_path):
    res = run(ROOT, None, "--lint")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Congratulations, your workflow is in a good condition!" in res.stdout + res.stderr


def test_snakefmt_is_clean():
    import subprocess
    import sys

    snakefmt = Path(sys.executable).parent / "snakefmt"
    if not snakefmt.exists():
        pytest.skip("snakefmt is not installed (pip install superdiff[dev])")
    res = subprocess.run([str(snakefmt), "--check", "Snakefile", "workflow/rules"], cwd=ROOT, capture_output=True,
                         text=True)
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.slow
@pytest.mark.parametrize("config", CAMPAIGN_CONFIGS, ids=lambda p: str(p.relative_to(ROOT)))
def test_dry_run_of_every_campaign(tmp_path, config):
    res = run(tmp_path, config, "-n", "--cores", "2")
    assert res.returncode == 0, res.stdout + res.stderr
    jobs = planned_jobs(res.stdout)
    campaign = read_campaign(config)
    counts = pd.Series([rule for rule, _ in jobs]).value_counts()
    if campaign.proteins is not None and campaign.proteins.enabled:
        p = campaign.proteins
        n_shards = len(p.methods) * len(p.lengths) * len(p.seeds.shards())
        assert counts["sample_backbones"] == n_shards
        shards = {(w["method"], w["length"], w["first"], w["stop"]) for r, w in jobs if r == "sample_backbones"}
        assert shards == {(m, str(length), str(a), str(b)) for m in p.methods for length in p.lengths
                          for a, b in p.seeds.shards()}
        # every evaluation runs once per method, on the method's gathered designs
        evaluation = "self_consistency" if p.evaluation.refold.enabled else "inverse_fold"
        for rule in ("gather_designs", evaluation, "novelty", "secondary_structure", "diversity"):
            assert counts[rule] == len(p.methods), rule
        assert {w["method"] for r, w in jobs if r == evaluation} == set(p.methods)
        assert counts["aggregate_proteins"] == 1
    if campaign.molecules is not None and campaign.molecules.enabled:
        m = campaign.molecules
        assert counts["sample_molecules"] == len(m.methods) * len(m.seeds.shards())
        assert counts["molecules_table"] == counts["molecule_metrics"] == 1
    assert counts["campaign_config"] == counts["summary_report"] == 1
    assert not (tmp_path / "results").exists(), "a dry run must not write results"


def test_bad_config_is_refused_before_any_job(tmp_path):
    def edit(d):
        d["proteins"]["steps"] = 1
        d["proteins"]["methods"]["and"]["operator"] = "xor"
        d["molecules"]["guidnace"] = 2

    bad = copy_config(TEST_CONFIG, tmp_path / "bad.yaml", edit)
    res = run(tmp_path, bad, "--cores", "2")
    out = res.stdout + res.stderr
    assert res.returncode != 0
    assert "invalid campaign config (3 problems)" in out
    assert "proteins.steps: got 1; Input should be greater than or equal to 2" in out
    assert ("proteins.methods.and.operator: got \"xor\"; "
            "Input should be 'single', 'average', 'or', 'and' or 'product'") in out
    assert "molecules.guidnace: unknown key; allowed keys here:" in out
    assert not (tmp_path / "results").exists()
    assert "Execute" not in out and "rule " not in out


# ------------------------------------------------------------------------------------------- a real run


def _finished_shards(log: Path) -> set[str]:
    """The sampling shards (``method/L<length>/seeds<first>-<stop>``) a run's log reports finished."""
    text = log.read_text() if log.exists() else ""
    return {f"{w['method']}/L{w['length']}/seeds{w['first']}-{w['stop']}"
            for rule, w in finished_jobs(text) if rule == "sample_backbones"}


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """Run the .test campaign, SIGKILL it once some shards are done, unlock, resume to the end."""
    work = tmp_path_factory.mktemp("ci_run")
    config = copy_config(TEST_CONFIG, work / "config.yaml")
    results = work / "results" / read_campaign(config).campaign
    log = work / "first.log"
    proc = start(work, config, "--cores", "2", log=log)
    try:
        killed = wait_for(lambda: len(_finished_shards(log)) >= 1, timeout=300, proc=proc)
    finally:
        kill_group(proc)
    assert killed, log.read_text()[-3000:]
    assert not (results / "summary.html").exists(), "the run finished before it could be killed"
    # finished = reported finished by Snakemake; a shard killed between writing its files and that report is
    # (rightly) rerun, so its files' presence is not the test
    done = {rel: (results / "proteins" / "shards" / rel / "designs.parquet").stat().st_mtime_ns
            for rel in _finished_shards(log)}
    unlock = run(work, config, "--unlock")
    assert unlock.returncode == 0, unlock.stderr
    time.sleep(0.01)
    resumed = run(work, config, "--cores", "2", timeout=900)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-5000:]
    return {"work": work, "config": config, "results": results, "done_before_kill": done,
            "resumed_log": resumed.stdout + resumed.stderr}


@pytest.mark.slow
def test_killed_run_resumes_without_redoing_finished_shards(finished_run):
    results = finished_run["results"]
    assert finished_run["done_before_kill"]
    for rel, mtime in finished_run["done_before_kill"].items():
        designs = results / "proteins" / "shards" / rel / "designs.parquet"
        assert designs.stat().st_mtime_ns == mtime, f"finished shard {rel} was recomputed after the restart"
    resumed_shards = {f"{w['method']}/L{w['length']}/seeds{w['first']}-{w['stop']}"
                      for r, w in planned_jobs(finished_run["resumed_log"]) if r == "sample_backbones"}
    assert not resumed_shards & set(finished_run["done_before_kill"])


@pytest.mark.slow
def test_outputs_of_the_campaign(finished_run):
    results, campaign = finished_run["results"], read_campaign(finished_run["config"])
    p = campaign.proteins
    designs = pd.read_parquet(results / "proteins" / "designs.parquet")
    assert len(designs) == len(p.methods) * len(p.lengths) * p.seeds.count
    assert set(designs["method"]) == set(p.methods)
    assert designs["design_key"].is_unique or designs.groupby("method")["design_key"].apply(
        lambda s: s.is_unique).all()
    for column in ("max_tm", "helix_fraction", "strand_fraction", "mean_mpnn_nll", "cluster", "log_q_0", "log_q_1"):
        assert column in designs.columns, column
    summary = pd.read_csv(results / "proteins" / "summary.csv")
    assert list(summary["method"]) == list(p.methods)
    assert summary["designable_fraction"].isna().all()
    assert summary["designability_note"].str.contains("Refolding is off").all()
    shard_files = sorted((results / "proteins" / "shards").rglob("designs.parquet"))
    assert len(shard_files) == len(p.methods) * len(p.lengths) * len(p.seeds.shards())
    # each method's settings file holds that method's entry of methods.json, and nothing else
    methods = json.loads((results / "methods.json").read_text())
    for domain in ("proteins", "molecules"):
        for name, entry in methods[domain].items():
            assert json.loads((results / "methods" / domain / f"{name}.json").read_text()) == {domain: {name: entry}}
    # provenance: the resolved config and package versions beside the results
    resolved = yaml.safe_load((results / "config.resolved.yaml").read_text())
    assert resolved["proteins"]["evaluation"]["refold"]["enabled"] is False
    prov = json.loads((results / "provenance.json").read_text())
    assert prov["settings"] == resolved and prov["versions"]["torch"]
    # the self-contained summary: figures embedded, nothing fetched from the network
    page = (results / "summary.html").read_text()
    assert "Refolding is off" in page
    assert len(re.findall(r'<img src="data:image/png;base64,', page)) >= 4
    assert not re.search(r'(src|href)="https?://', page)
    # every job left a benchmark file
    assert len(list((results / "benchmarks").rglob("*.tsv"))) >= len(shard_files) * 4
    if campaign.molecules is not None and campaign.molecules.enabled:
        m = campaign.molecules
        mol = pd.read_parquet(results / "molecules" / "molecules.parquet")
        assert len(mol) == len(m.methods) * m.seeds.count
        metrics = json.loads((results / "molecules" / "metrics.json").read_text())
        assert set(metrics["runs"]) == set(m.methods)
        assert "Molecules" in page


@pytest.mark.slow
def test_complete_run_has_nothing_left_to_do(finished_run):
    res = run(finished_run["work"], finished_run["config"], "-n", "--cores", "2")
    assert res.returncode == 0
    assert "Nothing to be done" in res.stdout + res.stderr


@pytest.mark.slow
def test_a_lost_design_pdb_is_named_and_only_it_is_sampled_again(finished_run, tmp_path):
    shard = next((finished_run["results"] / "proteins" / "shards").rglob("designs.parquet")).parent
    backup = tmp_path / "shard"
    shutil.copytree(shard, backup)  # copy2: mtimes kept, so the finished run stays finished for the other tests
    try:
        pdbs = sorted(shard.glob("*.pdb"))
        lost = pdbs[len(pdbs) // 2]
        lost.unlink()
        refused = run(finished_run["work"], finished_run["config"], "-n", "--cores", "2")
        assert refused.returncode != 0
        said = refused.stdout + refused.stderr
        assert f"lost 1 design PDB(s) ({lost.name})" in said and "samples only the lost designs" in said, said[-2000:]
        assert "Traceback" not in said
        remedy = re.search(r"run `superdiff (sample-backbones [^`]+)`", said).group(1).split()
        from tests.reliability.conftest import run_with_timeout

        rc, _, err = run_with_timeout(remedy, timeout=600, cwd=str(finished_run["work"]))
        assert rc == 0, err[-3000:]
        assert lost.read_bytes() == (backup / lost.name).read_bytes()
        assert all(p.stat().st_mtime_ns == (backup / p.name).stat().st_mtime_ns for p in pdbs if p != lost)
    finally:
        shutil.rmtree(shard)
        shutil.copytree(backup, shard)


def _edit(finished_run, tmp_path, edit):
    return copy_config(finished_run["config"], tmp_path / "edited.yaml", edit)


@pytest.mark.slow
def test_changing_one_parameter_reruns_only_the_jobs_it_affects(finished_run, tmp_path):
    edited = _edit(finished_run, tmp_path, lambda d: d["proteins"]["methods"]["and"].update(bias=[0.5]))
    res = run(finished_run["work"], edited, "-n", "--cores", "2")
    assert res.returncode == 0, res.stderr
    jobs = planned_jobs(res.stdout)
    rules = {r for r, _ in jobs}
    assert {"sample_backbones", "gather_designs", "inverse_fold", "novelty", "secondary_structure", "diversity",
            "aggregate_proteins"} <= rules
    assert all(w.get("method", "and") == "and" for _, w in jobs), jobs
    assert not rules & {"sample_molecules", "molecules_table", "molecule_metrics", "verify_models"}
    campaign = read_campaign(edited)
    n_and = len(campaign.proteins.lengths) * len(campaign.proteins.seeds.shards())
    assert sum(r == "sample_backbones" for r, _ in jobs) == n_and


def _params_changed(dry_run_output: str) -> set[tuple[str, str | None]]:
    """(rule, method wildcard) of every planned job whose reason is a change of its params."""
    changed = set()
    for block in re.split(r"\n(?=(?:local)?rule \w+:\n)", dry_run_output):
        rule = re.match(r"\s*(?:local)?rule (\w+):", block)
        if rule and re.search(r"^    reason: Params have changed", block, re.MULTILINE):
            method = re.search(r"^    wildcards: .*\bmethod=(\w+)", block, re.MULTILINE)
            changed.add((rule.group(1), method.group(1) if method else None))
    return changed


@pytest.mark.slow
def test_editing_one_method_changes_the_params_of_its_own_settings_only(finished_run, tmp_path):
    """Snakemake's own reasons: after editing one method, the only jobs whose params changed are the one writing
    that method's settings file and the one writing the campaign's resolved files; the rest follows from files."""
    edited = _edit(finished_run, tmp_path, lambda d: d["proteins"]["methods"]["and"].update(bias=[0.5]))
    res = run(finished_run["work"], edited, "-n", "--cores", "2")
    assert res.returncode == 0, res.stderr
    assert _params_changed(res.stdout) == {("method_settings", "and"), ("campaign_config", None)}, res.stdout[-3000:]


@pytest.mark.slow
def test_editing_one_molecule_method_resamples_that_method_only(finished_run, tmp_path):
    edited = _edit(finished_run, tmp_path,
                   lambda d: d["molecules"]["methods"]["and"].update(curvature_correction=False))
    res = run(finished_run["work"], edited, "-n", "--cores", "2")
    assert res.returncode == 0, res.stderr
    jobs = planned_jobs(res.stdout)
    assert {(r, w.get("method")) for r, w in jobs if "method" in w} == {("method_settings", "and"),
                                                                         ("sample_molecules", "and")}
    assert [w["domain"] for r, w in jobs if r == "method_settings"] == ["molecules"]
    assert {r for r, _ in jobs} == {"campaign_config", "method_settings", "sample_molecules", "molecules_table",
                                    "molecule_metrics", "summary_report", "all"}


@pytest.mark.slow
def test_adding_a_length_samples_only_the_new_shards(finished_run, tmp_path):
    campaign = read_campaign(finished_run["config"])
    new = max(campaign.proteins.lengths) + 6
    edited = _edit(finished_run, tmp_path, lambda d: d["proteins"]["lengths"].append(new))
    res = run(finished_run["work"], edited, "-n", "--cores", "2")
    assert res.returncode == 0, res.stderr
    jobs = planned_jobs(res.stdout)
    assert {(r, w["length"]) for r, w in jobs if "length" in w} == {("verify_models", str(new)),
                                                                     ("sample_backbones", str(new))}
    assert sum(r == "sample_backbones" for r, _ in jobs) == len(campaign.proteins.methods) * len(
        campaign.proteins.seeds.shards())
    assert not {r for r, _ in jobs} & {"method_settings", "sample_molecules"}


@pytest.mark.slow
def test_new_weights_rerun_the_jobs_that_used_them(finished_run, tmp_path, monkeypatch):
    """A retrained molecule model (its manifest changes) re-plans every molecule sample and nothing else."""
    import shutil

    weights = tmp_path / "molecule_weights"
    shutil.copytree(ROOT / "resources" / "weights" / "molecules", weights)
    manifest = json.loads((weights / "manifest.json").read_text())
    (weights / "manifest.json").write_text(json.dumps({**manifest, "note": "retrained"}))
    monkeypatch.setenv("SUPERDIFF_MOLECULE_WEIGHTS", str(weights))
    res = run(finished_run["work"], finished_run["config"], "-n", "--cores", "2")
    assert res.returncode == 0, res.stderr
    jobs = planned_jobs(res.stdout)
    m = read_campaign(finished_run["config"]).molecules
    assert sum(r == "sample_molecules" for r, _ in jobs) == len(m.methods) * len(m.seeds.shards())
    assert not {r for r, _ in jobs} & {"sample_backbones", "verify_models", "inverse_fold"}


@pytest.mark.slow
def test_snakemake_report(finished_run):
    work, config = finished_run["work"], finished_run["config"]
    out = finished_run["results"] / "snakemake-report.html"
    res = run(work, config, "--report", str(out))
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    assert out.stat().st_size > 10_000
