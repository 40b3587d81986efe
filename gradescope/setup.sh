#!/usr/bin/env bash
# Gradescope image setup: the autograder zip holds this repository; install it with the pinned CPU torch.
set -euo pipefail
apt-get update -q && apt-get install -y -q python3 python3-pip python3-venv
cd /autograder/source
python3 -m pip install -c constraints.txt -e .
# The grader runs as root and drops the learner's code to an unprivileged uid. A Gradescope container
# rarely allows the sandbox's namespaces or Landlock, so these file modes are what keeps the reference,
# the checks and the kit's tests unreadable to it (see README, Trust: Gradescope).
PRIVATE="solutions grader tests"
chmod -R go-rwx $PRIVATE
