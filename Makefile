# Two targets a new user runs on a fresh machine; both create .venv and install everything first.
#   make campaign   the default design campaign (Snakemake, 2 CPU cores)
#   make test       the test suite (make test-fast: without the tests marked slow)
CORES ?= 2
# make campaign CONFIG=config/campaigns/X.yaml runs another campaign; its file is checked by superdiff first, since
# Snakemake parses --configfile before any workflow code runs and reports YAML errors without line or column.
CONFIG ?= config/config.yaml

.PHONY: setup campaign demo test test-fast lint benchmarks
setup:
	bash scripts/setup.sh

campaign: setup
	.venv/bin/superdiff validate-config $(CONFIG)
	.venv/bin/snakemake --cores $(CORES) --profile profiles/default --configfile $(CONFIG)

demo: setup
	.venv/bin/superdiff demo

test: setup
	.venv/bin/pytest -q

# The fast lane (< 3 min on 2 cores): everything except tests marked slow.
test-fast: setup
	.venv/bin/pytest -q -m "not slow"

lint: setup
	.venv/bin/ruff check superdiff tests benchmarks scripts

benchmarks: setup
	.venv/bin/python benchmarks/engine.py
