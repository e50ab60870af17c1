# The one-page HTML summary. (The Snakemake report is made afterwards with
# `snakemake --report results/<campaign>/snakemake-report.html`; the outputs marked with report() below and in the
# other rule files are what it shows.)


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
    params:
        args=summary_report_args,
    shell:
        "superdiff campaign-report {params.args} --out {output} > {log} 2>&1"
