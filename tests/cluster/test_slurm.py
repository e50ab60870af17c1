"""The .test campaign on a real SLURM cluster (tests/cluster/slurm.sh), through snakemake-executor-plugin-slurm.

Run by tests/cluster/run.sh, which starts a one-node cluster on localhost and stops it afterwards. Skipped when
no idle SLURM node answers. Checks that every job went through sbatch (sacct lists it, with the resources its
rule asked for), that a job cancelled with scancel is retried without touching finished shards, and that the
results equal a local run of the same config (same seeds, same tables).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest

from superdiff.campaign.config import read_campaign


def _helpers():
    """tests/workflow/helpers.py (tests/ is not a package, so load it by path)."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "workflow" / "helpers.py"
    spec = importlib.util.spec_from_file_location("superdiff_workflow_test_helpers", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_h = _helpers()
ROOT, TEST_CONFIG = _h.ROOT, _h.TEST_CONFIG
copy_config, planned_jobs, run, start, wait_for = _h.copy_config, _h.planned_jobs, _h.run, _h.start, _h.wait_for

pytestmark = pytest.mark.slurm


def _slurm_up() -> bool:
    if shutil.which("sinfo") is None:
        return False
    res = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True)
    return res.returncode == 0 and ("idle" in res.stdout or "mix" in res.stdout)


# Opt-in (tests/cluster/run.sh sets it): the fast suite must not submit to whatever cluster the machine has.
requires_slurm = pytest.mark.skipif(
    os.environ.get("SUPERDIFF_SLURM_TESTS") != "1" or not _slurm_up(),
    reason="SLURM test: run tests/cluster/run.sh (starts a one-node cluster, sets SUPERDIFF_SLURM_TESTS=1)",
)

COMMENT_RE = re.compile(r"^rule_(?P<rule>.+?)(?:_wildcards_(?P<wildcards>.*))?$")
# Shorter status polling than the profile's default, so the small CI campaign does not wait on the poller.
SLURM_ARGS = ("--profile", str(ROOT / "profiles" / "slurm"), "--slurm-init-seconds-before-status-checks", "2",
              "--slurm-no-account", "--latency-wait", "10", "--jobs", "4")


def _squeue_running() -> list[tuple[str, str]]:
    out = subprocess.run(["squeue", "-h", "-t", "RUNNING", "-o", "%i|%k"], capture_output=True, text=True).stdout
    return [tuple(line.split("|", 1)) for line in out.splitlines() if "|" in line]


