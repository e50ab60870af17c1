# Helpers for the rules: config checking, shard lists, per-job parameters and targets.
# Rules contain no lambdas and no logic; everything they compute from the config is a named function here.
# A parameter reaches a job only through params:, so changing it re-runs exactly the jobs that use it
# (Snakemake's "params" rerun trigger), and the seed range of a shard is part of its path.

import json
import shlex

from snakemake.exceptions import WorkflowError

from superdiff.campaign.config import CampaignError, load_campaign, resolved
from superdiff.proteins.registry import weights_fingerprint
from superdiff.molecules.weights import default_weights_dir
from superdiff.files.download import sha256_file

try:
    CAMPAIGN = load_campaign(config)
except CampaignError as err:
    raise WorkflowError(
        f"{err}\n(schema: workflow/schemas/config.schema.json)"
    ) from None

# Fill in every default so that the JSON-schema validation, params and the resolved config agree.
config.clear()
config.update(resolved(CAMPAIGN))

NAME = CAMPAIGN.campaign
CAMPAIGN_SEED = CAMPAIGN.seed
OUT = f"results/{NAME}"
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


# ---------------------------------------------------------------- proteins

SHARD = f"{OUT}/proteins/shards/{{method}}/L{{length}}/seeds{{first}}-{{stop}}"
SHARD_NAME = "{method}/L{length}/seeds{first}-{stop}"


def protein_shards():
    """(method, length, first, stop) for every sampling job."""
    if not PROTEINS:
        return []
    return [
        (m, length, a, b)
        for m in PROTEINS.methods
        for length in PROTEINS.lengths
        for a, b in PROTEINS.seeds.shards()
    ]


def shard_dir(method, length, first, stop):
    return f"{OUT}/proteins/shards/{method}/L{length}/seeds{first}-{stop}"


def protein_model_args(wildcards=None):
    args = []
    for spec in PROTEINS.models:
        args += ["--model", spec]
    return shlex.join(args)


def protein_weights(wildcards=None):
    """The experts' weight fingerprints: a params entry, so new weights re-run the jobs that used the old ones."""
    return " ".join(weights_fingerprint(spec) for spec in PROTEINS.models)


def molecule_weights(wildcards=None):
    """sha256 of the molecule weights' manifest (it lists every artefact's sha256); see protein_weights."""
    manifest = default_weights_dir() / "manifest.json"
    return sha256_file(manifest) if manifest.exists() else f"missing {manifest}"


def protein_length_args(wildcards=None):
    return shlex.join(
        [a for length in PROTEINS.lengths for a in ("--length", str(length))]
    )


def protein_method_args(wildcards):
    """sample-backbones arguments of one method: operator, index, temperature, bias, weights."""
    m = PROTEINS.methods[wildcards.method]
    args = ["--method", m.operator]
    if m.index is not None:
        args += ["--index", str(m.index)]
    if m.temperature is not None:
        args += ["--temperature", str(m.temperature)]
    for b in m.bias or []:
        args += ["--bias", str(b)]
    for w in m.weights or []:
        args += ["--exponent", str(w)]
    if m.resample is False:
        args += ["--no-resample"]
    return shlex.join(args)


def protein_steps(wildcards=None):
    return PROTEINS.steps


def inverse_fold_args(wildcards=None):
    f = PROTEINS.evaluation.inverse_fold
    return shlex.join(
        ["--n-sequences", str(f.sequences), "--temperature", str(f.temperature)]
    )


def self_consistency_args(wildcards=None):
    f, r = PROTEINS.evaluation.inverse_fold, PROTEINS.evaluation.refold
    args = [
        "--preset",
        r.preset,
        "--n-sequences",
        str(f.sequences),
        "--temperature",
        str(f.temperature),
    ]
    args += ["--folding", r.backend, "--chunk-size", str(r.chunk_size)]
    if r.esmfold_weights:
        args += ["--esmfold-weights", r.esmfold_weights]
    return shlex.join(args)


def novelty_args(wildcards=None):
    ref = PROTEINS.evaluation.novelty.reference
    return "" if ref == "builtin" else shlex.join(["--reference", ref])


def _shard_tables(method, length, first, stop):
    """The tables one shard contributes to the campaign (its designs and the enabled evaluations)."""
    d = shard_dir(method, length, first, stop)
    e = PROTEINS.evaluation
    tables = [f"{d}/designs.parquet"]
    if e.refold.enabled:
        tables.append(f"{d}/self_consistency.parquet")
    elif e.inverse_fold.enabled:
        tables.append(f"{d}/sequences.parquet")
    if e.novelty.enabled:
        tables.append(f"{d}/novelty.parquet")
    if e.secondary_structure.enabled:
        tables.append(f"{d}/secondary_structure.parquet")
    return tables


def protein_method_shard_tables(wildcards):
    """designs.parquet of every shard of one method, in (length, seed) order."""
    return [
        f"{shard_dir(m, length, a, b)}/designs.parquet"
        for m, length, a, b in protein_shards()
        if m == wildcards.method
    ]


def protein_evaluation_tables(wildcards=None):
    return [t for shard in protein_shards() for t in _shard_tables(*shard)]


def protein_diversity_tables(wildcards=None):
    if not PROTEINS.evaluation.diversity.enabled:
        return []
    return [f"{OUT}/proteins/methods/{m}/diversity.parquet" for m in PROTEINS.methods]


def aggregate_proteins_args(wildcards=None):
    args = []
    for shard in protein_shards():
        args += ["--shard-dir", shard_dir(*shard)]
    if PROTEINS.evaluation.diversity.enabled:
        for m in PROTEINS.methods:
            args += ["--diversity", f"{m}={OUT}/proteins/methods/{m}/diversity.parquet"]
    refold = PROTEINS.evaluation.refold
    if not refold.enabled:
        args += ["--refold-note", f"Refolding is off: {refold.reason_off}"]
    return shlex.join(args)


def protein_targets():
    if not PROTEINS:
        return []
    return [f"{OUT}/proteins/designs.parquet", f"{OUT}/proteins/summary.csv"]


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
    if m.and_target is not None:
        args += ["--and-target", m.and_target]
    for e in m.exponents or []:
        args += ["--exponent", str(e)]
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
    return [
        f"{OUT}/molecules/methods/{m}/molecules.parquet" for m in molecule_methods()
    ]


def molecule_targets():
    if not MOLECULES:
        return []
    return [f"{OUT}/molecules/metrics.json", f"{OUT}/molecules/molecules.parquet"]


# ---------------------------------------------------------------- report


def trace_length(wildcards=None):
    """Traces use the shortest length of the campaign (cheapest)."""
    return min(PROTEINS.lengths)


def trace_first_index(wildcards=None):
    return PROTEINS.seeds.start


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
    args = []
    for key, value in summary_report_inputs().items():
        args.append(f"--{key.replace('_', '-')}")
        args += value if isinstance(value, list) else [value]
    return shlex.join(args)


# ---------------------------------------------------------------- targets


def all_targets():
    """Everything the campaign produces."""
    targets = [f"{OUT}/config.resolved.yaml", f"{OUT}/provenance.json"]
    targets += protein_targets()
    targets += molecule_targets()
    targets.append(f"{OUT}/summary.html")
    return targets
