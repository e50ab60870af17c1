# Molecules: sample each composition in seed shards, gather each method's shards, score the campaign.


rule sample_molecules:
    output:
        table=f"{OUT}/molecules/samples/{{method}}/seeds{{first}}-{{stop}}/molecules.parquet",
        provenance=f"{OUT}/molecules/samples/{{method}}/seeds{{first}}-{{stop}}/provenance.json",
    log:
        f"{LOGS}/sample_molecules/{{method}}/seeds{{first}}-{{stop}}.log",
    benchmark:
        f"{BENCH}/sample_molecules/{{method}}/seeds{{first}}-{{stop}}.tsv"
    conda:
        "../../envs/molecules.yaml"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=30,
        gpu=gpus,
    params:
        weights=molecule_weights,
        args=molecule_sample_args,
        num=shard_size,
        seed=CAMPAIGN_SEED,
        outdir=subpath(output.table, parent=True),
    shell:
        "superdiff sample-molecules {params.args} --num {params.num} --first-index {wildcards.first} "
        "--seed {params.seed} --out {params.outdir} > {log} 2>&1"


rule molecule_method_table:
    input:
        molecule_shard_files,
    output:
        f"{OUT}/molecules/methods/{{method}}/molecules.parquet",
    log:
        f"{LOGS}/molecule_method_table/{{method}}.log",
    benchmark:
        f"{BENCH}/molecule_method_table/{{method}}.tsv"
    conda:
        "../../envs/superdiff.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    shell:
        "superdiff concat-tables --column method={wildcards.method} --out {output} {input} > {log} 2>&1"


rule molecules_table:
    input:
        molecule_method_tables,
    output:
        report(
            f"{OUT}/molecules/molecules.parquet",
            caption="../report/molecules_table.rst",
            category="Molecules",
        ),
    log:
        f"{LOGS}/molecules_table.log",
    benchmark:
        f"{BENCH}/molecules_table.tsv"
    conda:
        "../../envs/superdiff.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    shell:
        "superdiff concat-tables --out {output} {input} > {log} 2>&1"


rule molecule_metrics:
    input:
        molecule_method_tables,
    output:
        f"{OUT}/molecules/metrics.json",
    log:
        f"{LOGS}/molecule_metrics.log",
    benchmark:
        f"{BENCH}/molecule_metrics.tsv"
    conda:
        "../../envs/molecules.yaml"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=20,
    params:
        args=molecule_metrics_args,
    shell:
        "superdiff molecule-metrics --samples {input} {params.args} --out {output} > {log} 2>&1"
