"""Is the grader's classifier task one that mean pooling cannot solve but one attention layer can?"""

import pytest
import torch
from torch import nn

from grader.checks.classifier import HIGH_ACCURACY, LEARNS_BEYOND_MEAN_POOLING, MODEL, TASK, synthetic_task
from solutions.classifier import AttentionClassifier, train_classifier
from solutions.masking import padding_mask


class MeanPoolingClassifier(nn.Module):
    """The strongest fair rival without attention: embed, mean over real positions, a 2-layer head."""

    def __init__(self, input_dim: int, embed_dim: int, num_classes: int):
        super().__init__()
        self.embed = nn.Linear(input_dim, embed_dim)
        self.head = nn.Sequential(
            nn.ReLU(), nn.Linear(embed_dim, embed_dim), nn.ReLU(), nn.Linear(embed_dim, num_classes)
        )

    def forward(self, x, lengths=None):
        real = padding_mask(lengths, max_len=x.shape[1]).transpose(1, 2)  # (B, L, 1)
        pooled = torch.where(real, self.embed(x), 0.0).sum(1) / real.sum(1)
        return self.head(pooled)


def held_out_accuracy(model: nn.Module) -> float:
    x, y, lengths = synthetic_task(1000, TASK["train_size"])
    x_test, y_test, lengths_test = synthetic_task(2000, TASK["test_size"])
    train_classifier(model, x, y, lengths, epochs=TASK["epochs"], lr=TASK["lr"])
    model.eval()
    with torch.no_grad():
        return float((model(x_test, lengths_test).argmax(1) == y_test).double().mean())


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_labels_are_balanced():
    _, y, _ = synthetic_task(1000, TASK["train_size"])
    assert 0.4 < float(y.double().mean()) < 0.6


@pytest.mark.parametrize("seed", [0, 7])
def test_mean_pooling_alone_cannot_solve_it(seed):
    torch.manual_seed(seed)
    accuracy = held_out_accuracy(MeanPoolingClassifier(TASK["input_dim"], MODEL[1], MODEL[3]))
    assert accuracy < LEARNS_BEYOND_MEAN_POOLING - 0.1


@pytest.mark.parametrize("seed", [7, 11, 23])
def test_one_attention_layer_with_the_lessons_loop_solves_it(seed):
    torch.manual_seed(seed)
    assert held_out_accuracy(AttentionClassifier(*MODEL)) >= HIGH_ACCURACY
