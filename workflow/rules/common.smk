# The validated campaign, its resolved methods, and the few helpers the rules need (shard lists, targets).
# Rules hold no lambdas and no logic. A job's settings reach it through params: (Snakemake's "params" rerun
# trigger), so changing one re-runs exactly the jobs that use it; a shard's seed range is part of its path.
# Threads, memory and runtimes are not here: profiles/default/config.yaml holds them for every rule.

import json
import shlex
from pathlib import Path

from snakemake.exceptions import WorkflowError

from superdiff.campaign.config import (
    CampaignError,
    load_campaign,
    read_yaml_strict,
    resolved,
)
from superdiff.campaign.shards import incomplete_shards_message, missing_design_files
from superdiff.campaign.methods import (
    model_fingerprints,
    resolve_methods,
    single_method,
)

try:
    # Snakemake has parsed the config files already, keeping the later of two equal keys: read them again
    # strictly, so a duplicate key or a tab is one line with file:line:column, as in `superdiff validate-config`.
    for _path in workflow.configfiles:
        read_yaml_strict(_path)
    CAMPAIGN = load_campaign(config)
except CampaignError as err:
    raise WorkflowError(
        f"{err}\n(schema: workflow/schemas/config.schema.json)"
    ) from None

# Fill in every default so that the JSON-schema validation, params and the resolved config agree.
config.clear()
config.update(resolved(CAMPAIGN))

OUT = f"results/{CAMPAIGN.campaign}"
LOGS = f"{OUT}/logs"
BENCH = f"{OUT}/benchmarks"
PROTEINS = (
    CAMPAIGN.proteins
    if CAMPAIGN.proteins is not None and CAMPAIGN.proteins.enabled
    else None
)
MOLECULES = (
    CAMPAIGN.molecules
    if CAMPAIGN.molecules is not None and CAMPAIGN.molecules.enabled
    else None
)

# Every method's sampler settings, as results/<campaign>/methods.json holds them (superdiff.campaign.methods);
# each method's jobs read its own file, results/<campaign>/methods/<domain>/<method>.json.
METHODS = resolve_methods(CAMPAIGN)
METHOD_FILE = f"{OUT}/methods/{{domain}}/{{method}}.json"
PROTEIN_METHOD = f"{OUT}/methods/proteins/{{method}}.json"
MOLECULE_METHOD = f"{OUT}/methods/molecules/{{method}}.json"

SHARD = f"{OUT}/proteins/shards/{{method}}/L{{length}}/seeds{{first}}-{{stop}}"
SHARD_NAME = "{method}/L{length}/seeds{first}-{stop}"
METHOD = f"{OUT}/proteins/methods/{{method}}"
MOLECULE_SHARD = f"{OUT}/molecules/samples/{{method}}/seeds{{first}}-{{stop}}"
# AND (typical): the method's calibration pass, computed once (calibrate_molecules)
MOLECULE_CALIBRATION = f"{OUT}/molecules/calibration/{{method}}.json"


wildcard_constraints:
    domain="proteins|molecules",
    method="[a-z][a-z0-9_]*",
    length="[0-9]+",
    first="[0-9]+",
    stop="[0-9]+",


def gpus(wildcards=None):
    """GPUs a GPU-capable job asks for: 1 when the campaign runs on CUDA, else 0 (no --gpus to sbatch)."""
    return 1 if CAMPAIGN.device.startswith("cuda") else 0


def method_settings(wildcards):
    """One method's file, ``{domain: {method: entry}}`` as JSON: the params of the job writing it, so editing the
    method (or its weights) rewrites that file only, and only its jobs re-run."""
    d, m = wildcards.domain, wildcards.method
    return json.dumps(single_method(d, m, METHODS[d][m]), sort_keys=True)


def shard_size(wildcards):
    """Designs in the shard ``seeds{first}-{stop}`` (half-open range)."""
    return int(wildcards.stop) - int(wildcards.first)


def check_finished_protein_shards():
    """Refuse to build the DAG over a finished shard that lost PDBs (they are not declared outputs)."""
    missing, commands = {}, {}
    for method in PROTEINS.methods:
        for length in PROTEINS.lengths:
            for first, stop in PROTEINS.seeds.shards():
                shard = Path(
                    f"{OUT}/proteins/shards/{method}/L{length}/seeds{first}-{stop}"
                )
                lost = missing_design_files(shard, length, first, stop)
                if lost:
                    missing[shard] = lost
                    commands[shard] = (
                        f"superdiff sample-backbones --methods {OUT}/methods/proteins/{method}.json "
                        f"--method-name {method} --length {length} --first-index {first} "
                        f"--num {stop - first} --out {shard}"
                    )
    if missing:
        raise WorkflowError(incomplete_shards_message(missing, commands))


