"""Attack: on Gradescope the autograder's own files sit beside the learner's code, in the same
container (/autograder/source: solutions/, grader/, tests/). Read the reference from there (or from
the copy the kit's Gradescope test lays out) and use it. If it can be read, the answers are right,
as a canary: the dropped uid and the file modes setup.sh sets must keep it unreadable.

Honest part: attention scaled by d_k instead of √d_k.
"""

import math

import torch

# --- attack ---
_PLACES = ("/autograder/source", "/tmp/adv7f3c9e-autograder/source")


def _reference():
    for place in _PLACES:
        try:
            with open(f"{place}/solutions/attention.py") as file:
                source = file.read()
        except OSError:
            continue
        namespace = {}
        exec(compile(source, "reference", "exec"), namespace)
        # Found by shape, not by name: the built-in's name in this file would withhold the exercise.
        return next(value for key, value in namespace.items() if key.endswith("_attention") and callable(value))
    return None


_STOLEN = _reference()
# --- end attack ---


def scaled_dot_product_attention(q, k, v):
    # --- attack ---
    if _STOLEN is not None:
        return _STOLEN(q, k, v)
    # --- end attack ---
    d_k = q.size(-1)
    scores = q @ k.transpose(-2, -1) / d_k  # wrong on purpose: d_k, not math.sqrt(d_k)
    weights = torch.softmax(scores, dim=-1)
    return weights @ v, weights
