# The resolved campaign config (every default filled in) and the package versions, beside the results.


rule campaign_config:
    output:
        config=f"{OUT}/config.resolved.yaml",
        provenance=f"{OUT}/provenance.json",
    log:
        f"{LOGS}/campaign_config.log",
    benchmark:
        f"{BENCH}/campaign_config.tsv"
    conda:
        "../../envs/superdiff.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        campaign=campaign_json(),
    shell:
        "superdiff write-campaign-config --json {params.campaign:q} "
        "--config-out {output.config} --provenance-out {output.provenance} > {log} 2>&1"
