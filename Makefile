# Two targets a new user runs on a fresh machine; both create .venv and install everything first.
#   make campaign   the default design campaign (Snakemake, 2 CPU cores)
#   make test       the test suite
CORES ?= 2

.PHONY: setup campaign demo test lint benchmarks
setup:
	bash scripts/setup.sh

campaign: setup
	.venv/bin/snakemake --cores $(CORES) --profile profiles/default

demo: setup
	.venv/bin/superdiff demo

test: setup
	.venv/bin/pytest -q

lint: setup
	.venv/bin/ruff check superdiff tests benchmarks scripts

benchmarks: setup
	.venv/bin/python benchmarks/engine.py
