"""Does a harness rewritten by the learner's code gain nothing on the checks judged from values?

The learner's module runs in the same process as the sandbox's harness, so every field of a reply can be
forged. Here the harness's tasks run in this process (as under nbgrader, ``kit/notebook_runtime``) on
modules with a wrong structure, once honestly and once through a ``ForgingSession`` that does what a
rewritten harness can: say that no weight was missing or unexpected, and load every state dict
leniently (``submodules`` included, its strict load swapped for PyTorch's lenient one). Each structure
check must give both a failure. The sandboxed version of this attack is
``tests/submissions/adversarial/forges_module_structure_reports``.

The structure checks call each SPEC submodule by itself (``submodules``), so a mistake in how
``forward`` combines them costs the forward checks only (``COMBINED_WRONGLY``).
"""

from __future__ import annotations

from unittest import mock

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import solutions.encoder
import solutions.masking
import solutions.multi_head
import solutions.self_attention
from grader.checks import checks_for
from grader.contract import exercise
from grader.grading import run_check
from grader.kit.notebook_runtime import NotebookPackage, NotebookSession
from grader.sandbox.client import Learner, LearnerError
from grader.sandbox.harness import lesson_tasks
from grader.sandbox.harness.lesson_tasks import LoadFailed, NoSuchSubmodule, load_strictly


class SelfAttentionWithWrappedValue(solutions.self_attention.SelfAttention):
    """``value`` is an ``nn.Sequential`` around the Linear: its weight is ``value.0.weight``."""

    def __init__(self, embed_dim: int):
        super().__init__(embed_dim)
        self.value = nn.Sequential(nn.Linear(embed_dim, embed_dim))


class MultiHeadAttentionIgnoringBias(solutions.multi_head.MultiHeadAttention):
    """The projections always have a bias, whatever ``bias`` says."""

    def __init__(self, embed_dim: int, num_heads: int, bias: bool = True):
        super().__init__(embed_dim, num_heads, bias=True)


class EncoderBlockWithWideFeedForward(solutions.encoder.EncoderBlock):
    """``linear1`` is ``Linear(E, 2F)``: ff_dim ignored."""

    def __init__(self, embed_dim: int, num_heads: int, ff_dim: int, *args, **kwargs):
        super().__init__(embed_dim, num_heads, 2 * ff_dim, *args, **kwargs)


class EncoderSharingOneBlock(solutions.encoder.Encoder):
    """One block repeated ``num_layers`` times: the blocks share their weights."""

    def __init__(self, num_layers: int, *args, **kwargs):
        super().__init__(num_layers, *args, **kwargs)
        self.layers = nn.ModuleList([self.layers[0]] * num_layers)


