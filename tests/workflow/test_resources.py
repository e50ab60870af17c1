"""Threads, memory and runtimes are declared in one place, profiles/default (the workflow profile Snakemake loads
for every run, also under --profile profiles/slurm): the rules hold no numbers, every rule has an entry there, and
a dry run through the SLURM profile hands each job what tests/cluster/test_slurm.py expects sbatch to get."""

from __future__ import annotations

import re

import pytest
import yaml

from .helpers import ROOT, TEST_CONFIG, run

RULE_FILES = sorted([ROOT / "Snakefile", *(ROOT / "workflow" / "rules").glob("*.smk")])
RULE_RE = re.compile(r"^(?:local)?rule (\w+):\n((?:[ \t]+.*\n|\n)*)", re.MULTILINE)
PROFILE = yaml.safe_load((ROOT / "profiles" / "default" / "config.yaml").read_text())


def _rules() -> dict[str, str]:
    """Rule name -> the text of its body, over every rule file."""
    rules = {}
    for path in RULE_FILES:
        for name, body in RULE_RE.findall(path.read_text()):
            rules[name] = body
    return rules


def _directive(body: str, name: str) -> str:
    """The text of one directive of a rule body (empty if absent)."""
    m = re.search(rf"^    {name}:(.*\n(?:        .*\n)*)", body, re.MULTILINE)
    return m.group(1) if m else ""


def test_the_rule_parser_sees_every_rule():
    rules = _rules()
    assert {"sample_backbones", "inverse_fold", "sample_molecules", "summary_report", "all"} <= set(rules)
    assert "gpu=gpus" in _directive(rules["sample_backbones"], "resources")


@pytest.mark.parametrize("name", sorted(_rules()))
def test_rules_declare_no_threads_memory_or_runtime(name):
    body = _rules()[name]
    assert not _directive(body, "threads"), f"rule {name} declares threads: set them in profiles/default"
    resources = _directive(body, "resources")
    assert not re.search(r"\b(mem\w*|runtime|disk\w*|time\w*)\s*=", resources), \
        f"rule {name} declares {resources.strip()!r}: set it in profiles/default/config.yaml"
    assert re.sub(r"\s|gpu=gpus,?", "", resources) == "", f"rule {name}: only gpu=gpus may stay in the rule"


@pytest.mark.parametrize("name", sorted(set(_rules()) - {"all"}))
def test_every_rule_has_memory_and_runtime_in_the_default_profile(name):
    entry = PROFILE["set-resources"].get(name)
    assert entry is not None and {"mem_mb", "runtime"} <= set(entry), \
        f"profiles/default/config.yaml: set-resources has no mem_mb and runtime for rule {name}"


def test_the_slurm_profile_declares_no_per_rule_resources():
    """The workflow profile's set-resources / set-threads win over any the SLURM profile gives, so there must be
    none there (a value in it would silently do nothing)."""
    slurm = yaml.safe_load((ROOT / "profiles" / "slurm" / "config.yaml").read_text())
    assert not {"set-resources", "set-threads", "resources", "retries"} & set(slurm)


#: what tests/cluster/test_slurm.py checks sacct for (ReqMem per rule, CPUs of diversity, time of sampling)
CLUSTER_MEM = {"sample_backbones": 2000, "inverse_fold": 3000, "novelty": 2000, "secondary_structure": 1000,
               "sample_molecules": 3000, "molecule_metrics": 4000, "aggregate_proteins": 2000}
JOB_RE = re.compile(r"^(?:local)?rule (\w+):\n((?:    .*\n)+)", re.MULTILINE)


@pytest.mark.slow
def test_a_slurm_dry_run_hands_each_job_its_profile_resources(tmp_path):
    res = run(tmp_path, TEST_CONFIG, "-n", "--profile", str(ROOT / "profiles" / "slurm"), "--slurm-no-account")
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    seen: dict[str, set[tuple]] = {}
    for rule, block in JOB_RE.findall(res.stdout):
        if rule == "all":
            continue
        resources = dict(re.findall(r"(\w+)=([^,\n]+)", re.search(r"resources: (.*)", block).group(1)))
        threads = re.search(r"threads: (\d+)", block)
        seen.setdefault(rule, set()).add((int(resources["mem_mb"]), int(resources["runtime"]),
                                          int(threads.group(1)) if threads else 1))
    assert seen, res.stdout[-2000:]
    for rule, values in seen.items():
        entry = PROFILE["set-resources"][rule]
        threads = PROFILE.get("set-threads", {}).get(rule, 1)
        assert values == {(entry["mem_mb"], entry["runtime"], threads)}, (rule, values)
    for rule, mem in CLUSTER_MEM.items():
        assert {m for m, _, _ in seen[rule]} == {mem}, rule
    assert {t for _, _, t in seen["diversity"]} == {2}
    assert {r for _, r, _ in seen["sample_backbones"]} == {60}
