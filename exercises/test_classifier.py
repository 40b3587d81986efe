"""Visible checks for exercise 7, classifier.py."""

import math

import torch

from .classifier import AttentionClassifier, train_classifier


def test_logits_shape(expect_shape):
    torch.manual_seed(0)
    model = AttentionClassifier(input_dim=5, embed_dim=16, num_heads=4, num_classes=3)
    expect_shape(
        model(torch.randn(2, 7, 5), torch.tensor([7, 3])),
        (2, 3),
        "AttentionClassifier logits for 2 sequences, 3 classes",
    )


def test_padding_does_not_change_logits(expect_close):
    torch.manual_seed(1)
    model = AttentionClassifier(4, 8, 2, 2).eval()
    x = torch.randn(3, 6, 4)
    lengths = torch.tensor([6, 2, 4])
    noisy = x.clone()
    for b, length in enumerate(lengths):
        noisy[b, length:] = 100.0 * torch.randn(6 - length, 4)
    expect_close(
        model(noisy, lengths),
        model(x, lengths),
        "logits after changing only the padded positions",
        hint="Are padded keys masked in the attention, and does the mean divide by the real length?",
    )


def test_no_lengths_means_every_position_is_real(expect_close):
    torch.manual_seed(2)
    model = AttentionClassifier(4, 8, 2, 2).eval()
    x = torch.randn(2, 5, 4)
    expect_close(model(x), model(x, torch.tensor([5, 5])), "logits with lengths=None vs lengths=[5, 5]")


def test_training_returns_one_float_loss_per_epoch_and_learns():
    torch.manual_seed(3)
    x = torch.randn(32, 6, 4)
    y = (x[:, :, 0].mean(dim=1) > 0).long()  # a task mean pooling can learn
    model = AttentionClassifier(4, 16, 2, 2)
    losses = train_classifier(model, x, y, epochs=40, lr=1e-2)
    assert isinstance(losses, list) and len(losses) == 40, (
        f"train_classifier(epochs=40): expected a list of 40 losses, got {type(losses).__name__} "
        f"of length {len(losses) if hasattr(losses, '__len__') else '?'}"
    )
    assert all(type(loss) is float and math.isfinite(loss) for loss in losses), (
        f"train_classifier: every loss should be a finite Python float, got {losses[:3]}..."
    )
    assert losses[-1] < 0.7 * losses[0], (
        "train_classifier: the loss should fall on an easy task, "
        f"went from {losses[0]:.3f} to {losses[-1]:.3f}\n"
        "  hint: does each epoch zero the gradients, call backward and take an optimizer step?"
    )