class UntransposedLinear(nn.Linear):
    """An nn.Linear's weight and bias, used as ``x W + b``: right for the load, wrong for the value."""

    def __init__(self, features: int):
        super().__init__(features, features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.weight + self.bias


class SelfAttentionWithUntransposedKey(solutions.self_attention.SelfAttention):
    """``key`` loads like nn.Linear(E, E) but computes ``x W + b``."""

    def __init__(self, embed_dim: int):
        super().__init__(embed_dim)
        self.key = UntransposedLinear(embed_dim)


class EncoderBlockShadowingNorm2(solutions.encoder.EncoderBlock):
    """A class attribute hides the registered ``norm2``: ``block.norm2`` is None, yet the weights load."""

    norm2 = None


class SelfAttentionWithPropertyProjections(solutions.self_attention.SelfAttention):
    """The projections live in a ModuleList; ``query``, ``key``, ``value`` are properties that return them."""

    query = property(lambda self: self.projections[0])
    key = property(lambda self: self.projections[1])
    value = property(lambda self: self.projections[2])

    def __init__(self, embed_dim: int):
        nn.Module.__init__(self)
        self.projections = nn.ModuleList(nn.Linear(embed_dim, embed_dim) for _ in range(3))


class SelfAttentionUsingQueryOnly(solutions.self_attention.SelfAttention):
    """The right projections, but the query is used for keys and values as well."""

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        projected = self.query(x)
        return solutions.masking.masked_attention(projected, projected, projected, mask)[0]


class MultiHeadAttentionSkippingOutProj(solutions.multi_head.MultiHeadAttention):
    """The four projections, but the merged heads are returned without out_proj."""

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        batch, length, embed_dim = x.shape
        q, k, v = (
            proj(x).reshape(batch, length, self.num_heads, self.head_dim).transpose(1, 2)
            for proj in (self.q_proj, self.k_proj, self.v_proj)
        )
        heads, _ = solutions.masking.masked_attention(q, k, v, None if mask is None else mask.unsqueeze(-3))
        return heads.transpose(1, 2).reshape(batch, length, embed_dim)


class EncoderBlockWithGelu(solutions.encoder.EncoderBlock):
    """The SPEC's submodules, but GELU in the feed-forward network instead of ReLU."""

    def _feed_forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout2(self.linear2(self.dropout(F.gelu(self.linear1(x)))))


class EncoderOfGeluBlocks(solutions.encoder.Encoder):
    """The SPEC's layers and final norm, each layer an ``EncoderBlockWithGelu``."""

    def __init__(self, num_layers: int, embed_dim: int, num_heads: int, ff_dim: int, *args, **kwargs):
        super().__init__(num_layers, embed_dim, num_heads, ff_dim, *args, **kwargs)
        sizes = (embed_dim, num_heads, ff_dim, *args)
        self.layers = nn.ModuleList(EncoderBlockWithGelu(*sizes, **kwargs) for _ in range(num_layers))


REFERENCE = {
    "SelfAttention": solutions.self_attention.SelfAttention,
    "MultiHeadAttention": solutions.multi_head.MultiHeadAttention,
    "EncoderBlock": solutions.encoder.EncoderBlock,
    "Encoder": solutions.encoder.Encoder,
}
# check -> (exercise, the wrong module's name in the namespace, the wrong class)
WRONG_STRUCTURES = {
    "has_query_key_value_projections": ("self_attention", "SelfAttention", SelfAttentionWithWrappedValue),
    "has_four_projections": ("multi_head", "MultiHeadAttention", MultiHeadAttentionIgnoringBias),
    "block_has_the_spec_attributes": ("encoder", "EncoderBlock", EncoderBlockWithWideFeedForward),
    "encoder_layers_have_their_own_weights": ("encoder", "Encoder", EncoderSharingOneBlock),
}


def load_leniently(model: nn.Module, state: dict) -> None:
    """What a rewritten harness puts in place of ``load_strictly``: whatever fits, silently."""
    model.load_state_dict(state, strict=False)


class ForgingSession:
    """The harness's tasks in this process, with every reply forged as a rewritten harness would forge it."""

    def __init__(self, namespace: dict):
        self.learners = NotebookSession(namespace)

    def call(self, task: str, payload: dict):
        with mock.patch.object(lesson_tasks, "load_strictly", load_leniently):
            outcome = self.learners.call(task, payload)
        if outcome.ok and isinstance(outcome.value, dict):
            outcome.value.update(missing=[], unexpected=[])
        return outcome

    def close(self) -> None:
        pass


def grade_check(module: str, name: str, namespace: dict, *, forged: bool):
    """One check's ``CheckResult`` for the code in ``namespace``, through an honest or a forging session."""
    (check,) = [c for c in checks_for(module) if c.name == name]
    learner = Learner(module, lambda: ForgingSession(namespace) if forged else NotebookSession(namespace))
    return run_check(check, learner, exercise(module))


def namespace_with(cls_name: str, cls) -> dict:
    return {**REFERENCE, cls_name: cls}


@pytest.mark.parametrize("check_name", sorted(WRONG_STRUCTURES))
def test_a_forged_structure_gains_nothing_on_the_structure_check(check_name):
    """Does a harness that vouches for the SPEC's structure still fail the check the honest harness fails?

    The forged side may fail otherwise: skipping the strict load, it meets PyTorch's own refusal of a
    wrong shape (an error) or a submodule's wrong output (a failure); either way it scores nothing.
    """
    module, cls_name, wrong = WRONG_STRUCTURES[check_name]
    honest = grade_check(module, check_name, namespace_with(cls_name, wrong), forged=False)
    forged = grade_check(module, check_name, namespace_with(cls_name, wrong), forged=True)
    assert (honest.status, honest.score) == ("failed", 0), honest.message
    assert forged.status in ("failed", "error") and forged.score == 0, forged.message


@pytest.mark.parametrize("check_name", sorted(WRONG_STRUCTURES))
def test_the_reference_structure_passes_the_structure_check(check_name):
    """Does the SPEC's structure still pass, honestly and through a lenient (forging) harness alike?"""
    module, _, _ = WRONG_STRUCTURES[check_name]
    for forged in (False, True):
        result = grade_check(module, check_name, dict(REFERENCE), forged=forged)
        assert result.status == "passed", result.message


def test_the_forging_session_really_skips_the_strict_load():
    """Without this, the forged side above would only repeat the honest one: does its load let all through?"""
    state = dict(solutions.multi_head.MultiHeadAttention(8, 2, bias=False).state_dict())
    calls = [{"path": "q_proj", "args": [torch.randn(1, 2, 8)]}]
    namespace = namespace_with("MultiHeadAttention", MultiHeadAttentionIgnoringBias)
    honest = Learner("multi_head", lambda: NotebookSession(namespace))
    forged = Learner("multi_head", lambda: ForgingSession(namespace))
    options = {"init_kwargs": {"bias": False}, "state": state, "calls": calls}
    with pytest.raises(LearnerError) as refused:
        honest.submodules("MultiHeadAttention", [8, 2], **options)
    assert refused.value.load_failure is not None
    assert len(forged.submodules("MultiHeadAttention", [8, 2], **options).result) == 1


class TestStructureMessages:
    def test_a_state_dict_that_does_not_load_names_what_was_loaded_and_the_learners_error(self):
        """Is a failed load told as the tensors the grader loaded and PyTorch's reason, on one line?"""
        result = grade_check(
            "multi_head",
            "has_four_projections",
            namespace_with("MultiHeadAttention", MultiHeadAttentionIgnoringBias),
            forged=False,
        )
        first, *rest = result.message.splitlines()
        assert first.startswith(
            "multi_head.MultiHeadAttention(8, 2, bias=False): "
            "loading a state dict with q_proj.weight (8, 8), "
            "k_proj.weight (8, 8), v_proj.weight (8, 8), out_proj.weight (8, 8) failed: "
        ), first
        assert "q_proj.bias" in first
        assert rest == ["  input: MultiHeadAttention(8, 2, bias=False), x (2, 4, 8), one projection per call"]
        assert "bias=bias" in result.hint

    def test_a_size_mismatch_names_the_parameter_and_both_shapes(self):
        result = grade_check(
            "encoder",
            "block_has_the_spec_attributes",
            namespace_with("EncoderBlock", EncoderBlockWithWideFeedForward),
            forged=False,
        )
        assert result.message.startswith(
            "encoder.EncoderBlock(8, 2, 16): loading a state dict with self_attn.* (8 tensors), "
            "linear1.weight (16, 8), linear1.bias (16,), linear2.weight (8, 16), linear2.bias (8,), "
            "norm1.weight (8,), norm1.bias (8,), norm2.weight (8,), norm2.bias (8,) failed: RuntimeError: "
        )
        assert "size mismatch for linear1.weight" in result.message and "[32, 8]" in result.message

    def test_a_shared_block_is_told_apart_by_its_submodules_outputs(self):
        """Does an Encoder whose blocks share weights hear which layer's weights its first layer holds?"""
        result = grade_check(
            "encoder",
            "encoder_layers_have_their_own_weights",
            namespace_with("Encoder", EncoderSharingOneBlock),
            forged=False,
        )
        where = "encoder.Encoder(3, 8, 2, 16, norm_first=True).layers.0.self_attn(x, None)"
        like = "the lesson's MultiHeadAttention(8, 2) with the weights loaded"
        assert result.message.startswith(f"{where}: output vs {like}: "), result.message
        assert result.hint.startswith("layers.0.self_attn gives what layers.2's weights give"), result.hint
        assert "share one block" in result.hint

    def test_a_submodule_with_the_spec_weights_but_another_computation_says_which_and_what(self):
        """A Linear's weights in a module that computes x W (no transpose): where, expected vs got, a hint."""
        result = grade_check(
            "self_attention",
            "has_query_key_value_projections",
            namespace_with("SelfAttention", SelfAttentionWithUntransposedKey),
            forged=False,
        )
        first, *rest = result.message.splitlines()
        assert first.startswith(
            "self_attention.SelfAttention(6).key(x): output vs nn.Linear(6, 6) with the weights loaded, "
            "x Wᵀ + b: 48 of 48 values differ; worst at ["
        ), first
        assert "expected " in first and ", got " in first
        assert rest == ["  input: SelfAttention(6), x (2, 4, 6), one projection per call"]
        assert result.hint == "Is .key a plain nn.Linear(embed_dim, embed_dim), which computes x Wᵀ + b?"

    def test_a_spec_name_that_leads_to_nothing_callable_says_how_far_it_got(self):
        result = grade_check(
            "encoder",
            "block_has_the_spec_attributes",
            namespace_with("EncoderBlock", EncoderBlockShadowingNorm2),
            forged=False,
        )
        assert (result.status, result.score) == ("failed", 0)
        assert result.message.splitlines()[0] == (
            "encoder.EncoderBlock(8, 2, 16): .norm2 is a NoneType, not a module that can be called"
        )

    def test_a_path_that_leads_nowhere_is_the_learners_error(self):
        """The task follows the SPEC's path step by step and says where it stopped."""
        encoder = solutions.encoder.Encoder(3, 8, 2, 16)
        payload = {
            "module": "encoder",
            "cls": "Encoder",
            "state": encoder.state_dict(),
            "calls": [{"path": "layers.3"}],
        }
        with pytest.raises(NoSuchSubmodule, match=r"^has no attribute \.layers\.3$"):
            lesson_tasks.submodules(NotebookPackage({"Encoder": lambda: encoder}), payload)


# structure check -> (exercise, the name in the namespace, a module with the SPEC's submodules combined
# wrongly, a forward check that catches it)
COMBINED_WRONGLY = {
    "has_query_key_value_projections": (
        "self_attention",
        "SelfAttention",
        SelfAttentionUsingQueryOnly,
        "matches_reference_without_mask",
    ),
    "has_four_projections": (
        "multi_head",
        "MultiHeadAttention",
        MultiHeadAttentionSkippingOutProj,
        "matches_nn_multihead_attention",
    ),
    "block_has_the_spec_attributes": (
        "encoder",
        "EncoderBlock",
        EncoderBlockWithGelu,
        "post_norm_block_matches_transformer_encoder_layer",
    ),
    "encoder_layers_have_their_own_weights": (
        "encoder",
        "Encoder",
        EncoderOfGeluBlocks,
        "encoder_runs_its_blocks_then_the_final_norm",
    ),
}


@pytest.mark.parametrize("check_name", sorted(COMBINED_WRONGLY))
def test_the_right_submodules_combined_wrongly_lose_the_forward_check_only(check_name):
    """A mistake in how forward combines the right submodules costs the forward checks, not the structure one.

    The control (the forward check fails) keeps this test able to fail: a module that is not wrong at
    all would pass the structure check for nothing.
    """
    module, cls_name, cls, forward_check = COMBINED_WRONGLY[check_name]
    structure = grade_check(module, check_name, namespace_with(cls_name, cls), forged=False)
    assert structure.status == "passed", structure.message
    control = grade_check(module, forward_check, namespace_with(cls_name, cls), forged=False)
    assert control.status == "failed", control.message


class TestStrictLoad:
    """``load_strictly``: each tensor of the state dict lands in the module; each parameter comes from it."""

    @staticmethod
    def state_of(module: nn.Module) -> dict:
        return {name: value.detach().clone() for name, value in module.state_dict().items()}

    def test_a_submodule_registered_under_two_names_loads(self):
        """Correct code may hold linear1 twice (``self.ff = nn.Sequential(self.linear1, ...)``).

        PyTorch's ``strict=True`` would refuse it: ``ff.0.weight`` is a key the state dict lacks.
        """
        block = solutions.encoder.EncoderBlock(8, 2, 16)
        state = self.state_of(block)
        block.feed_forward = nn.Sequential(block.linear1, nn.ReLU(), block.linear2)
        load_strictly(block, state)
        assert torch.equal(block.feed_forward[0].weight, state["linear1.weight"])

    def test_a_buffer_of_the_learners_own_loads(self):
        attention = solutions.self_attention.SelfAttention(4)
        state = self.state_of(attention)
        attention.register_buffer("scale", torch.tensor(2.0))
        load_strictly(attention, state)

    def test_a_spec_name_that_pytorch_does_not_list_loads_where_its_path_leads(self):
        """``query`` is a property over a registered ModuleList: ``state_dict()`` lists ``projections.*``."""
        attention = SelfAttentionWithPropertyProjections(4)
        state = self.state_of(solutions.self_attention.SelfAttention(4))
        load_strictly(attention, state)
        assert torch.equal(attention.projections[2].bias, state["value.bias"])

    def test_a_spec_name_whose_path_leads_to_the_wrong_shape_fails(self):
        attention = SelfAttentionWithPropertyProjections(4)
        state = self.state_of(solutions.self_attention.SelfAttention(4))
        state["key.weight"] = torch.zeros(4, 3)
        with pytest.raises(LoadFailed, match=r"size mismatch for key\.weight"):
            load_strictly(attention, state)

    def test_a_parameter_the_state_dict_does_not_set_fails(self):
        with_bias = solutions.multi_head.MultiHeadAttention(4, 2, bias=True)
        state = self.state_of(solutions.multi_head.MultiHeadAttention(4, 2, bias=False))
        with pytest.raises(LoadFailed, match="the state dict does not set: q_proj.bias, k_proj.bias"):
            load_strictly(with_bias, state)

    def test_an_entry_that_lands_nowhere_fails(self):
        without_bias = solutions.multi_head.MultiHeadAttention(4, 2, bias=False)
        state = self.state_of(solutions.multi_head.MultiHeadAttention(4, 2, bias=True))
        with pytest.raises(LoadFailed, match="unexpected key"):
            load_strictly(without_bias, state)
