# The campaign, resolved: the config with every default filled in, the package versions, and methods.json (per
# domain and method, every setting its sampler takes). Each method's entry is also written to a file of its own,
# methods/<domain>/<method>.json, by a job whose params are that entry: the sampling jobs of a method read that
# file, so editing one method (or retraining the weights it uses) re-runs that method's jobs and no others.


rule campaign_config:
    output:
        config=f"{OUT}/config.resolved.yaml",
        provenance=f"{OUT}/provenance.json",
        methods=f"{OUT}/methods.json",
    log:
        f"{LOGS}/campaign_config.log",
    benchmark:
        f"{BENCH}/campaign_config.tsv"
    conda:
        "../../envs/superdiff.yaml"
    params:
        campaign=json.dumps(resolved(CAMPAIGN), sort_keys=True),
        methods=json.dumps(METHODS, sort_keys=True),
    shell:
        "superdiff write-campaign-config --json {params.campaign:q} --config-out {output.config} "
        "--provenance-out {output.provenance} --methods-out {output.methods} > {log} 2>&1"


# A method's file holds exactly this rule's params (superdiff.campaign.methods.single_method, computed from the
# validated campaign in common.smk), so the job only stores it: a `superdiff` call would spend ~3 s importing
# torch per method to write a few hundred bytes.
rule method_settings:
    output:
        METHOD_FILE,
    log:
        f"{LOGS}/method_settings/{{domain}}/{{method}}.log",
    benchmark:
        f"{BENCH}/method_settings/{{domain}}/{{method}}.tsv"
    # instant, and every sampling job waits for one: at priority 0 the scheduler left them behind the evaluations,
    # so the last method's sampling started late and its evaluations ran alone at the end
    priority: 3
    conda:
        "../../envs/superdiff.yaml"
    params:
        settings=method_settings,
    shell:
        "printf '%s\\n' {params.settings:q} > {output} 2> {log}"
