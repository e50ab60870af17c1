# Proteins: verify the experts, sample backbones sharded by method x length x seed range, evaluate each shard
# (inverse folding or full self-consistency, novelty, secondary structure), gather each method for diversity,
# and aggregate the campaign. A shard folder holds its designs and every per-shard evaluation table:
#   results/<campaign>/proteins/shards/<method>/L<length>/seeds<first>-<stop>/


rule verify_models:
    output:
        f"{OUT}/proteins/models.json",
    log:
        f"{LOGS}/verify_models.log",
    benchmark:
        f"{BENCH}/verify_models.tsv"
    conda:
        "../../envs/proteins.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        weights=protein_weights,
        models=protein_model_args,
        lengths=protein_length_args,
    shell:
        "superdiff verify-models {params.models} {params.lengths} --out {output} > {log} 2>&1"


rule sample_backbones:
    input:
        # ancient: re-verifying the models (e.g. after adding a length) must not re-run finished shards;
        # a change of the models themselves reaches each shard through its params.
        ancient(f"{OUT}/proteins/models.json"),
    output:
        designs=f"{SHARD}/designs.parquet",
        provenance=f"{SHARD}/provenance.json",
    log:
        f"{LOGS}/sample_backbones/{SHARD_NAME}.log",
    benchmark:
        f"{BENCH}/sample_backbones/{SHARD_NAME}.tsv"
    conda:
        "../../envs/proteins.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
        gpu=gpus,
    params:
        weights=protein_weights,
        models=protein_model_args,
        method=protein_method_args,
        num=shard_size,
        seed=CAMPAIGN_SEED,
        steps=protein_steps,
        device=CAMPAIGN.device,
        outdir=subpath(output.designs, parent=True),
    shell:
        "superdiff sample-backbones {params.models} {params.method} --length {wildcards.length} "
        "--num {params.num} --first-index {wildcards.first} --seed {params.seed} --steps {params.steps} "
        "--device {params.device} --threads {threads} --out {params.outdir} > {log} 2>&1"


rule inverse_fold:
    input:
        f"{SHARD}/designs.parquet",
    output:
        f"{SHARD}/sequences.parquet",
    log:
        f"{LOGS}/inverse_fold/{SHARD_NAME}.log",
    benchmark:
        f"{BENCH}/inverse_fold/{SHARD_NAME}.tsv"
    conda:
        "../../envs/proteins.yaml"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=60,
        gpu=gpus,
    params:
        args=inverse_fold_args,
        designs_dir=subpath(input[0], parent=True),
        seed=CAMPAIGN_SEED,
        device=CAMPAIGN.device,
    shell:
        "superdiff inverse-fold --designs-dir {params.designs_dir} --designs {input} {params.args} "
        "--seed {params.seed} --device {params.device} --no-progress --out {output} > {log} 2>&1"


# Refolding on: ProteinMPNN and ESMFold run together per shard (each sequence is folded once) and each design
# gets its scRMSD / scTM / pLDDT and the preset's designability verdict.
rule self_consistency:
    input:
        f"{SHARD}/designs.parquet",
    output:
        designs=f"{SHARD}/self_consistency.parquet",
        sequences=f"{SHARD}/self_consistency_sequences.parquet",
    log:
        f"{LOGS}/self_consistency/{SHARD_NAME}.log",
    benchmark:
        f"{BENCH}/self_consistency/{SHARD_NAME}.tsv"
    conda:
        "../../envs/esmfold.yaml"
    threads: 1
    resources:
        mem_mb=24000,
        runtime=240,
        gpu=gpus,
    params:
        args=self_consistency_args,
        designs_dir=subpath(input[0], parent=True),
        seed=CAMPAIGN_SEED,
        fold_dir=f"{OUT}/proteins/folds/{{method}}/L{{length}}/seeds{{first}}-{{stop}}",
        device=CAMPAIGN.device,
    shell:
        "superdiff self-consistency --designs-dir {params.designs_dir} --designs {input} {params.args} "
        "--fold-dir {params.fold_dir} --seed {params.seed} --device {params.device} --no-progress "
        "--out {output.designs} --out-sequences {output.sequences} > {log} 2>&1"


rule novelty:
    input:
        f"{SHARD}/designs.parquet",
    output:
        table=f"{SHARD}/novelty.parquet",
        summary=f"{SHARD}/novelty.summary.json",
    log:
        f"{LOGS}/novelty/{SHARD_NAME}.log",
    benchmark:
        f"{BENCH}/novelty/{SHARD_NAME}.tsv"
    conda:
        "../../envs/proteins.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        args=novelty_args,
        designs_dir=subpath(input[0], parent=True),
    shell:
        "superdiff novelty --designs-dir {params.designs_dir} --designs {input} {params.args} "
        "--workers {threads} --no-progress --out {output.table} > {log} 2>&1"


rule secondary_structure:
    input:
        f"{SHARD}/designs.parquet",
    output:
        f"{SHARD}/secondary_structure.parquet",
    log:
        f"{LOGS}/secondary_structure/{SHARD_NAME}.log",
    benchmark:
        f"{BENCH}/secondary_structure/{SHARD_NAME}.tsv"
    conda:
        "../../envs/proteins.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=15,
    params:
        designs_dir=subpath(input[0], parent=True),
    shell:
        "superdiff secondary-structure --designs-dir {params.designs_dir} --designs {input} "
        "--no-progress --out {output} > {log} 2>&1"


rule gather_designs:
    input:
        protein_method_shard_tables,
    output:
        f"{OUT}/proteins/methods/{{method}}/designs.parquet",
    log:
        f"{LOGS}/gather_designs/{{method}}.log",
    benchmark:
        f"{BENCH}/gather_designs/{{method}}.tsv"
    conda:
        "../../envs/superdiff.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        pdb_dir=f"{OUT}/proteins/methods/{{method}}/pdbs",
    shell:
        "superdiff gather-designs --pdb-dir {params.pdb_dir} --out {output} {input} > {log} 2>&1"


rule diversity:
    input:
        f"{OUT}/proteins/methods/{{method}}/designs.parquet",
    output:
        table=f"{OUT}/proteins/methods/{{method}}/diversity.parquet",
        summary=f"{OUT}/proteins/methods/{{method}}/diversity.summary.json",
        matrix=f"{OUT}/proteins/methods/{{method}}/diversity.tm_matrix.npy",
    log:
        f"{LOGS}/diversity/{{method}}.log",
    benchmark:
        f"{BENCH}/diversity/{{method}}.tsv"
    conda:
        "../../envs/proteins.yaml"
    threads: 2
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        pdb_dir=f"{OUT}/proteins/methods/{{method}}/pdbs",
    shell:
        "superdiff diversity --designs-dir {params.pdb_dir} --designs {input} --workers {threads} "
        "--no-progress --out {output.table} > {log} 2>&1"


rule aggregate_proteins:
    input:
        shards=protein_evaluation_tables,
        diversity=protein_diversity_tables,
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
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        args=aggregate_proteins_args,
    shell:
        "superdiff aggregate-proteins {params.args} --out-designs {output.designs} "
        "--out-summary {output.summary} > {log} 2>&1"
