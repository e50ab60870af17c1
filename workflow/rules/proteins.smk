# Proteins: verify the experts, sample backbones sharded by method x length x seed range, gather each method's
# shards into one folder, evaluate each method there (inverse folding or full self-consistency, novelty,
# secondary structure, diversity; one model load per method, not per shard), aggregate. Each shard keeps the kappa and
# log-density paths of its first two designs (sampled with them); gather_designs collects the report's.
#   results/<campaign>/proteins/shards/<method>/L<length>/seeds<first>-<stop>/   sampled designs
#   results/<campaign>/proteins/methods/<method>/                                gathered designs, evaluations

EVALUATION = PROTEINS.evaluation
# a finished shard that lost a PDB (not a declared output) is one clear line, before any job
check_finished_protein_shards()
# ProteinMPNN settings, shared by inverse_fold and self_consistency
MPNN = (
    f"--n-sequences {EVALUATION.inverse_fold.sequences} "
    f"--temperature {EVALUATION.inverse_fold.temperature}"
)
ESMFOLD_WEIGHTS = (
    f"--esmfold-weights {EVALUATION.refold.esmfold_weights}"
    if EVALUATION.refold.esmfold_weights
    else ""
)
NOVELTY_REFERENCE = (
    ""
    if EVALUATION.novelty.reference == "builtin"
    else f"--reference {EVALUATION.novelty.reference}"
)
REFOLD_NOTE = (
    ""
    if EVALUATION.refold.enabled
    else f"Refolding is off: {EVALUATION.refold.reason_off}"
)


# One job per length: adding a length verifies (and samples) only that length; new weights re-verify and
# re-sample everything (each shard reads its length's record).
rule verify_models:
    output:
        f"{OUT}/proteins/models/L{{length}}.json",
    log:
        f"{LOGS}/verify_models/L{{length}}.log",
    benchmark:
        f"{BENCH}/verify_models/L{{length}}.tsv"
    # a few seconds, and every sampling job of its length waits for it (see method_settings)
    priority: 3
    conda:
        "../../envs/proteins.yaml"
    params:
        models=list(PROTEINS.models),
        fingerprints=model_fingerprints(list(PROTEINS.models)),
    shell:
        "superdiff verify-models --model {params.models:q} --length {wildcards.length} --out {output} > {log} 2>&1"


rule sample_backbones:
    input:
        # a change of this method or of its experts' weights rewrites these files, which re-runs the shard
        models=f"{OUT}/proteins/models/L{{length}}.json",
        methods=PROTEIN_METHOD,
    output:
        designs=f"{SHARD}/designs.parquet",
        provenance=f"{SHARD}/provenance.json",
        # kappa and log-density paths of the shard's first two designs (sampled with them, for the report)
        traces=f"{SHARD}/trajectories.parquet",
    log:
        f"{LOGS}/sample_backbones/{SHARD_NAME}.log",
    benchmark:
        f"{BENCH}/sample_backbones/{SHARD_NAME}.tsv"
    # sampling first: the long jobs start early instead of ending up in the tail while a core idles
    priority: 1
    conda:
        "../../envs/proteins.yaml"
    resources:
        gpu=gpus,
    params:
        num=shard_size,
        outdir=subpath(output.designs, parent=True),
    shell:
        "superdiff sample-backbones --methods {input.methods} --method-name {wildcards.method} "
        "--length {wildcards.length} --first-index {wildcards.first} --num {params.num} "
        "--threads {threads} --out {params.outdir} > {log} 2>&1"


rule gather_designs:
    input:
        protein_shard_tables,
    output:
        designs=f"{METHOD}/designs.parquet",
        traces=f"{METHOD}/trajectories.parquet",
    log:
        f"{LOGS}/gather_designs/{{method}}.log",
    benchmark:
        f"{BENCH}/gather_designs/{{method}}.tsv"
    conda:
        "../../envs/superdiff.yaml"
    params:
        pdbs=f"{METHOD}/pdbs",
    shell:
        "superdiff gather-designs --pdb-dir {params.pdbs} --out {output.designs} "
        "--trajectories-out {output.traces} --method-name {wildcards.method} {input} > {log} 2>&1"


rule inverse_fold:
    input:
        f"{METHOD}/designs.parquet",
    output:
        f"{METHOD}/sequences.parquet",
    log:
        f"{LOGS}/inverse_fold/{{method}}.log",
    benchmark:
        f"{BENCH}/inverse_fold/{{method}}.tsv"
    conda:
        "../../envs/proteins.yaml"
    resources:
        gpu=gpus,
    params:
        pdbs=f"{METHOD}/pdbs",
        mpnn=MPNN,
        seed=CAMPAIGN.seed,
        device=CAMPAIGN.device,
    shell:
        "superdiff inverse-fold --designs-dir {params.pdbs} --designs {input} {params.mpnn} "
        "--seed {params.seed} --device {params.device} --no-progress --out {output} > {log} 2>&1"


