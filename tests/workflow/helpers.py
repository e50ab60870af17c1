"""Running the Snakemake workflow from tests: in a scratch working directory, with the venv's bin on PATH."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SNAKEFILE = ROOT / "Snakefile"
TEST_CONFIG = ROOT / ".test" / "config" / "config.yaml"
CAMPAIGN_CONFIGS = sorted([ROOT / "config" / "config.yaml", TEST_CONFIG,
                           *(ROOT / "config" / "campaigns").glob("*.yaml")])


def env() -> dict[str, str]:
    """The environment the rules need: `superdiff` and `snakemake` from this interpreter's bin folder."""
    e = dict(os.environ)
    e["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{e.get('PATH', '')}"
    e.setdefault("OMP_NUM_THREADS", "1")
    e.setdefault("MPLBACKEND", "Agg")
    return e


def command(workdir: Path, configfile: Path | None, *args: str) -> list[str]:
    cmd = [str(Path(sys.executable).parent / "snakemake"), "-s", str(SNAKEFILE), "--directory", str(workdir)]
    if configfile is not None:
        cmd += ["--configfile", str(configfile)]
    return cmd + list(args)


def run(workdir: Path, configfile: Path | None, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(command(workdir, configfile, *args), env=env(), capture_output=True, text=True,
                          timeout=timeout, cwd=workdir)


def start(workdir: Path, configfile: Path, *args: str, log: Path) -> subprocess.Popen:
    """Start a run in its own process group (so the test can kill it and every job it started)."""
    handle = open(log, "w")
    return subprocess.Popen(command(workdir, configfile, *args), env=env(), stdout=handle, stderr=subprocess.STDOUT,
                            cwd=workdir, start_new_session=True)


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the run and its jobs, as a crashed node or an OOM kill would."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=30)


def wait_for(predicate, timeout: float, proc: subprocess.Popen | None = None, poll: float = 0.5) -> bool:
    """Poll ``predicate`` until true; False if the run ended first or the timeout passed."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        if proc is not None and proc.poll() is not None:
            return bool(predicate())
        time.sleep(poll)
    return False


JOB_RE = re.compile(r"^(?:local)?rule (\w+):\n(?:    .*\n)*?    wildcards: (.*)$", re.MULTILINE)
RULE_RE = re.compile(r"^(?:local)?rule (\w+):$", re.MULTILINE)


def _job_blocks(output: str) -> list[tuple[str, str | None, dict[str, str]]]:
    """(rule, jobid, wildcards) of every job block a Snakemake log or dry run lists."""
    jobs = []
    for block in re.split(r"\n(?=(?:local)?rule \w+:\n)", output):
        m = RULE_RE.search(block)
        if not m or not block.lstrip().startswith(("rule ", "localrule ")):
            continue
        wc = re.search(r"^    wildcards: (.*)$", block, re.MULTILINE)
        jobid = re.search(r"^    jobid: (\d+)$", block, re.MULTILINE)
        wildcards = dict(item.split("=", 1) for item in wc.group(1).split(", ")) if wc else {}
        jobs.append((m.group(1), jobid.group(1) if jobid else None, wildcards))
    return jobs


def planned_jobs(dry_run_output: str) -> list[tuple[str, dict[str, str]]]:
    """(rule, wildcards) of every job a dry run lists (jobs without wildcards get {})."""
    return [(rule, wildcards) for rule, _, wildcards in _job_blocks(dry_run_output)]


def finished_jobs(log: str) -> list[tuple[str, dict[str, str]]]:
    """(rule, wildcards) of every job a run's log reports finished ("Finished jobid: N"). Only these are complete:
    a job killed after writing its outputs (or its benchmark) but before Snakemake recorded it is rerun."""
    done = set(re.findall(r"^Finished jobid: (\d+) ", log, re.MULTILINE))
    return [(rule, wildcards) for rule, jobid, wildcards in _job_blocks(log) if jobid in done]


def copy_config(src: Path, dest: Path, edit=None) -> Path:
    """Copy a config YAML, optionally editing the parsed mapping in place."""
    import yaml

    data = yaml.safe_load(src.read_text())
    if edit is not None:
        edit(data)
    dest.write_text(yaml.safe_dump(data, sort_keys=False))
    return dest


def clean(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
