"""Do the classifier's architecture checks hold for the SPEC's classifier whatever its weights, and does
each other pooling break its property by far, whatever the weights?

The checks build the learner's model from a fixed seed, but a learner's constructor may draw its weights
in another order: the margins must not depend on the draw. Each case below is the check's own input.
"""

from pathlib import Path

import pytest
import torch
from torch import nn

from grader.checks.classifier import MODEL, ONE_HEAD
from grader.checks.classifier_cases import (
    LOOSE,
    copies,
    nearest_on_segments,
    pair_case,
    reorder_case,
    repeat_case,
    reversed_real,
)
from grader.checks.compare import Tolerance
from solutions.classifier import AttentionClassifier
from solutions.encoder import sinusoidal_positional_encoding
from solutions.masking import padding_mask

SEEDS = range(6)
FLOAT32 = Tolerance.for_dtype(torch.float32)


class Pooled(nn.Module):
    """The reference's embed, attention and linear layer around another pooling (or a positional
    encoding)."""

    def __init__(self, pool: str, init: list):
        super().__init__()
        self.inner, self.pool = AttentionClassifier(*init), pool

    def forward(self, x, lengths):
        B, L, _ = x.shape  # batch, length, input features
        real = padding_mask(lengths, max_len=L)  # (B, 1, L)
        is_real = real.transpose(1, 2)  # (B, L, 1)
        h = self.inner.embed(x)  # (B, L, E)
        if self.pool == "positional":
            h = h + sinusoidal_positional_encoding(L, h.shape[-1])
        h = self.inner.attn(h, real)  # (B, L, E)
        if self.pool == "max":
            return self.inner.fc(h.masked_fill(~is_real, float("-inf")).amax(dim=1))
        if self.pool == "first":
            return self.inner.fc(h[:, 0])
        if self.pool == "last":
            return self.inner.fc(h[torch.arange(B), torch.as_tensor(lengths) - 1])
        summed = torch.where(is_real, h, 0.0).sum(dim=1)  # (B, E)
        return self.inner.fc(summed if self.pool == "sum" else summed / is_real.sum(dim=1))


def excess(got: torch.Tensor, expected: torch.Tensor, tolerance: Tolerance) -> float:
    """The worst difference in units of what ``tolerance`` allows: above 1 fails the check."""
    got, expected = got.double(), expected.double()
    return float(((got - expected).abs() / (tolerance.atol + tolerance.rtol * expected.abs())).max())


def model(pool: str, init: list, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return Pooled(pool, init).eval()


@torch.no_grad()
def reorder_excess(pool: str, seed: int) -> float:
    x, lengths = reorder_case()
    m = model(pool, MODEL, seed)
    return excess(m(reversed_real(x, lengths), lengths), m(x, lengths), FLOAT32)


@torch.no_grad()
def repeat_excess(pool: str, seed: int) -> float:
    x, m = repeat_case(), model(pool, MODEL, seed)
    return excess(m(*copies(x, 2)), m(*copies(x, 1)), FLOAT32)


@torch.no_grad()
def pair_excess(pool: str, seed: int) -> float:
    (a, b), m = pair_case(), model(pool, ONE_HEAD, seed)
    alone = m(torch.cat([a, b]), torch.ones(12, dtype=torch.long))
    pair = m(torch.cat([a, b], dim=1), torch.full((6,), 2))
    return excess(pair, nearest_on_segments(pair, alone[:6], alone[6:]), LOOSE)


PROPERTIES = {"reorder": reorder_excess, "repeat": repeat_excess, "pair": pair_excess}


@pytest.mark.parametrize("prop", PROPERTIES)
def test_the_specs_classifier_keeps_each_property_well_inside_the_tolerance(prop):
    worst = max(PROPERTIES[prop]("mean", seed) for seed in SEEDS)
    assert worst < 0.1, f"mean pooling: {prop} uses {worst:.2f} of the tolerance"


@pytest.mark.parametrize(
    ("pool", "prop"),
    [
        ("first", "reorder"),
        ("last", "reorder"),
        ("positional", "reorder"),
        ("sum", "repeat"),
        ("positional", "repeat"),
        ("max", "pair"),
        ("sum", "pair"),
        ("positional", "pair"),
    ],
)
def test_another_pooling_breaks_its_property_far_outside_the_tolerance(pool, prop):
    least = min(PROPERTIES[prop](pool, seed) for seed in SEEDS)
    assert least > 10, f"{pool} pooling: {prop} is off by only {least:.1f} × the tolerance"


class RecordingRunner:
    """The notebook's in-process runner (the reference's names), recording each session's forward inputs."""

    def __init__(self):
        from grader.kit.notebook_runtime import NotebookRunner

        namespace = {}
        for module in (
            "softmax",
            "attention",
            "masking",
            "self_attention",
            "multi_head",
            "encoder",
            "classifier",
        ):
            reference = __import__(f"solutions.{module}", fromlist=["*"])
            namespace.update(
                {name: getattr(reference, name) for name in dir(reference) if not name.startswith("_")}
            )
        self.inner = NotebookRunner(namespace)
        self.sessions: list[list[set]] = []  # per session: per call, the token vectors it was given

    def open_session(self, folder, **options):
        session, calls = self.inner.open_session(folder, **options), []
        self.sessions.append(calls)
        call = session.call

        def recording_call(task, payload, timeout_s=None):
            tensors = [payload.get("X")] + [
                arg for spec in payload.get("calls") or [] for arg in spec["args"]
            ]
            calls.append(
                {
                    tuple(row.tolist())
                    for x in tensors
                    if isinstance(x, torch.Tensor) and x.dim() == 3
                    for row in x.reshape(-1, x.shape[-1])
                }
            )
            return call(task, payload, timeout_s)

        session.call = recording_call
        return session


def test_each_comparison_is_split_across_two_sandboxes_that_share_no_sequence(tmp_path):
    # In one process, code could remember a sequence's first answer and give it again (the memoizing
    # submission in tests/submissions/adversarial does). The second calls share one sandbox rather than
    # one each: only as long as no two calls in a sandbox are given the same token.
    from grader.contract import exercise
    from grader.grading import grade_exercise
    from grader.intake.submission import Submission
    from grader.settings import Settings

    (tmp_path / "classifier.py").write_text(
        (Path(__file__).parent.parent / "solutions" / "classifier.py").read_text()
    )
    runner = RecordingRunner()
    submission = Submission(name="reference", source=tmp_path, folder=tmp_path)
    result = grade_exercise(submission, exercise("classifier"), runner, Settings(cuda="off"))
    assert result.score == result.max_score, [c.message for c in result.checks if c.message]
    assert len(runner.sessions) == 2, "the first calls share one sandbox, the second calls another"
    for calls in runner.sessions:
        for index, tokens in enumerate(calls):
            for other in calls[index + 1 :]:
                assert not tokens & other, "two calls in one sandbox were given the same token"
