"""The grader's own process grades several exercises at once: is what it builds the same in every thread?

Module constructors draw their initial weights from PyTorch's global generator, which all threads
share. The reference weights a check sends to the learner must not depend on what other workers
construct at the same moment, or two runs could grade the same code on different cases (a
--jobs 1 / --jobs 2 comparison in test_determinism caught it once). Every construction in the
grader's process goes through grader.checks.rng.global_rng.
"""

import threading

import torch

from grader.checks import oracles
from grader.checks.modules import reference_module
from solutions.encoder import EncoderBlock
from solutions.multi_head import MultiHeadAttention

SEEDS = range(20, 28)


def build(seed: int) -> dict[str, torch.Tensor]:
    return reference_module(MultiHeadAttention, 16, 4, seed=seed).state_dict()


def test_reference_weights_do_not_depend_on_what_other_threads_build():
    expected = {seed: build(seed) for seed in SEEDS}
    mismatches: list[int] = []
    start = threading.Barrier(6, timeout=30)

    def builder():
        start.wait()
        for _ in range(30):
            for seed in SEEDS:
                got = build(seed)
                if any(not torch.equal(got[name], value) for name, value in expected[seed].items()):
                    mismatches.append(seed)

    def oracle_builder():
        block = reference_module(EncoderBlock, 16, 4, 32, seed=1)
        start.wait()
        for _ in range(60):
            oracles.encoder_layer(block, 4, 32, norm_first=False)  # constructs nn.TransformerEncoderLayer

    threads = [threading.Thread(target=builder) for _ in range(3)] + [
        threading.Thread(target=oracle_builder) for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert mismatches == []
