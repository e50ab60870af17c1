#!/usr/bin/env bash
# CI step: start a one-node SLURM cluster on localhost, run the .test campaign through the slurm executor
# (tests/cluster/test_slurm.py), stop the daemons again whatever happens. Must run as root.
# ~10 minutes; the timeout only guards against a hang.
#
#   tests/cluster/run.sh            # from the repository root, after scripts/setup.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
HERE=tests/cluster
trap '"$HERE/slurm.sh" stop || true' EXIT
"$HERE/slurm.sh" start
export PATH="$PWD/.venv/bin:$PATH" SUPERDIFF_SLURM_TESTS=1
timeout 1800 .venv/bin/python -m pytest -m slurm -v -p no:cacheprovider "$HERE" "$@"
