"""AND's calibration once per campaign and method: the DAG has one calibrate_molecules job per AND method with
and_target typical, and exactly that method's shards read it (sample-molecules --typical-path)."""

from __future__ import annotations

import json
import re

import pytest

from superdiff.campaign.config import read_campaign

from .helpers import ROOT, planned_jobs, run

CONFIGS = [ROOT / "config" / "config.yaml", ROOT / "config" / "campaigns" / "molecules_gsk3b_druglike.yaml"]


def _typical_and_methods(config) -> set[str]:
    m = read_campaign(config).molecules
    return {name for name, method in m.methods.items()
            if method.operator == "and" and (method.and_target or "typical") == "typical"}


@pytest.mark.slow  # a dry run of a whole campaign: ~8 s
@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.name)
def test_one_calibration_job_per_typical_and_method(tmp_path, config):
    res = run(tmp_path, config, "-n", "-p", "--cores", "2")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    jobs = planned_jobs(res.stdout)
    expected = _typical_and_methods(config)
    assert expected, "the campaign has an AND (typical) method"
    calibrations = [w["method"] for r, w in jobs if r == "calibrate_molecules"]
    assert sorted(calibrations) == sorted(expected)
    commands = re.findall(r"superdiff sample-molecules .*", res.stdout)
    n_shards = len(read_campaign(config).molecules.seeds.shards())
    for method in read_campaign(config).molecules.methods:
        own = [c for c in commands if f"--method-name {method} " in c]
        assert len(own) == n_shards, method
        flag = f"--typical-path results/{read_campaign(config).campaign}/molecules/calibration/{method}.json"
        assert all((flag in c) == (method in expected) for c in own), (method, own)
        if method not in expected:
            assert not any("--typical-path" in c for c in own)


@pytest.mark.slow  # a real run of the .test campaign's molecules: ~40 s
def test_the_calibration_reruns_only_when_its_own_settings_change(tmp_path):
    from .helpers import TEST_CONFIG, copy_config

    config = copy_config(TEST_CONFIG, tmp_path / "config.yaml")
    target = "results/ci/molecules/metrics.json"
    done = run(tmp_path, config, "--cores", "2", target, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    calibration = tmp_path / "results" / "ci" / "molecules" / "calibration" / "and.json"
    provenance = json.loads((tmp_path / "results/ci/molecules/samples/and/seeds0-16/provenance.json").read_text())
    assert provenance["settings"]["summary"]["typical_path"] == "results/ci/molecules/calibration/and.json"
    assert json.loads(calibration.read_text())["settings"]["steps"] == 50

    def planned(edit):
        edited = copy_config(config, tmp_path / "edited.yaml", edit)
        res = run(tmp_path, edited, "-n", "--cores", "2", target)
        assert res.returncode == 0, res.stderr[-3000:]
        return {(r, w.get("method")) for r, w in planned_jobs(res.stdout) if "method" in w}

    # AND without the curvature term: its shards again, its calibration kept (it does not depend on it)
    assert planned(lambda d: d["molecules"]["methods"]["and"].update(curvature_correction=False)) == {
        ("method_settings", "and"), ("sample_molecules", "and")}
    assert planned(lambda d: d["molecules"]["methods"]["and"].update(curvature_every=8)) == {
        ("method_settings", "and"), ("sample_molecules", "and")}
    # another guidance weight: the calibration too
    assert ("calibrate_molecules", "and") in planned(lambda d: d["molecules"].update(guidance=3.0))
