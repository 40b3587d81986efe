#!/usr/bin/env bash
# Gradescope image setup: the autograder zip holds this repository; install it with the pinned CPU torch.
set -euo pipefail
apt-get update -q && apt-get install -y -q python3 python3-pip python3-venv
cd /autograder/source
python3 -m pip install -c constraints.txt -e .
