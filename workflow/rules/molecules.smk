# Molecules: sample each composition in seed shards, gather every shard into the campaign's table, score it.
#   results/<campaign>/molecules/samples/<method>/seeds<first>-<stop>/molecules.parquet
# AND with and_target typical follows a calibration pass that depends on the method, never on a shard's designs:
# one calibrate_molecules job per such method writes it, and every shard of the method reads it.
#   results/<campaign>/molecules/calibration/<method>.json


rule calibrate_molecules:
    output:
        MOLECULE_CALIBRATION,
    log:
        f"{LOGS}/calibrate_molecules/{{method}}.log",
    benchmark:
        f"{BENCH}/calibrate_molecules/{{method}}.tsv"
    # before the shards that wait for it
    priority: 2
    conda:
        "../../envs/molecules.yaml"
    resources:
        gpu=gpus,
    params:
        settings=molecule_calibration_args,
        weights=molecule_weights_fingerprint,
    shell:
        "superdiff calibrate-molecules {params.settings} --out {output} > {log} 2>&1"


rule sample_molecules:
    input:
        # this method's settings: editing the method (or retraining the weights) rewrites it and re-runs the shard
        methods=MOLECULE_METHOD,
        # AND (typical): the method's calibration, computed once (calibrate_molecules)
        calibration=molecule_calibration,
    output:
        table=f"{MOLECULE_SHARD}/molecules.parquet",
        provenance=f"{MOLECULE_SHARD}/provenance.json",
    log:
        f"{LOGS}/sample_molecules/{{method}}/seeds{{first}}-{{stop}}.log",
    benchmark:
        f"{BENCH}/sample_molecules/{{method}}/seeds{{first}}-{{stop}}.tsv"
    # sampling first (see sample_backbones)
    priority: 1
    conda:
        "../../envs/molecules.yaml"
    resources:
        gpu=gpus,
    params:
        num=shard_size,
        outdir=subpath(output.table, parent=True),
        calibration=molecule_calibration_flag,
    shell:
        "superdiff sample-molecules --methods {input.methods} --method-name {wildcards.method} "
        "--num {params.num} --first-index {wildcards.first} {params.calibration} "
        "--out {params.outdir} > {log} 2>&1"


rule molecules_table:
    input:
        molecule_shard_tables,
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
    shell:
        "superdiff gather-molecules --out {output} {input} > {log} 2>&1"


rule molecule_metrics:
    input:
        f"{OUT}/molecules/molecules.parquet",
    output:
        f"{OUT}/molecules/metrics.json",
    log:
        f"{LOGS}/molecule_metrics.log",
    benchmark:
        f"{BENCH}/molecule_metrics.tsv"
    conda:
        "../../envs/molecules.yaml"
    params:
        conditions=list(MOLECULES.conditions),
        fcd_reference=MOLECULES.fcd_reference,
        novelty="--novelty" if MOLECULES.novelty else "--no-novelty",
    shell:
        "superdiff molecule-metrics --samples {input} --by method --condition {params.conditions} "
        "--fcd-reference {params.fcd_reference} {params.novelty} --out {output} > {log} 2>&1"
