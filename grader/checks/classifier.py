"""Exercise 7 — AttentionClassifier and train_classifier: padding invariance, the SPEC's architecture as
properties of the logits, and learning a task that needs attention.

The SPEC fixes no attribute names inside the classifier, so its architecture (embed → self-attention with
padded keys masked → mean over the real positions → linear, no positional encoding) is checked by what it
implies for any weights: reordering the real tokens changes nothing, writing them twice changes nothing
(a mean, not a sum), and with one head the logits of [a, b] lie between those of [a] and [b] (not a max).

The task: each sequence holds 3–8 real tokens of 4 features; the label is the sign of feature 1 of the
token whose feature 0 is largest. The mean of the tokens says little about that one token (a mean
pooling model stays near 63–66% on held-out data, see tests/test_classifier_task.py); one attention
layer can find it (the reference reaches 94.5–98% with the lesson's full-batch loop below, over 16 model
seeds). 30 epochs at lr 3e-2 learn it as well as 60 at 2e-2 did, in half the training time.
"""

from __future__ import annotations

import math

import torch

from grader.checks import case, check
from grader.checks.classifier_cases import (
    LOOSE,
    copies,
    count_hint,
    nearest_on_segments,
    pair_case,
    pooling_hint,
    position_hint,
    reorder_case,
    repeat_case,
    reversed_real,
)
from grader.checks.compare import Tolerance, describe, expect_close, expect_finite, expect_shape, fail
from grader.checks.devices import expect_on_device, location
from grader.checks.inputs import generator, randn

WHERE = "classifier.AttentionClassifier"
TASK = {"input_dim": 4, "max_len": 8, "train_size": 512, "test_size": 512, "epochs": 30, "lr": 3e-2}
MODEL = [TASK["input_dim"], 16, 2, 2]  # input_dim, embed_dim, num_heads, num_classes
# One head, so each attention output is one weighted average of the values; 6 classes, so the logits have
# room to leave a segment.
ONE_HEAD = [TASK["input_dim"], 8, 1, 6]
LEARNS_BEYOND_MEAN_POOLING, HIGH_ACCURACY = 0.80, 0.90