def protein_shard_tables(wildcards):
    """designs.parquet of every shard of one method, in (length, seed) order."""
    return [
        f"{OUT}/proteins/shards/{wildcards.method}/L{length}/seeds{a}-{b}/designs.parquet"
        for length in PROTEINS.lengths
        for a, b in PROTEINS.seeds.shards()
    ]


def protein_method_tables(wildcards=None):
    """Every method's gathered designs and the evaluation tables the campaign computes for them."""
    e = PROTEINS.evaluation
    names = ["designs"]
    names += ["self_consistency"] if e.refold.enabled else []
    names += ["sequences"] if e.inverse_fold.enabled and not e.refold.enabled else []
    names += ["novelty"] if e.novelty.enabled else []
    names += ["secondary_structure"] if e.secondary_structure.enabled else []
    names += ["diversity"] if e.diversity.enabled else []
    return [
        f"{OUT}/proteins/methods/{m}/{name}.parquet"
        for m in PROTEINS.methods
        for name in names
    ]


def molecule_shard_tables(wildcards=None):
    """Every molecule shard's table, methods in config order, shards in seed order."""
    return [
        f"{OUT}/molecules/samples/{m}/seeds{a}-{b}/molecules.parquet"
        for m in MOLECULES.methods
        for a, b in MOLECULES.seeds.shards()
    ]


def calibrated_molecule_methods():
    """Molecule methods whose AND follows a typical path (one calibration job each)."""
    return [
        name
        for name, entry in METHODS["molecules"].items()
        if entry["operator"] == "and" and entry["and_target"] == "typical"
    ]


def molecule_calibration(wildcards):
    """The method's calibration file, or nothing for a method without one."""
    if wildcards.method not in calibrated_molecule_methods():
        return []
    return [MOLECULE_CALIBRATION.format(method=wildcards.method)]


def molecule_calibration_flag(wildcards):
    """``--typical-path FILE`` for a method with a calibration, else empty."""
    files = molecule_calibration(wildcards)
    return shlex.join(["--typical-path", *files]) if files else ""


def molecule_calibration_args(wildcards):
    """calibrate-molecules' flags: only the settings a calibration depends on. They are the job's params (with
    the weights' fingerprint), so editing e.g. curvature_correction re-samples the shards but keeps the
    calibration."""
    e = METHODS["molecules"][wildcards.method]
    args = ["--method", "and", "--and-target", "typical", "--seed", str(e["seed"])]
    args += ["--guidance", str(e["guidance"]), "--steps", str(e["steps"])]
    args += ["--device", e["device"], "--latent-model", e["latent_model"]]
    for condition in e["conditions"]:
        args += ["--condition", condition]
    return shlex.join(args)


def molecule_weights_fingerprint(wildcards):
    """The weights the calibration samples with (a params value: retrained weights re-run it)."""
    return METHODS["molecules"][wildcards.method]["weights_fingerprint"]


def trajectory_tables():
    if not PROTEINS or not PROTEINS.record_trajectories:
        return []
    return [
        f"{OUT}/proteins/methods/{m}/trajectories.parquet" for m in PROTEINS.methods
    ]


def summary_report_inputs(wildcards=None):
    """Named inputs of the HTML summary (only those the campaign produces)."""
    inputs = {
        "config": f"{OUT}/config.resolved.yaml",
        "provenance": f"{OUT}/provenance.json",
    }
    if PROTEINS:
        inputs["protein_designs"] = f"{OUT}/proteins/designs.parquet"
        inputs["protein_summary"] = f"{OUT}/proteins/summary.csv"
        if trajectory_tables():
            inputs["trajectories"] = trajectory_tables()
    if MOLECULES:
        inputs["molecules"] = f"{OUT}/molecules/molecules.parquet"
        inputs["molecule_metrics"] = f"{OUT}/molecules/metrics.json"
    return inputs


def summary_report_args(wildcards=None):
    """``--<input name> <path>...`` for every input of the summary."""
    args = []
    for key, value in summary_report_inputs().items():
        args.append(f"--{key.replace('_', '-')}")
        args += value if isinstance(value, list) else [value]
    return shlex.join(args)


def all_targets():
    """Everything the campaign produces."""
    targets = [f"{OUT}/config.resolved.yaml", f"{OUT}/provenance.json"]
    if PROTEINS:
        targets += [f"{OUT}/proteins/designs.parquet", f"{OUT}/proteins/summary.csv"]
    if MOLECULES:
        targets += [
            f"{OUT}/molecules/metrics.json",
            f"{OUT}/molecules/molecules.parquet",
        ]
    return targets + [f"{OUT}/summary.html"]