def _sacct(since: str) -> pd.DataFrame:
    fields = "JobID,JobName%60,State,ReqMem,ReqCPUS,Timelimit,Comment%200"
    out = subprocess.run(["sacct", "-X", "-n", "-P", "-S", since, "-o", fields], capture_output=True, text=True,
                         check=True).stdout
    rows = [line.split("|") for line in out.splitlines() if line.strip()]
    return pd.DataFrame(rows, columns=fields.replace("%60", "").replace("%200", "").split(","))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A local run and a SLURM run (with one sampling job cancelled) of the same .test config."""
    local = tmp_path_factory.mktemp("local")
    cluster = tmp_path_factory.mktemp("slurm")
    local_cfg = copy_config(TEST_CONFIG, local / "config.yaml")
    cluster_cfg = copy_config(TEST_CONFIG, cluster / "config.yaml")
    since = time.strftime("%Y-%m-%dT%H:%M:%S")
    dry = run(cluster, cluster_cfg, "-n", "--cores", "2")
    assert dry.returncode == 0, dry.stderr
    planned = planned_jobs(dry.stdout)

    proc = start(cluster, cluster_cfg, *SLURM_ARGS, log=cluster / "snakemake.log")
    results = cluster / "results" / read_campaign(cluster_cfg).campaign
    cancelled: dict[str, str] = {}
    finished_before: dict[Path, int] = {}

    def cancel_a_sampling_job() -> bool:
        for jobid, comment in _squeue_running():
            m = COMMENT_RE.match(comment)
            if m and m["rule"] == "sample_backbones":
                for f in (results / "proteins" / "shards").rglob("designs.parquet"):
                    finished_before[f] = f.stat().st_mtime_ns
                subprocess.run(["scancel", jobid], check=True)
                cancelled.update(jobid=jobid, wildcards=m["wildcards"] or "")
                return True
        return False

    try:
        assert wait_for(cancel_a_sampling_job, timeout=400, proc=proc, poll=0.3), \
            (cluster / "snakemake.log").read_text()[-3000:]
        rc = proc.wait(timeout=900)
    finally:
        if proc.poll() is None:
            proc.kill()
    log = (cluster / "snakemake.log").read_text()
    assert rc == 0, log[-5000:]

    res = run(local, local_cfg, "--cores", "2", timeout=900)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    time.sleep(2)  # let slurmdbd record the last job ends
    return {"local": local, "cluster": cluster, "config": cluster_cfg, "planned": planned, "sacct": _sacct(since),
            "cancelled": cancelled, "finished_before": finished_before, "log": log}


@requires_slurm
def test_every_job_went_through_sbatch_with_its_resources(runs):
    acct = runs["sacct"]
    acct = acct[acct["Comment"].str.startswith("rule_")].copy()
    acct["rule"] = [COMMENT_RE.match(c)["rule"] for c in acct["Comment"]]
    planned = pd.Series([r for r, _ in runs["planned"] if r != "all"]).value_counts()
    completed = acct[acct["State"] == "COMPLETED"]["rule"].value_counts()
    assert completed.sort_index().to_dict() == planned.sort_index().to_dict(), (completed, planned)
    # the resources the rules / the slurm profile ask for reach sbatch
    expected_mem = {"sample_backbones": "2000M", "inverse_fold": "3000M", "novelty": "2000M",
                    "secondary_structure": "1000M", "sample_molecules": "3000M", "molecule_metrics": "4000M",
                    "aggregate_proteins": "2000M"}
    for rule, mem in expected_mem.items():
        got = set(acct.loc[acct["rule"] == rule, "ReqMem"])
        if rule in planned:
            assert got == {mem}, (rule, got)
    assert set(acct.loc[acct["rule"] == "diversity", "ReqCPUS"]) == {"2"}
    assert set(acct.loc[acct["rule"] == "sample_backbones", "Timelimit"]) == {"01:00:00"}


@requires_slurm
def test_a_cancelled_job_is_retried_without_losing_finished_shards(runs):
    acct = runs["sacct"]
    jobid = runs["cancelled"]["jobid"]
    state = acct.loc[acct["JobID"] == jobid, "State"]
    assert len(state) == 1 and state.iloc[0].startswith("CANCELLED"), acct
    comment = acct.loc[acct["JobID"] == jobid, "Comment"].iloc[0]
    again = acct[(acct["Comment"] == comment) & (acct["JobID"] != jobid)]
    assert (again["State"] == "COMPLETED").sum() == 1, "the cancelled job was not retried"
    for path, mtime in runs["finished_before"].items():
        assert path.stat().st_mtime_ns == mtime, f"{path} was finished before the scancel but got recomputed"


TABLES = ("proteins/designs.parquet", "proteins/summary.csv", "molecules/molecules.parquet")


@requires_slurm
@pytest.mark.parametrize("table", TABLES)
def test_slurm_results_equal_the_local_run(runs, table):
    campaign = read_campaign(runs["config"]).campaign
    a = runs["local"] / "results" / campaign / table
    b = runs["cluster"] / "results" / campaign / table
    if not a.exists():
        pytest.skip(f"{table} is not part of the .test campaign")
    read = pd.read_csv if table.endswith(".csv") else pd.read_parquet
    pd.testing.assert_frame_equal(read(a), read(b), check_exact=True)