def synthetic_task(seed: int, size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(X, y, lengths)``: label = sign of feature 1 of the real token with the largest feature 0."""
    g = generator(seed)
    max_len = TASK["max_len"]
    lengths = torch.randint(3, max_len + 1, (size,), generator=g)
    x = torch.randn(size, max_len, TASK["input_dim"], generator=g)
    real = torch.arange(max_len)[None, :] < lengths[:, None]
    chosen = x[..., 0].masked_fill(~real, float("-inf")).argmax(dim=1)
    y = (x[torch.arange(size), chosen, 1] > 0).long()
    return x, y, lengths


def logits(learner, calls: list[dict], seed: int = 0, init: list = MODEL) -> list:
    """One model (the same seed, so the same initial weights) per call, each in a sandbox of its own.

    Comparisons here are between two calls of the learner's own model; in one process, code could
    remember its first answer and give it again. The n-th call of every check runs on side n: each
    check's inputs are its own random draws, so nothing one side has seen helps it on another check.
    """
    return [
        learner.forward("AttentionClassifier", init, calls=[spec], seed=seed, side=index).result[0]
        for index, spec in enumerate(calls)
    ]


def trained(learner):
    """One training run of the learner's model with the learner's loop, shared by the training checks."""
    if "training" not in learner.cache:
        x, y, lengths = synthetic_task(1000, TASK["train_size"])
        x_test, y_test, lengths_test = synthetic_task(2000, TASK["test_size"])
        payload = {
            "init": MODEL,
            "seed": 7,
            "X": x,
            "y": y,
            "lengths": lengths,
            "epochs": TASK["epochs"],
            "lr": TASK["lr"],
        }
        payload.update({"X_test": x_test, "lengths_test": lengths_test})
        learner.cache["training"] = (learner.train(payload), y_test)
    return learner.cache["training"]


def padded_copy(x: torch.Tensor, lengths: torch.Tensor, seed: int, scale: float = 100.0) -> torch.Tensor:
    noisy = x.clone()
    g = generator(seed)
    for b, length in enumerate(lengths.tolist()):
        noisy[b, length:] = scale * torch.randn(x.shape[1] - length, x.shape[2], generator=g)
    return noisy


@check(points=1)
def check_logits_shape(learner):
    """forward returns logits (B, num_classes)"""
    x = randn(1, 3, 6, 4)
    with case(f"AttentionClassifier{tuple(MODEL)}, x (3, 6, 4), lengths [6, 2, 4]"):
        (got,) = logits(learner, [{"args": [x, torch.tensor([6, 2, 4])]}])
        expect_shape(
            got,
            (3, 2),
            f"{WHERE}: logits",
            "Pool over the sequence axis to one vector per sequence, then the linear layer.",
        )


@check(points=1)
def check_padded_positions_do_not_change_logits(learner):
    """changing what the padded positions hold changes no logits"""
    x, lengths = randn(2, 4, 7, 4), torch.tensor([7, 2, 5, 1])
    with case("x (4, 7, 4), lengths [7, 2, 5, 1], padded positions set to 100 × noise"):
        before, after = logits(
            learner, [{"args": [x, lengths]}, {"args": [padded_copy(x, lengths, 3), lengths]}]
        )
        expect_close(
            after,
            before,
            f"{WHERE}: logits after changing only padded positions",
            "Are padded keys masked, and does the mean skip padded positions?",
        )


@check(points=1)
def check_amount_of_padding_does_not_change_logits(learner):
    """a sequence gets the same logits however much padding its batch has"""
    x, lengths = randn(4, 3, 4, 4), torch.tensor([4, 2, 3])
    longer = torch.cat([x, randn(5, 3, 5, 4)], dim=1)  # the same sequences, padded to 9
    with case("x (3, 4, 4) vs the same sequences padded to length 9, lengths [4, 2, 3]"):
        short, long = logits(learner, [{"args": [x, lengths]}, {"args": [longer, lengths]}])
        expect_close(
            long,
            short,
            f"{WHERE}: logits with 5 more padded positions",
            "Which part of your model still sees the padded positions: the attention's keys, or the mean?",
        )


@check(points=1)
def check_no_lengths_means_every_position_is_real(learner):
    """lengths=None gives the same logits as lengths all equal to L"""
    x = randn(6, 2, 5, 4)
    with case("x (2, 5, 4), lengths None vs [5, 5]"):
        none, full = logits(learner, [{"args": [x]}, {"args": [x, torch.tensor([5, 5])]}])
        expect_close(none, full, f"{WHERE}: logits with lengths=None")


@check(points=1)
def check_reordering_real_tokens_does_not_change_logits(learner):
    """reversing the order of each sequence's real tokens changes no logits (nothing knows a token's
    position)"""
    x, lengths = reorder_case()
    with case(
        "x (4, 7, 4), lengths [7, 3, 5, 4] vs the same real tokens in reverse order, padding unchanged"
    ):
        before, after = logits(
            learner, [{"args": [x, lengths]}, {"args": [reversed_real(x, lengths), lengths]}]
        )
        expect_close(
            after,
            before,
            f"{WHERE}: logits with the real tokens reversed",
            lambda: position_hint(learner, MODEL, x, lengths, before),
        )


@check(points=1)
def check_repeating_real_tokens_does_not_change_logits(learner):
    """a sequence's real tokens written twice (t1 … tL t1 … tL) give the same logits as once (a mean, not a
    sum)"""
    x = repeat_case()
    with case(
        "x (4, 4, 4), lengths [4, 4, 4, 4] vs each sequence's 4 tokens twice: x (4, 8, 4), "
        "lengths [8, 8, 8, 8]"
    ):
        once, twice = logits(learner, [{"args": copies(x, 1)}, {"args": copies(x, 2)}])
        expect_close(
            twice,
            once,
            f"{WHERE}: logits with every real token twice",
            lambda: count_hint(learner, MODEL, x, once, twice),
        )


@check(points=1)
def check_two_token_logits_lie_between_one_token_logits(learner):
    """with one head, the logits of a two-token sequence [a, b] lie on the segment between the logits of [a]
    and of [b] (a mean of attention outputs, then one linear layer)"""
    a, b = pair_case()
    with case(
        f"AttentionClassifier{tuple(ONE_HEAD)}; 6 pairs of tokens a, b (2 × randn); x [a] and [b] "
        "(12, 1, 4), lengths 1; x [a, b] (6, 2, 4), lengths 2"
    ):
        alone, pair = logits(
            learner,
            [
                {"args": [torch.cat([a, b]), torch.ones(12, dtype=torch.long)]},
                {"args": [torch.cat([a, b], dim=1), torch.full((6,), 2)]},
            ],
            init=ONE_HEAD,
        )
        expect_shape(alone, (12, ONE_HEAD[3]), f"{WHERE}: logits of [a] and [b]")
        expect_shape(pair, (6, ONE_HEAD[3]), f"{WHERE}: logits of [a, b]")
        expect_finite(alone, f"{WHERE}: logits of [a] and [b]")
        nearest = nearest_on_segments(pair, alone[:6], alone[6:])
        expect_close(
            pair,
            nearest.to(pair.dtype),
            f"{WHERE}: logits of [a, b] vs the nearest point between the logits of [a] and [b]",
            lambda: pooling_hint(learner, ONE_HEAD, a, b, pair),
            tolerance=LOOSE,
        )


def expect_one_float_loss_per_epoch(losses, epochs: int, what: str) -> None:
    """``losses`` is a list of ``epochs`` finite Python floats (SPEC: the loss of each epoch as a float)."""
    if not isinstance(losses, list) or len(losses) != epochs:
        fail(f"{what}: expected a list of {epochs} losses, got {describe(losses)}")
    if not all(type(loss) is float and math.isfinite(loss) for loss in losses):
        fail(
            f"{what}: expected finite Python floats, got {describe(losses[0])} first",
            "loss.item() gives a Python float.",
        )


@check(points=1)
def check_training_returns_one_float_loss_per_epoch(learner):
    """train_classifier returns `epochs` finite Python floats, and the loss falls"""
    call, _ = trained(learner)
    losses, epochs = call.losses, TASK["epochs"]
    with case(
        f"train_classifier(model, X ({TASK['train_size']}, {TASK['max_len']}, {TASK['input_dim']}), y, "
        f"lengths, epochs={epochs}, lr={TASK['lr']})"
    ):
        expect_one_float_loss_per_epoch(losses, epochs, "classifier.train_classifier")
        if not losses[-1] < 0.9 * losses[0]:
            fail(
                f"classifier.train_classifier: the loss did not fall: epoch 1 {losses[0]:.4f}, epoch "
                f"{epochs} {losses[-1]:.4f}",
                "Does each epoch zero the gradients, call backward and take an optimizer step?",
            )


def accuracy(learner) -> float:
    call, y_test = trained(learner)
    got = call.result
    expect_shape(got, (TASK["test_size"], 2), f"{WHERE}: held-out logits")
    return float((got.argmax(dim=1) == y_test).double().mean())


@check(points=1)
def check_learns_what_mean_pooling_cannot(learner):
    """after training, held-out accuracy on the attention task is at least 80% (mean pooling alone stays near
    60%)"""
    with case(
        f"synthetic task, {TASK['train_size']} training and {TASK['test_size']} held-out sequences, "
        f"epochs={TASK['epochs']}, lr={TASK['lr']}"
    ):
        got = accuracy(learner)
        if got < LEARNS_BEYOND_MEAN_POOLING:
            fail(
                f"{WHERE}: held-out accuracy: expected at least {LEARNS_BEYOND_MEAN_POOLING:.0%}, got "
                f"{got:.1%}",
                "Is the attention output (not the embedding) what you pool?",
            )


@check(points=1)
def check_reaches_high_accuracy(learner):
    """after training, held-out accuracy is at least 90%"""
    with case(f"synthetic task, epochs={TASK['epochs']}, lr={TASK['lr']}"):
        got = accuracy(learner)
        if got < HIGH_ACCURACY:
            fail(f"{WHERE}: held-out accuracy: expected at least {HIGH_ACCURACY:.0%}, got {got:.1%}")


@check(points=0, on_device=True)
def check_runs_on_cuda(learner):
    """on a CUDA device: the model gives the same logits as on the CPU, and train_classifier trains it
    there"""
    device = learner.device
    x, lengths = randn(8, 3, 6, 4), torch.tensor([6, 2, 4])
    cases = {
        f"lengths {location(learner)}": [x, lengths],
        "lengths on cpu": [x, lengths],
        "lengths=None": [x],
    }
    specs = [{"args": args} for args in cases.values()]
    with case(
        f"AttentionClassifier{tuple(MODEL)}, x (3, 6, 4) {location(learner)}, lengths [6, 2, 4]; the same "
        "model on cpu"
    ):
        with learner.on_cpu():
            on_cpu = learner.forward("AttentionClassifier", MODEL, calls=specs, seed=0).result
        call = learner.forward(
            "AttentionClassifier", MODEL, calls=specs, seed=0, fresh=True, stay_on_cpu=("calls.1.args.1",)
        )
        expect_on_device(call, device, f"{WHERE}: logits")
        for text, got, want in zip(cases, call.result, on_cpu, strict=True):
            expect_close(
                got,
                want,
                f"{WHERE}: logits on {device} vs on cpu, {text}",
                tolerance=Tolerance.for_dtype(torch.float32, 10),
            )
    x_train, y_train, lengths_train = synthetic_task(3000, 64)
    payload = {
        "init": MODEL,
        "seed": 7,
        "X": x_train,
        "y": y_train,
        "lengths": lengths_train,
        "epochs": 3,
        "lr": TASK["lr"],
    }
    payload.update({"X_test": x_train[:8], "lengths_test": lengths_train[:8]})
    with case(
        f"train_classifier(model, X (64, 8, 4), y, lengths, epochs=3) with model and data {location(learner)}"
    ):
        call = learner.train(payload)
        expect_one_float_loss_per_epoch(call.losses, 3, f"classifier.train_classifier on {device}")
        expect_on_device(call, device, f"{WHERE}: logits after training")
