#!/usr/bin/env bash
# Gradescope image setup: the autograder zip (`python -m grader autograder --out autograder.zip`) holds the
# kit with its reference; install it with the pinned torch, as the CPU build.
set -euo pipefail
apt-get update -q && apt-get install -y -q python3 python3-pip python3-venv
cd /autograder/source
# Gradescope's images have no GPU, and on Linux PyPI's torch is the CUDA build with gigabytes of NVIDIA
# libraries. PyTorch's CPU index, added to PyPI (every other package still comes from there), offers
# torch 2.13.0+cpu: the pin torch==2.13.0 in constraints.txt matches it (PEP 440 ignores a local label
# such as +cpu when the pin has none), and pip takes it over PyPI's 2.13.0 because it sorts after it.
python3 -m pip install -c constraints.txt --extra-index-url https://download.pytorch.org/whl/cpu -e .
# The grader runs as root and drops the learner's code to an unprivileged uid. A Gradescope container
# rarely allows the sandbox's namespaces or Landlock, so these file modes are what keeps the reference,
# the checks and the kit's tests unreadable to it (see README, Trust: Gradescope). The zip that
# `python -m grader autograder` builds holds no tests/; a zip made by hand may.
PRIVATE="solutions grader tests"
for folder in $PRIVATE; do
  if [ -e "$folder" ]; then chmod -R go-rwx "$folder"; fi
done
