# superdiff design campaigns: config -> weights -> sample -> evaluate -> aggregate -> report.
#
#   snakemake --cores 2                                   # the default campaign (config/config.yaml)
#   snakemake --cores 2 --configfile config/campaigns/X.yaml
#   snakemake --profile profiles/slurm --configfile ...   # on a SLURM cluster
#   snakemake --report results/<campaign>/snakemake-report.html
#
# The config says what is computed; threads, memory and runtimes of every rule live in profiles/default (which
# Snakemake loads for every run, local or SLURM), the cluster's settings in profiles/slurm. Every rule is one
# call of the `superdiff` command; helpers live in workflow/rules/common.smk. See docs/workflow.md.

import shlex
import shutil
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version, validate

from superdiff.campaign.config import CampaignError, read_yaml_strict

min_version("9.0")

# Rules call the `superdiff` command. When Snakemake was started as .venv/bin/snakemake without the venv on
# PATH, jobs find `superdiff` beside the interpreter that runs Snakemake.
if shutil.which("superdiff") is None:
    # (keeping Snakemake's default bash strict mode, which a prefix replaces)
    shell.prefix(
        f'set -euo pipefail; export PATH={shlex.quote(str(Path(sys.executable).parent))}:"$PATH"; '
    )


# A campaign given with --configfile replaces the default one instead of being merged into it (merging would
# add the default campaign's methods to every campaign).
# (Snakemake's own YAML errors carry no line or column: the default file is read strictly by superdiff first. A
# --configfile is parsed by Snakemake before this file runs; `make campaign CONFIG=...` checks it first instead.)
if not workflow.overwrite_configfiles:
    try:
        read_yaml_strict("config/config.yaml")
    except CampaignError as err:
        raise WorkflowError(str(err)) from None

    configfile: "config/config.yaml"


# common.smk checks the config with superdiff's pydantic models first (one clear line per problem: key path,
# bad value, what is allowed; plus cross-field checks), then with the JSON schema exported from those models
# (superdiff export-config-schema), the way every Snakemake workflow validates its config. Both run before the
# DAG is built, so a bad config never starts a job.
include: "workflow/rules/common.smk"


validate(config, "workflow/schemas/config.schema.json", set_default=False)


include: "workflow/rules/campaign.smk"


# The rules of a domain exist only when the campaign designs in it (its rule file reads its settings directly).
if PROTEINS:

    include: "workflow/rules/proteins.smk"


if MOLECULES:

    include: "workflow/rules/molecules.smk"


include: "workflow/rules/report.smk"


report: "workflow/report/workflow.rst"


rule all:
    default_target: True
    input:
        all_targets(),
