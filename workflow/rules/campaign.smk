# The resolved campaign config (every default filled in) and the package versions, beside the results.


rule campaign_config:
    output:
        config=f"{OUT}/config.resolved.yaml",
        provenance=f"{OUT}/provenance.json",
    params:
        campaign=campaign_json(),
    log:
        f"{LOGS}/campaign_config.log",
    benchmark:
        f"{BENCH}/campaign_config.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        "../../envs/superdiff.yaml"
    shell:
        "superdiff write-campaign-config --json {params.campaign:q} "
        "--config-out {output.config} --provenance-out {output.provenance} > {log} 2>&1"