# Refolding on: ProteinMPNN and ESMFold run together (each sequence is folded once) and each design gets its
# scRMSD / scTM / pLDDT and the preset's designability verdict.
rule self_consistency:
    input:
        f"{METHOD}/designs.parquet",
    output:
        designs=f"{METHOD}/self_consistency.parquet",
        sequences=f"{METHOD}/self_consistency_sequences.parquet",
    log:
        f"{LOGS}/self_consistency/{{method}}.log",
    benchmark:
        f"{BENCH}/self_consistency/{{method}}.tsv"
    conda:
        "../../envs/esmfold.yaml"
    resources:
        gpu=gpus,
    params:
        pdbs=f"{METHOD}/pdbs",
        folds=f"{METHOD}/folds",
        mpnn=MPNN,
        preset=EVALUATION.refold.preset,
        backend=EVALUATION.refold.backend,
        chunk_size=EVALUATION.refold.chunk_size,
        esmfold_weights=ESMFOLD_WEIGHTS,
        seed=CAMPAIGN.seed,
        device=CAMPAIGN.device,
    shell:
        "superdiff self-consistency --designs-dir {params.pdbs} --designs {input} {params.mpnn} "
        "--preset {params.preset} --folding {params.backend} --chunk-size {params.chunk_size} "
        "{params.esmfold_weights} --fold-dir {params.folds} --seed {params.seed} --device {params.device} "
        "--no-progress --out {output.designs} --out-sequences {output.sequences} > {log} 2>&1"


rule novelty:
    input:
        f"{METHOD}/designs.parquet",
    output:
        table=f"{METHOD}/novelty.parquet",
        summary=f"{METHOD}/novelty.summary.json",
    log:
        f"{LOGS}/novelty/{{method}}.log",
    benchmark:
        f"{BENCH}/novelty/{{method}}.tsv"
    conda:
        "../../envs/proteins.yaml"
    params:
        pdbs=f"{METHOD}/pdbs",
        reference=NOVELTY_REFERENCE,
    shell:
        "superdiff novelty --designs-dir {params.pdbs} --designs {input} {params.reference} "
        "--workers {threads} --no-progress --out {output.table} > {log} 2>&1"


rule secondary_structure:
    input:
        f"{METHOD}/designs.parquet",
    output:
        f"{METHOD}/secondary_structure.parquet",
    log:
        f"{LOGS}/secondary_structure/{{method}}.log",
    benchmark:
        f"{BENCH}/secondary_structure/{{method}}.tsv"
    conda:
        "../../envs/proteins.yaml"
    params:
        pdbs=f"{METHOD}/pdbs",
    shell:
        "superdiff secondary-structure --designs-dir {params.pdbs} --designs {input} "
        "--no-progress --out {output} > {log} 2>&1"


rule diversity:
    input:
        f"{METHOD}/designs.parquet",
    output:
        table=f"{METHOD}/diversity.parquet",
        summary=f"{METHOD}/diversity.summary.json",
        matrix=f"{METHOD}/diversity.tm_matrix.npy",
    log:
        f"{LOGS}/diversity/{{method}}.log",
    benchmark:
        f"{BENCH}/diversity/{{method}}.tsv"
    conda:
        "../../envs/proteins.yaml"
    params:
        pdbs=f"{METHOD}/pdbs",
    shell:
        "superdiff diversity --designs-dir {params.pdbs} --designs {input} --workers {threads} "
        "--no-progress --out {output.table} > {log} 2>&1"


rule aggregate_proteins:
    input:
        protein_method_tables,
    output:
        designs=report(
            f"{OUT}/proteins/designs.parquet",
            caption="../report/protein_designs.rst",
            category="Proteins",
        ),
        summary=report(
            f"{OUT}/proteins/summary.csv",
            caption="../report/protein_summary.rst",
            category="Proteins",
        ),
    log:
        f"{LOGS}/aggregate_proteins.log",
    benchmark:
        f"{BENCH}/aggregate_proteins.tsv"
    conda:
        "../../envs/superdiff.yaml"
    params:
        method_dirs=[f"{OUT}/proteins/methods/{m}" for m in PROTEINS.methods],
        refold_note=REFOLD_NOTE,
    shell:
        "superdiff aggregate-proteins --method-dir {params.method_dirs} --refold-note {params.refold_note:q} "
        "--out-designs {output.designs} --out-summary {output.summary} > {log} 2>&1"
