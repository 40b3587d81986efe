"""Visible checks for exercise 7, classifier.py."""

import math

import pytest
import torch

from .classifier import AttentionClassifier, train_classifier

WHERE = "classifier.AttentionClassifier"


@pytest.mark.level("shape")
def test_logits_shape(expect_shape):
    torch.manual_seed(0)
    model = AttentionClassifier(input_dim=5, embed_dim=16, num_heads=4, num_classes=3)
    expect_shape(
        model(torch.randn(2, 7, 5), torch.tensor([7, 3])),
        (2, 3),
        f"{WHERE}(5, 16, 4, 3): logits for 2 sequences, 3 classes",
        "After pooling over the positions, does one linear layer map each sequence to num_classes logits?",
        "x (2, 7, 5), lengths tensor([7, 3])",
    )


def test_padding_does_not_change_logits(expect_close):
    torch.manual_seed(1)
    model = AttentionClassifier(4, 8, 2, 2).eval()
    x = torch.randn(3, 6, 4)
    lengths = torch.tensor([6, 2, 4])
    noisy = torch.cat([x, torch.zeros(3, 3, 4)], dim=1)  # the same sequences, padded to 9
    for b, length in enumerate(lengths):
        noisy[b, length:] = 100.0 * torch.randn(9 - length, 4)
    expect_close(
        model(noisy, lengths),
        model(x, lengths),
        f"{WHERE}(4, 8, 2, 2).eval(): logits with 3 more padded positions, all padding changed",
        hint="Are padded keys masked in the attention, and does the mean divide by the real length?",
        inputs="x (3, 6, 4) vs x padded to (3, 9, 4) with 100 × noise at every padded position, "
        "lengths tensor([6, 2, 4])",
    )


def test_reordering_real_tokens_does_not_change_logits(expect_close):
    torch.manual_seed(4)
    model = AttentionClassifier(4, 8, 2, 2).eval()
    x = torch.randn(3, 5, 4)
    lengths = torch.tensor([5, 3, 4])
    reversed_x = x.clone()
    for b, length in enumerate(lengths):
        reversed_x[b, :length] = x[b, :length].flip(0)
    expect_close(
        model(reversed_x, lengths),
        model(x, lengths),
        f"{WHERE}(4, 8, 2, 2).eval(): logits with each sequence's real tokens in reverse order",
        hint="Does anything in your model know a token's position: an encoding, or one token picked out?",
        inputs="x (3, 5, 4), lengths tensor([5, 3, 4]), then the real tokens of each sequence reversed",
    )


def test_repeating_real_tokens_does_not_change_logits(expect_close):
    torch.manual_seed(5)
    model = AttentionClassifier(4, 8, 2, 2).eval()
    x = torch.randn(2, 3, 4)
    expect_close(
        model(torch.cat([x, x], dim=1), torch.tensor([6, 6])),
        model(x, torch.tensor([3, 3])),
        f"{WHERE}(4, 8, 2, 2).eval(): logits with every real token written twice",
        hint="Is the pooled vector the mean of the real positions: would writing each token twice change it?",
        inputs="x (2, 3, 4), lengths [3, 3] vs the tokens twice (t1 t2 t3 t1 t2 t3), lengths [6, 6]",
    )


def test_no_lengths_means_every_position_is_real(expect_close):
    torch.manual_seed(2)
    model = AttentionClassifier(4, 8, 2, 2).eval()
    x = torch.randn(2, 5, 4)
    expect_close(
        model(x),
        model(x, torch.tensor([5, 5])),
        f"{WHERE}(4, 8, 2, 2).eval(): logits with lengths=None vs lengths=[5, 5]",
        hint="With lengths=None, which positions are real, and does your forward treat them so?",
        inputs="x (2, 5, 4)",
    )


def test_two_token_logits_lie_between_one_token_logits(expect_close):
    torch.manual_seed(6)
    model = AttentionClassifier(4, 8, 1, 6).eval()  # one head: each attention output is one weighted mean
    a, b = 2 * torch.randn(5, 1, 4), 2 * torch.randn(5, 1, 4)
    with torch.no_grad():
        alone_a, alone_b = (
            model(a, torch.ones(5, dtype=torch.long)),
            model(b, torch.ones(5, dtype=torch.long)),
        )
        pair = model(torch.cat([a, b], dim=1), torch.full((5,), 2))
    # The nearest point to each pair's logits on the segment between [a]'s logits and [b]'s.
    direction = alone_a - alone_b
    share = ((pair - alone_b) * direction).sum(-1, keepdim=True) / (direction**2).sum(-1, keepdim=True)
    nearest = alone_b + share.clamp(0.0, 1.0) * direction
    expect_close(
        pair,
        nearest,
        f"{WHERE}(4, 8, 1, 6).eval(): logits of [a, b] vs the nearest point between those of [a] and [b]",
        hint="With one head, the pooled vector of [a, b] is a weighted mean of what [a] and [b] give alone: "
        "is yours a mean over the real positions?",
        rtol=2e-4,  # float32's tolerance × 10, as the grader's: three matrix products between the two sides
        atol=2e-5,
        inputs="5 pairs of tokens a, b (2 × randn, torch.manual_seed(6)); x [a] and [b] (5, 1, 4), "
        "lengths 1; x [a, b] (5, 2, 4), lengths 2",
    )


def test_training_returns_one_float_loss_per_epoch_and_learns(expect_true):
    torch.manual_seed(3)
    x = torch.randn(32, 6, 4)
    y = (x[:, :, 0].mean(dim=1) > 0).long()  # a task mean pooling can learn
    model = AttentionClassifier(4, 16, 2, 2)
    losses = train_classifier(model, x, y, epochs=40, lr=1e-2)
    where, inputs = "classifier.train_classifier", "X (32, 6, 4), y (32,) in {0, 1}, epochs=40, lr=1e-2"
    length = len(losses) if hasattr(losses, "__len__") else "?"
    expect_true(
        isinstance(losses, list) and len(losses) == 40,
        f"{where}: expected a list of 40 losses, got {type(losses).__name__} of length {length}",
        "Does each epoch append its loss to a list that the function returns?",
        inputs,
    )
    expect_true(
        all(type(loss) is float and math.isfinite(loss) for loss in losses),
        f"{where}: expected every loss a finite Python float, got {losses[:3]}...",
        "Which call turns a one-element loss tensor into a Python float?",
        inputs,
    )
    expect_true(
        losses[-1] < 0.7 * losses[0],
        f"{where}: expected the loss to fall below 0.7 × the first on an easy task, "
        f"got {losses[0]:.3f} → {losses[-1]:.3f}",
        "Does each epoch zero the gradients, call backward and take an optimizer step?",
        inputs,
    )
