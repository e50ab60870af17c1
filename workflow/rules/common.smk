# Helpers for the rules: config checking, shard lists, per-job parameters and targets.
# Rules contain no lambdas and no logic; everything they compute from the config is a named function here.
# A parameter reaches a job only through params:, so changing it re-runs exactly the jobs that use it
# (Snakemake's "params" rerun trigger), and the seed range of a shard is part of its path.

import json
import shlex

from snakemake.exceptions import WorkflowError

from superdiff.config import CampaignError, load_campaign, resolved

try:
    CAMPAIGN = load_campaign(config)
except CampaignError as err:
    raise WorkflowError(f"{err}\n(schema: workflow/schemas/config.schema.json)") from None

# Fill in every default so that the JSON-schema validation, params and the resolved config agree.
config.clear()
config.update(resolved(CAMPAIGN))

NAME = CAMPAIGN.campaign
OUT = f"results/{NAME}"
LOGS = f"{OUT}/logs"
BENCH = f"{OUT}/benchmarks"
PROTEINS = CAMPAIGN.proteins if CAMPAIGN.proteins is not None and CAMPAIGN.proteins.enabled else None
MOLECULES = CAMPAIGN.molecules if CAMPAIGN.molecules is not None and CAMPAIGN.molecules.enabled else None


wildcard_constraints:
    method="[a-z][a-z0-9_]*",
    length="[0-9]+",
    first="[0-9]+",
    stop="[0-9]+",


# ---------------------------------------------------------------- resources


def gpus(wildcards=None):
    """GPUs a GPU-capable job asks for: 1 when the campaign runs on CUDA, else 0 (no --gpus to sbatch)."""
    return 1 if CAMPAIGN.device.startswith("cuda") else 0


# ---------------------------------------------------------------- campaign


def campaign_json():
    """The resolved campaign as one JSON string (params of the rule that writes it beside the results)."""
    return json.dumps(resolved(CAMPAIGN), sort_keys=True)


# ---------------------------------------------------------------- molecules


def molecule_methods():
    return list(MOLECULES.methods) if MOLECULES else []


def molecule_shards():
    """(first, stop) seed ranges, one sampling job each per method."""
    return MOLECULES.seeds.shards() if MOLECULES else []


def molecule_shard_files(wildcards):
    """The shard tables of one method, in seed order."""
    return [
        f"{OUT}/molecules/samples/{wildcards.method}/seeds{a}-{b}/molecules.parquet"
        for a, b in molecule_shards()
    ]


def shard_size(wildcards):
    """Designs in the shard ``seeds{first}-{stop}`` (half-open range)."""
    return int(wildcards.stop) - int(wildcards.first)


def molecule_sample_args(wildcards):
    """sample-molecules arguments for a method (conditions, operator, guidance, steps, device)."""
    m = MOLECULES.methods[wildcards.method]
    args = []
    for c in MOLECULES.conditions:
        args += ["--condition", c]
    args += ["--method", m.operator]
    if m.index is not None:
        args += ["--index", str(m.index)]
    if m.operator == "and" and not m.curvature_correction:
        args += ["--no-curvature-correction"]
    args += ["--guidance", str(MOLECULES.guidance), "--steps", str(MOLECULES.steps)]
    args += ["--device", CAMPAIGN.device]
    return shlex.join(args)


def molecule_metrics_args(wildcards=None):
    args = []
    for c in MOLECULES.conditions:
        args += ["--condition", c]
    args += ["--fcd-reference", str(MOLECULES.fcd_reference)]
    if not MOLECULES.novelty:
        args += ["--no-novelty"]
    return shlex.join(args)


def molecule_method_tables(wildcards=None):
    return [f"{OUT}/molecules/methods/{m}/molecules.parquet" for m in molecule_methods()]


def molecule_targets():
    if not MOLECULES:
        return []
    return [f"{OUT}/molecules/metrics.json", f"{OUT}/molecules/molecules.parquet"]


# ---------------------------------------------------------------- targets


def all_targets():
    """Everything the campaign produces."""
    targets = [f"{OUT}/config.resolved.yaml", f"{OUT}/provenance.json"]
    targets += molecule_targets()
    return targets
