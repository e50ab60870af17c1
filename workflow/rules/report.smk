# The report: kappa / log-density traces of a few designs per method, and the one-page HTML summary.
# (The Snakemake report is made afterwards with `snakemake --report results/<campaign>/snakemake-report.html`;
# the outputs marked with report() below and in the other rule files are what it shows.)


rule trace_backbones:
    input:
        # ancient: re-verifying the models (e.g. after adding a length) must not re-run finished shards;
        # a change of the models themselves reaches each shard through its params.
        ancient(f"{OUT}/proteins/models.json"),
    output:
        f"{OUT}/proteins/methods/{{method}}/trajectories.parquet",
    log:
        f"{LOGS}/trace_backbones/{{method}}.log",
    benchmark:
        f"{BENCH}/trace_backbones/{{method}}.tsv"
    conda:
        "../../envs/proteins.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
        gpu=gpus,
    params:
        weights=protein_weights,
        models=protein_model_args,
        method=protein_method_args,
        length=trace_length,
        steps=protein_steps,
        first=trace_first_index,
        seed=CAMPAIGN_SEED,
        device=CAMPAIGN.device,
    shell:
        "superdiff trace-backbones {params.models} {params.method} --name {wildcards.method} "
        "--length {params.length} --num 2 --first-index {params.first} --seed {params.seed} --steps {params.steps} "
        "--device {params.device} --threads {threads} --out {output} > {log} 2>&1"


rule summary_report:
    input:
        unpack(summary_report_inputs),
    output:
        report(
            f"{OUT}/summary.html",
            caption="../report/summary.rst",
            category="Summary",
        ),
    log:
        f"{LOGS}/summary_report.log",
    benchmark:
        f"{BENCH}/summary_report.tsv"
    conda:
        "../../envs/superdiff.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        args=summary_report_args,
    shell:
        "superdiff campaign-report {params.args} --out {output} > {log} 2>&1"
