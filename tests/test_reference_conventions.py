"""The reference solutions keep every convention of SPEC.md, checked by behaviour rather than by function.

Expected values come from properties (zero rows, sums to one, causality, padding invariance), from the
reference run on an equivalent input, or from the SPEC's definitions — never from numbers written here.
The comparison with PyTorch's own modules lives in ``test_reference_matches_pytorch.py``.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from torch import nn

from solutions.attention import scaled_dot_product_attention
from solutions.classifier import AttentionClassifier, train_classifier
from solutions.encoder import Encoder, EncoderBlock
from solutions.masking import causal_mask, masked_attention, padding_mask
from solutions.multi_head import MultiHeadAttention
from solutions.self_attention import SelfAttention
from solutions.softmax import softmax

TOLERANCES = {  # (rtol, atol) by dtype: room for the same maths summed in another order
    torch.bfloat16: (1.6e-2, 1e-2),
    torch.float32: (1e-5, 1e-6),
    torch.float64: (1e-10, 1e-12),
}
FLOAT_DTYPES = [pytest.param(torch.float32, id="float32"), pytest.param(torch.float64, id="float64")]
NEEDS_CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
DEVICES = [
    pytest.param("cpu", id="cpu"),
    pytest.param("cuda", id="cuda", marks=[pytest.mark.cuda, NEEDS_CUDA]),
]

B, L, E = 3, 5, 8  # batch, length, embed for the modules
NUM_HEADS, FF_DIM, INPUT_DIM, NUM_CLASSES = 2, 16, 3, 4
LENGTHS_WITH_EMPTY = [5, 0, 2]  # sequence 1 is empty: its queries have no key to attend to


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tensors here are tiny: extra threads only add synchronisation, which a busy machine makes slow."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ---- helpers ---------------------------------------------------------------------------------------


def expect_close(got, expected, what: str, rtol=None, atol=None) -> None:
    """Shape, dtype, device, then values (``torch.testing.assert_close`` names the worst element)."""
    __tracebackhide__ = True
    default_rtol, default_atol = TOLERANCES.get(expected.dtype, (0.0, 0.0))  # integer and bool: exact
    torch.testing.assert_close(
        got,
        expected,
        rtol=default_rtol if rtol is None else rtol,
        atol=default_atol if atol is None else atol,
        msg=lambda message: f"{what}: {message}",
    )


def expect_equal(got: torch.Tensor, expected: torch.Tensor, what: str) -> None:
    """Bit for bit: for results that must not depend on something at all."""
    __tracebackhide__ = True
    expect_close(got, expected, what, rtol=0.0, atol=0.0)


def expect_finite(tensor: torch.Tensor | None, what: str) -> None:
    __tracebackhide__ = True
    assert tensor is not None, f"{what}: expected a tensor, got None"
    bad = ~torch.isfinite(tensor)
    if bool(bad.any()):
        index = [int(i) for i in bad.nonzero()[0]]
        pytest.fail(
            f"{what}: expected finite values, got {tensor[tuple(index)].item()} at {index}", pytrace=False
        )


def randn(g: torch.Generator, *shape: int, dtype=torch.float32) -> torch.Tensor:
    return torch.randn(*shape, generator=g, dtype=dtype)


def qkv(seed: int, *batch: int, l_q=4, l_k=5, d_k=4, d_v=6, dtype=torch.float32, device="cpu"):
    g = torch.Generator().manual_seed(seed)
    tensors = (
        randn(g, *batch, l_q, d_k, dtype=dtype),
        randn(g, *batch, l_k, d_k, dtype=dtype),
        randn(g, *batch, l_k, d_v, dtype=dtype),
    )
    return tuple(t.to(device) for t in tensors)


def random_mask(g: torch.Generator, shape: tuple[int, ...]) -> torch.Tensor:
    """A random bool mask in which every row (last axis) keeps at least one key."""
    mask = torch.rand(shape, generator=g) < 0.5
    keep = torch.randint(shape[-1], (*shape[:-1], 1), generator=g)
    return mask.scatter(-1, keep, True)


def randomized(module: nn.Module, seed: int, dtype=torch.float32) -> nn.Module:
    """``module`` in ``dtype`` with every parameter drawn from a local generator (the global RNG
    untouched)."""
    g = torch.Generator().manual_seed(seed)
    module = module.to(dtype)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.copy_(0.5 * randn(g, *parameter.shape, dtype=dtype))
    return module


MODULES = {  # every self-attention module of the SPEC, in eval mode where dropout would get in the way
    "SelfAttention": lambda: SelfAttention(E),
    "MultiHeadAttention": lambda: MultiHeadAttention(E, NUM_HEADS),
    "EncoderBlock": lambda: EncoderBlock(E, NUM_HEADS, FF_DIM).eval(),
    "Encoder(pre-norm)": lambda: Encoder(2, E, NUM_HEADS, FF_DIM, norm_first=True).eval(),
    "Encoder(post-norm)": lambda: Encoder(2, E, NUM_HEADS, FF_DIM).eval(),
}


def build(name: str, seed: int = 0, dtype=torch.float32) -> nn.Module:
    return randomized(MODULES[name](), seed, dtype)


def build_classifier(seed: int = 0, dtype=torch.float32) -> AttentionClassifier:
    return randomized(AttentionClassifier(INPUT_DIM, E, NUM_HEADS, NUM_CLASSES), seed, dtype)


def module_input(seed: int, dtype=torch.float32, features: int = E) -> torch.Tensor:
    return randn(torch.Generator().manual_seed(seed), B, L, features, dtype=dtype)


# ---- fully masked rows -----------------------------------------------------------------------------

FULLY_MASKED = {  # name: (batch, mask) with L_q = 4, L_k = 5; some query rows have no key to attend to
    "zero-row(Lq,Lk)": (
        (2,),
        torch.tensor([[1, 1, 0, 0, 0], [0, 0, 0, 0, 0], [1, 1, 1, 1, 1], [0, 0, 0, 0, 1]]),
    ),
    "padding-length-0(B,1,Lk)": ((3,), padding_mask([5, 0, 2])),
    "all-false(Lk)": ((2, 3), torch.zeros(5, dtype=torch.bool)),
    "causal-left-padded(B,Lq,Lk)": (
        (2,),
        causal_mask(5)[:4] & torch.tensor([[[0, 0, 1, 1, 1]], [[1, 1, 1, 1, 1]]]).bool(),
    ),
}


def rows_without_keys(batch: tuple[int, ...], mask: torch.Tensor) -> torch.Tensor:
    """(..., L_q) bool: the queries whose every key is masked, by the SPEC's definition."""
    return ~(mask != 0).expand(*batch, 4, 5).any(dim=-1)


class TestFullyMaskedRows:
    @pytest.mark.parametrize("case", FULLY_MASKED.values(), ids=FULLY_MASKED.keys())
    @pytest.mark.parametrize("dtype", FLOAT_DTYPES)
    def test_fully_masked_row_gives_zero_weights_and_zero_output(self, dtype, case):
        batch, mask = case
        q, k, v = qkv(0, *batch, dtype=dtype)
        output, weights = masked_attention(q, k, v, mask)
        expect_finite(output, "masked_attention output")
        expect_finite(weights, "masked_attention weights")
        empty = rows_without_keys(batch, mask)
        assert bool(empty.any()), "test setup: expected at least one fully masked query"
        expect_equal(weights[empty], torch.zeros_like(weights[empty]), "weights of fully masked queries")
        expect_equal(output[empty], torch.zeros_like(output[empty]), "output of fully masked queries")
        sums = weights[~empty].sum(dim=-1)
        expect_close(sums, torch.ones_like(sums), "weights of the other queries sum to one")

    @pytest.mark.parametrize("case", FULLY_MASKED.values(), ids=FULLY_MASKED.keys())
    @pytest.mark.parametrize("dtype", FLOAT_DTYPES)
    def test_fully_masked_row_gives_finite_gradients(self, dtype, case):
        batch, mask = case
        q, k, v = (t.requires_grad_(True) for t in qkv(1, *batch, dtype=dtype))
        output, weights = masked_attention(q, k, v, mask)
        g = torch.Generator().manual_seed(2)  # generic upstream gradients for the output and the weights
        loss = (output * randn(g, *output.shape, dtype=dtype)).sum() + (
            weights * randn(g, *weights.shape, dtype=dtype)
        ).sum()
        loss.backward()
        for name, tensor in (("q", q), ("k", k), ("v", v)):
            expect_finite(tensor.grad, f"masked_attention gradient w.r.t. {name}")
        empty = rows_without_keys(batch, mask)
        # The row's weights and output are constant zeros, so its query cannot matter.
        expect_equal(q.grad[empty], torch.zeros_like(q.grad[empty]), "gradient w.r.t. fully masked queries")

    @pytest.mark.parametrize("name", MODULES.keys())
    @pytest.mark.parametrize("dtype", FLOAT_DTYPES)
    def test_modules_stay_finite_on_an_empty_sequence(self, dtype, name):
        module = build(name, seed=3, dtype=dtype)
        x = module_input(4, dtype).requires_grad_(True)
        output = module(x, padding_mask(LENGTHS_WITH_EMPTY))
        expect_finite(output, f"{name} output with lengths {LENGTHS_WITH_EMPTY}")
        output.sum().backward()
        expect_finite(x.grad, f"{name} gradient w.r.t. x")
        for parameter_name, parameter in module.named_parameters():
            expect_finite(parameter.grad, f"{name} gradient w.r.t. {parameter_name}")

    @pytest.mark.parametrize("dtype", FLOAT_DTYPES)
    def test_encoder_block_in_training_mode_stays_finite_on_an_empty_sequence(self, dtype):
        block = randomized(EncoderBlock(E, NUM_HEADS, FF_DIM), seed=5, dtype=dtype).train()
        x = module_input(6, dtype).requires_grad_(True)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(7)  # dropout's draws
            output = block(x, padding_mask(LENGTHS_WITH_EMPTY))
        expect_finite(output, "EncoderBlock (train) output")
        output.sum().backward()
        expect_finite(x.grad, "EncoderBlock (train) gradient w.r.t. x")

    @pytest.mark.parametrize("dtype", FLOAT_DTYPES)
    def test_multi_head_output_of_an_empty_sequence_is_the_output_bias(self, dtype):
        """Every head's output is zero there, so only ``out_proj``'s bias is left."""
        mha = build("MultiHeadAttention", seed=7, dtype=dtype)
        output = mha(module_input(8, dtype), padding_mask(LENGTHS_WITH_EMPTY))
        expect_close(
            output[1],
            mha.out_proj.bias.detach().expand(L, E),
            "MultiHeadAttention output of the empty sequence",
        )

    @pytest.mark.parametrize("lengths", [[5, 0, 2], [0, 0, 0]], ids=["one-empty", "all-empty"])
    @pytest.mark.parametrize("dtype", FLOAT_DTYPES)
    def test_classifier_gives_an_empty_sequence_the_logits_of_a_zero_pooled_vector(self, dtype, lengths):
        model = build_classifier(seed=9, dtype=dtype)
        x = module_input(10, dtype, INPUT_DIM).requires_grad_(True)
        logits = model(x, lengths)
        expect_finite(logits, f"AttentionClassifier logits with lengths {lengths}")
        for b, length in enumerate(lengths):
            if length == 0:
                expect_close(logits[b], model.fc.bias.detach(), f"logits of empty sequence {b}")
        logits.sum().backward()
        expect_finite(x.grad, "AttentionClassifier gradient w.r.t. x")
        for parameter_name, parameter in model.named_parameters():
            expect_finite(parameter.grad, f"AttentionClassifier gradient w.r.t. {parameter_name}")


# ---- gradients -------------------------------------------------------------------------------------


def gradcheck(function, *inputs: torch.Tensor) -> None:
    __tracebackhide__ = True
    assert torch.autograd.gradcheck(function, inputs, eps=1e-6, atol=1e-6, rtol=1e-5)


class TestGradients:
    """``torch.autograd.gradcheck`` in float64: analytic gradients equal finite differences."""

    @pytest.mark.parametrize("batch", [(), (2,), (2, 2)], ids=["no-batch", "batch(2)", "batch(2,2)"])
    def test_scaled_dot_product_attention_gradients_are_correct(self, batch):
        inputs = [
            t.requires_grad_(True) for t in qkv(0, *batch, l_q=3, l_k=4, d_k=3, d_v=2, dtype=torch.float64)
        ]
        gradcheck(scaled_dot_product_attention, *inputs)

    @pytest.mark.parametrize(
        "mask",
        [None, causal_mask(4), torch.tensor([[1, 0, 1, 1], [0, 0, 0, 0], [1, 1, 1, 1], [0, 0, 0, 1]])],
        ids=["none", "causal", "with-fully-masked-row"],
    )
    def test_masked_attention_gradients_are_correct(self, mask):
        inputs = [t.requires_grad_(True) for t in qkv(1, 2, l_q=4, l_k=4, d_k=3, d_v=2, dtype=torch.float64)]
        gradcheck(lambda q, k, v: masked_attention(q, k, v, mask), *inputs)

    # Small sizes: gradcheck builds the whole Jacobian, one backward pass per output element.
    SMALL_MODULES = {
        "SelfAttention": lambda: SelfAttention(4),
        "MultiHeadAttention": lambda: MultiHeadAttention(4, 2),
        "EncoderBlock(post-norm)": lambda: EncoderBlock(4, 2, 6).eval(),
        "EncoderBlock(pre-norm)": lambda: EncoderBlock(4, 2, 6, norm_first=True).eval(),
        "Encoder(pre-norm)": lambda: Encoder(2, 4, 2, 6, norm_first=True).eval(),
    }

    @pytest.mark.parametrize(
        "mask", [None, causal_mask(3), padding_mask([3, 0])], ids=["none", "causal", "padding-with-empty"]
    )
    @pytest.mark.parametrize("name", SMALL_MODULES.keys())
    def test_module_gradients_with_respect_to_x_are_correct(self, name, mask):
        module = randomized(self.SMALL_MODULES[name](), seed=2, dtype=torch.float64)
        x = randn(torch.Generator().manual_seed(3), 2, 3, 4, dtype=torch.float64).requires_grad_(True)
        gradcheck(lambda x: module(x, mask), x)

    def test_classifier_gradients_with_respect_to_x_are_correct(self):
        model = randomized(AttentionClassifier(INPUT_DIM, 4, 2, NUM_CLASSES), seed=4, dtype=torch.float64)
        x = randn(torch.Generator().manual_seed(5), 3, 3, INPUT_DIM, dtype=torch.float64).requires_grad_(True)
        gradcheck(lambda x: model(x, [3, 0, 2]), x)


# ---- dtypes and devices ----------------------------------------------------------------------------

ATTENTION_FUNCTIONS = {
    "scaled_dot_product_attention": lambda q, k, v: scaled_dot_product_attention(q, k, v),
    "masked_attention(None)": lambda q, k, v: masked_attention(q, k, v),
    "masked_attention(bool)": lambda q, k, v: masked_attention(
        q, k, v, random_mask(torch.Generator().manual_seed(0), (4, 5))
    ),
    "masked_attention(float,fully-masked-row)": lambda q, k, v: masked_attention(
        q, k, v, torch.tensor([1.0, 0.0, 0.0, 1.0])[:, None]
    ),
}
ALL_DTYPES = [*FLOAT_DTYPES, pytest.param(torch.bfloat16, id="bfloat16")]
# (rtol, atol) of a result in each dtype against float64 on the same inputs: the dtype's rounding through two
# matmuls and a softmax.
AGAINST_FLOAT64 = {torch.bfloat16: (1.6e-2, 1e-2), torch.float32: (1e-5, 1e-6), torch.float64: (0.0, 0.0)}


class TestDtypesAndDevices:
    @pytest.mark.parametrize("device", DEVICES)
    @pytest.mark.parametrize("dtype", ALL_DTYPES)
    @pytest.mark.parametrize("function", ATTENTION_FUNCTIONS.values(), ids=ATTENTION_FUNCTIONS.keys())
    def test_attention_functions_keep_the_input_dtype_and_device(self, function, dtype, device):
        q, k, v = qkv(0, 2, dtype=dtype, device=device)
        output, weights = function(q, k, v)
        for what, result in (("output", output), ("weights", weights)):
            assert result.dtype == dtype, f"{what} dtype: expected {dtype}, got {result.dtype}"
            assert result.device == q.device, f"{what} device: expected {q.device}, got {result.device}"
        # Each dtype gives the float64 answer on the same values, up to its own rounding.
        rtol, atol = AGAINST_FLOAT64[dtype]
        expected_output, expected_weights = function(*(t.double() for t in (q, k, v)))
        expect_close(output.double(), expected_output, f"output in {dtype} vs float64", rtol, atol)
        expect_close(weights.double(), expected_weights, f"weights in {dtype} vs float64", rtol, atol)

    @pytest.mark.parametrize("device", DEVICES)
    @pytest.mark.parametrize("dtype", FLOAT_DTYPES)
    @pytest.mark.parametrize("name", MODULES.keys())
    def test_modules_keep_the_input_dtype_and_device(self, name, dtype, device):
        module = build(name, seed=1, dtype=dtype).to(device)
        x = module_input(2, dtype).to(device)
        output = module(x, padding_mask([5, 3, 4]).to(device))
        assert output.dtype == dtype, f"{name} output dtype: expected {dtype}, got {output.dtype}"
        assert output.device == x.device, f"{name} output device: expected {x.device}, got {output.device}"

    @pytest.mark.parametrize("device", DEVICES)
    @pytest.mark.parametrize("dtype", FLOAT_DTYPES)
    def test_classifier_keeps_the_input_dtype_and_device(self, dtype, device):
        model = build_classifier(seed=3, dtype=dtype).to(device)
        x = module_input(4, dtype, INPUT_DIM).to(device)
        for lengths in (None, [5, 0, 2], torch.tensor([5, 0, 2])):
            logits = model(x, lengths)
            assert logits.dtype == dtype, (
                f"logits dtype with lengths {lengths}: expected {dtype}, got {logits.dtype}"
            )
            assert logits.device == x.device, (
                f"logits device with lengths {lengths}: expected {x.device}, got {logits.device}"
            )

    @pytest.mark.parametrize(
        ("tensor_device", "mask_device"),
        [
            pytest.param("cpu", "cpu", id="cpu-tensors,cpu-mask"),
            pytest.param("cuda", "cpu", id="cuda-tensors,cpu-mask", marks=[pytest.mark.cuda, NEEDS_CUDA]),
            pytest.param("cpu", "cuda", id="cpu-tensors,cuda-mask", marks=[pytest.mark.cuda, NEEDS_CUDA]),
        ],
    )
    def test_a_mask_on_another_device_is_moved(self, tensor_device, mask_device):
        q, k, v = qkv(5, 3, l_q=5, l_k=5)
        mask = padding_mask([5, 0, 2])
        expected_output, expected_weights = masked_attention(q, k, v, mask)
        output, weights = masked_attention(*(t.to(tensor_device) for t in (q, k, v)), mask.to(mask_device))
        expect_close(output.cpu(), expected_output, "masked_attention output")
        assert output.device.type == tensor_device, (
            f"output device: expected {tensor_device}, got {output.device}"
        )
        assert weights.device.type == tensor_device, (
            f"weights device: expected {tensor_device}, got {weights.device}"
        )
        mha = build("MultiHeadAttention", seed=6).to(tensor_device)
        x = module_input(7).to(tensor_device)
        result = mha(x, mask.to(mask_device))
        assert result.device.type == tensor_device, (
            f"MultiHeadAttention output device: expected {tensor_device}, got {result.device}"
        )

    @pytest.mark.parametrize("device", DEVICES)
    def test_causal_mask_honours_its_device_argument(self, device):
        assert causal_mask(3, device=device).device.type == device
        assert causal_mask(3, device=torch.device(device)).device.type == device

    def test_causal_mask_defaults_to_the_cpu(self):
        assert causal_mask(3).device.type == "cpu"

    @pytest.mark.parametrize("device", DEVICES)
    def test_padding_mask_lives_on_the_lengths_device(self, device):
        assert padding_mask(torch.tensor([2, 3], device=device)).device.type == device


# ---- batch dimensions ------------------------------------------------------------------------------


class TestBatchDimensions:
    @pytest.mark.parametrize("batch", [(), (3,), (2, 3)], ids=["no-batch", "batch(3)", "batch(2,3)"])
    @pytest.mark.parametrize("function", ATTENTION_FUNCTIONS.values(), ids=ATTENTION_FUNCTIONS.keys())
    def test_functions_take_any_number_of_batch_dimensions(self, function, batch):
        q, k, v = qkv(0, *batch, dtype=torch.float64)
        output, weights = function(q, k, v)
        assert output.shape == (*batch, 4, 6), (
            f"output shape: expected {(*batch, 4, 6)}, got {tuple(output.shape)}"
        )
        assert weights.shape == (*batch, 4, 5), (
            f"weights shape: expected {(*batch, 4, 5)}, got {tuple(weights.shape)}"
        )
        for index in np.ndindex(*batch):
            one_output, one_weights = function(q[index], k[index], v[index])
            expect_close(output[index], one_output, f"output of batch element {index} vs computed alone")
            expect_close(weights[index], one_weights, f"weights of batch element {index} vs computed alone")

    @pytest.mark.parametrize("batch", [(3,), (2, 3)], ids=["batch(3)", "batch(2,3)"])
    def test_a_per_batch_mask_applies_to_its_own_batch_element(self, batch):
        q, k, v = qkv(1, *batch, dtype=torch.float64)
        mask = random_mask(torch.Generator().manual_seed(2), (*batch, 4, 5))
        output, _ = masked_attention(q, k, v, mask)
        for index in np.ndindex(*batch):
            expect_close(
                output[index],
                masked_attention(q[index], k[index], v[index], mask[index])[0],
                f"batch element {index}",
            )

    @pytest.mark.parametrize("mask_name", ["none", "causal(L,L)", "padding(B,1,L)"])
    @pytest.mark.parametrize("name", MODULES.keys())
    def test_modules_treat_each_sequence_of_the_batch_on_its_own(self, name, mask_name):
        module = build(name, seed=3, dtype=torch.float64)
        x = module_input(4, torch.float64)
        masks = {"none": None, "causal(L,L)": causal_mask(L), "padding(B,1,L)": padding_mask([5, 3, 4])}
        mask = masks[mask_name]
        output = module(x, mask)
        assert output.shape == (B, L, E), (
            f"{name} output shape: expected {(B, L, E)}, got {tuple(output.shape)}"
        )
        for b in range(B):
            one_mask = mask if mask is None or mask.dim() == 2 else mask[b : b + 1]
            expect_close(
                output[b : b + 1], module(x[b : b + 1], one_mask), f"{name}: sequence {b} vs computed alone"
            )


# ---- mask forms ------------------------------------------------------------------------------------

MASK_DTYPES = [
    torch.bool,
    torch.uint8,
    torch.int8,
    torch.int32,
    torch.int64,
    torch.float16,
    torch.float32,
    torch.float64,
]


class TestMaskForms:
    @pytest.mark.parametrize(
        "mask_dtype", MASK_DTYPES, ids=[str(d).removeprefix("torch.") for d in MASK_DTYPES]
    )
    def test_bool_integer_and_float_masks_agree(self, mask_dtype):
        q, k, v = qkv(0, 2)
        mask = torch.tensor(
            [[1, 1, 0, 0, 0], [0, 0, 0, 0, 0], [1, 1, 1, 1, 1], [0, 0, 0, 0, 1]], dtype=torch.bool
        )
        expected_output, expected_weights = masked_attention(q, k, v, mask)
        output, weights = masked_attention(q, k, v, mask.to(mask_dtype))
        expect_equal(output, expected_output, f"output with a {mask_dtype} mask vs a bool mask")
        expect_equal(weights, expected_weights, f"weights with a {mask_dtype} mask vs a bool mask")

    @pytest.mark.parametrize("value", [2, -1, 0.5, 1e-3], ids=lambda value: f"value={value}")
    def test_any_nonzero_value_means_may_attend(self, value):
        q, k, v = qkv(1, 2)
        mask = random_mask(torch.Generator().manual_seed(2), (2, 4, 5))
        expected, _ = masked_attention(q, k, v, mask)
        dtype = torch.float32 if isinstance(value, float) else torch.int64
        scaled = torch.where(mask, torch.tensor(value, dtype=dtype), torch.tensor(0, dtype=dtype))
        expect_equal(
            masked_attention(q, k, v, scaled)[0], expected, f"output with {value} for 'may attend' vs True"
        )

    def test_a_float_mask_is_a_flag_not_an_additive_bias(self):
        q, k, v = qkv(3, 2)
        mask = random_mask(torch.Generator().manual_seed(4), (4, 5)).float()
        _, weights = masked_attention(q, k, v, mask)
        blocked = (mask == 0).expand_as(weights)
        expect_equal(
            weights[blocked], torch.zeros_like(weights[blocked]), "weights where the float mask is 0"
        )
        expect_equal(
            weights, masked_attention(q, k, v, mask.bool())[1], "weights with a float 0/1 mask vs a bool mask"
        )

    MASK_SHAPES = {
        "(Lk,)": (5,),
        "(Lq,Lk)": (4, 5),
        "(B,1,Lk)": (3, 1, 5),
        "(1,1,Lk)": (1, 1, 5),
        "(B,Lq,1)": (3, 4, 1),
    }

    @pytest.mark.parametrize("shape", MASK_SHAPES.values(), ids=MASK_SHAPES.keys())
    def test_a_broadcast_mask_equals_its_expanded_form(self, shape):
        q, k, v = qkv(5, 3, dtype=torch.float64)
        mask = torch.rand(shape, generator=torch.Generator().manual_seed(6)) < 0.6
        output, weights = masked_attention(q, k, v, mask)
        full = mask.expand(3, 4, 5).clone()
        expect_equal(
            output, masked_attention(q, k, v, full)[0], f"output with mask {shape} vs expanded to (3, 4, 5)"
        )
        expect_equal(
            weights, masked_attention(q, k, v, full)[1], f"weights with mask {shape} vs expanded to (3, 4, 5)"
        )

    def test_no_mask_equals_scaled_dot_product_attention(self):
        q, k, v = qkv(7, 2, 3)
        for got, expected, what in zip(
            masked_attention(q, k, v), scaled_dot_product_attention(q, k, v), ("output", "weights")
        ):
            expect_equal(got, expected, f"masked_attention(mask=None) {what} vs scaled_dot_product_attention")

    def test_an_all_true_mask_equals_no_mask(self):
        q, k, v = qkv(8, 2)
        for got, expected, what in zip(
            masked_attention(q, k, v, torch.ones(4, 5)), masked_attention(q, k, v), ("output", "weights")
        ):
            expect_close(got, expected, f"{what} with an all-ones mask vs no mask")

    MODULE_MASKS = {
        "causal(L,L)": causal_mask(L),
        "padding(B,1,L)": padding_mask([5, 0, 2]),
        "per-sequence(B,L,L)": causal_mask(L) & padding_mask([5, 3, 2]),
    }

    @pytest.mark.parametrize("mask", MODULE_MASKS.values(), ids=MODULE_MASKS.keys())
    @pytest.mark.parametrize(
        "mask_dtype", [torch.bool, torch.int64, torch.float32], ids=["bool", "int64", "float32"]
    )
    @pytest.mark.parametrize("name", MODULES.keys())
    def test_module_masks_of_every_form_agree_with_the_expanded_bool_mask(self, name, mask_dtype, mask):
        module = build(name, seed=9, dtype=torch.float64)
        x = module_input(10, torch.float64)
        expected = module(x, mask.expand(B, L, L).clone())
        expect_equal(
            module(x, mask.to(mask_dtype)),
            expected,
            f"{name} with a {mask_dtype} mask {tuple(mask.shape)} vs (B, L, L) bool",
        )


# ---- inputs are not modified -----------------------------------------------------------------------


def assert_unchanged(before: dict[str, torch.Tensor], after: dict[str, torch.Tensor], where: str) -> None:
    __tracebackhide__ = True
    for name, original in before.items():
        expect_equal(after[name], original, f"{where}: input {name} modified in place")


class TestInputsNotModified:
    @pytest.mark.parametrize("function", ATTENTION_FUNCTIONS.values(), ids=ATTENTION_FUNCTIONS.keys())
    def test_attention_functions_leave_their_inputs_alone(self, function):
        q, k, v = (t.requires_grad_(True) for t in qkv(0, 2, dtype=torch.float64))
        before = {"q": q.detach().clone(), "k": k.detach().clone(), "v": v.detach().clone()}
        output, weights = function(q, k, v)
        (output.sum() + weights.sum()).backward()
        assert_unchanged(before, {"q": q.detach(), "k": k.detach(), "v": v.detach()}, "attention")

    @pytest.mark.parametrize(
        "mask_dtype", [torch.bool, torch.int64, torch.float32], ids=["bool", "int64", "float32"]
    )
    def test_masked_attention_leaves_its_mask_alone(self, mask_dtype):
        mask = torch.tensor(
            [[1, 0, 1, 1, 0], [0, 0, 0, 0, 0], [1, 1, 1, 1, 1], [0, 0, 0, 1, 0]], dtype=mask_dtype
        )
        before = mask.clone()
        masked_attention(*qkv(1, 2), mask)
        expect_equal(mask, before, "masked_attention: mask modified in place")

    @pytest.mark.parametrize(
        "mask", [None, causal_mask(L), padding_mask([5, 0, 2])], ids=["none", "causal", "padding"]
    )
    @pytest.mark.parametrize("name", MODULES.keys())
    def test_modules_leave_x_and_the_mask_alone(self, name, mask):
        module = build(name, seed=2, dtype=torch.float64)
        x = module_input(3, torch.float64).requires_grad_(True)
        before = {"x": x.detach().clone()} | ({} if mask is None else {"mask": mask.clone()})
        module(x, mask).sum().backward()
        assert_unchanged(before, {"x": x.detach(), "mask": mask}, name)

    @pytest.mark.parametrize(
        "lengths", [None, [5, 0, 2], torch.tensor([5, 0, 2])], ids=["none", "list", "tensor"]
    )
    def test_classifier_leaves_x_and_lengths_alone(self, lengths):
        model = build_classifier(seed=4)
        x = module_input(5, features=INPUT_DIM)
        x[1:, 2:] = 1e6  # junk in the padded positions must stay where it is
        before = {"x": x.clone()}
        lengths_before = lengths.clone() if isinstance(lengths, torch.Tensor) else list(lengths or [])
        model(x, lengths).sum().backward()
        assert_unchanged(before, {"x": x}, "AttentionClassifier")
        if isinstance(lengths, torch.Tensor):
            expect_equal(lengths, lengths_before, "AttentionClassifier: lengths modified in place")
        elif lengths is not None:
            assert lengths == lengths_before, f"AttentionClassifier: lengths list changed to {lengths}"

    def test_train_classifier_leaves_the_data_alone(self):
        model = build_classifier(seed=6)
        X, y = module_input(7, features=INPUT_DIM), torch.tensor([0, 1, 3])
        lengths = torch.tensor([5, 2, 4])
        before = {"X": X.clone(), "y": y.clone(), "lengths": lengths.clone()}
        train_classifier(model, X, y, lengths, epochs=2)
        assert_unchanged(before, {"X": X, "y": y, "lengths": lengths}, "train_classifier")

    def test_padding_mask_leaves_lengths_alone(self):
        lengths = torch.tensor([3, 1])
        padding_mask(lengths, max_len=4)
        expect_equal(lengths, torch.tensor([3, 1]), "padding_mask: lengths modified in place")

    @pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
    def test_softmax_returns_a_new_array_and_leaves_x_alone(self, dtype):
        x = np.random.default_rng(0).normal(size=(3, 4)).astype(dtype)
        x[0, 1] = -np.inf
        before = x.copy()
        result = softmax(x)
        np.testing.assert_array_equal(x, before, err_msg="softmax: input modified in place")
        assert result is not x and not np.shares_memory(result, x), "softmax: the result shares memory with x"


# ---- padding mask ----------------------------------------------------------------------------------


def padded_positions_filled(x: torch.Tensor, lengths: list[int], value: float) -> torch.Tensor:
    """``x`` with every position at or past its sequence's length set to ``value``."""
    positions = torch.arange(x.size(1))[None, :, None]  # (1, L, 1)
    return torch.where(
        positions < torch.tensor(lengths)[:, None, None], x, torch.tensor(value, dtype=x.dtype)
    )


class TestPaddingMask:
    def test_empty_list_gives_an_empty_batch(self):
        """Found by review: torch.as_tensor([]) is float, which made padding_mask([]) a TypeError."""
        got = padding_mask([])
        assert got.shape == (0, 1, 0) and got.dtype == torch.bool
        assert padding_mask([], max_len=3).shape == (0, 1, 3)

    def test_zero_dimensional_lengths_are_rejected(self):
        with pytest.raises(ValueError):
            padding_mask(torch.tensor(3))

    @pytest.mark.parametrize("lengths", [[2, 3], [1], [0, 4, 2], [3, 3]], ids=str)
    def test_true_exactly_at_real_positions(self, lengths):
        got = padding_mask(lengths)
        longest = max(lengths)
        assert got.dtype == torch.bool, f"dtype: expected torch.bool, got {got.dtype}"
        assert got.shape == (len(lengths), 1, longest), (
            f"shape: expected {(len(lengths), 1, longest)}, got {tuple(got.shape)}"
        )
        for b, length in enumerate(lengths):
            for t in range(longest):
                assert bool(got[b, 0, t]) == (t < length), (
                    f"padding_mask({lengths})[{b}, 0, {t}] is {bool(got[b, 0, t])}"
                )

    @pytest.mark.parametrize("max_len", [3, 4, 7])
    def test_max_len_sets_the_padded_length(self, max_len):
        got = padding_mask([3, 1], max_len=max_len)
        assert got.shape == (2, 1, max_len), f"shape: expected {(2, 1, max_len)}, got {tuple(got.shape)}"
        expect_equal(got[..., :3], padding_mask([3, 1]), "the first 3 positions")
        assert not bool(got[..., 3:].any()), "positions past every length are padding"

    @pytest.mark.parametrize("dtype", [torch.int64, torch.int32, torch.int16, torch.uint8], ids=str)
    def test_list_and_tensor_lengths_give_the_same_mask(self, dtype):
        expect_equal(
            padding_mask(torch.tensor([4, 0, 2], dtype=dtype)),
            padding_mask([4, 0, 2]),
            f"{dtype} tensor lengths vs a list",
        )

    def test_all_empty_sequences_give_an_empty_mask(self):
        got = padding_mask([0, 0])
        assert got.shape == (2, 1, 0), f"shape: expected (2, 1, 0), got {tuple(got.shape)}"

    @pytest.mark.parametrize(
        ("lengths", "max_len"),
        [([2, 5], 4), ([1], 0), (torch.tensor([3, 3]), 2)],
        ids=["list", "zero", "tensor"],
    )
    def test_max_len_shorter_than_a_length_is_a_value_error(self, lengths, max_len):
        with pytest.raises(ValueError):
            padding_mask(lengths, max_len=max_len)

    BAD_LENGTHS = {  # (lengths, the exception the reference's docstring promises)
        "negative-list": ([2, -1], ValueError),
        "negative-tensor": (torch.tensor([-3]), ValueError),
        "2-D-list": ([[1, 2], [2, 1]], ValueError),
        "2-D-tensor": (torch.tensor([[1, 2]]), ValueError),
        "0-D-tensor": (torch.tensor(3), ValueError),
        "float-list": ([1.0, 2.0], TypeError),
        "float-tensor": (torch.tensor([1.5, 2.0]), TypeError),
        "bool-tensor": (torch.tensor([True, False]), TypeError),
    }

    @pytest.mark.parametrize("case", BAD_LENGTHS.values(), ids=BAD_LENGTHS.keys())
    def test_invalid_lengths_raise(self, case):
        lengths, error = case
        with pytest.raises(error):
            padding_mask(lengths)

    @pytest.mark.parametrize("batch", [(), (2,)], ids=["B", "B,H"])
    def test_padded_keys_get_zero_weight(self, batch):
        lengths = [5, 0, 2]
        q, k, v = qkv(0, 3, *batch, l_q=5, l_k=5)
        mask = padding_mask(lengths).reshape(3, *(1 for _ in batch), 1, 5)  # (B, [1,] 1, L)
        _, weights = masked_attention(q, k, v, mask)
        padded = ~mask.expand_as(weights)
        expect_equal(weights[padded], torch.zeros_like(weights[padded]), "weights on padded keys")

    @pytest.mark.parametrize(
        "value", [1e6, -1e6, float("inf"), float("nan"), 0.0], ids=lambda value: f"padding={value}"
    )
    def test_classifier_logits_ignore_what_the_padded_positions_hold(self, value):
        lengths = [5, 0, 2]
        model = build_classifier(seed=1)
        x = module_input(2, features=INPUT_DIM)
        expected = model(x, lengths)
        expect_equal(
            model(padded_positions_filled(x, lengths, value), lengths),
            expected,
            f"logits with padded positions = {value}",
        )

    @pytest.mark.parametrize("name", MODULES.keys())
    def test_module_outputs_at_real_positions_ignore_the_padded_positions(self, name):
        lengths = [5, 0, 2]
        module = build(name, seed=3)
        x = module_input(4)
        real = padding_mask(lengths).transpose(1, 2).expand(B, L, E)  # (B, L, E)
        expected = module(x, padding_mask(lengths))
        got = module(padded_positions_filled(x, lengths, 1e6), padding_mask(lengths))
        expect_equal(
            got[real], expected[real], f"{name} outputs at real positions after changing the padded ones"
        )

    def test_classifier_mean_covers_the_real_positions_only(self):
        """A sequence gives the same logits however much padding its batch adds after it."""
        model = build_classifier(seed=5, dtype=torch.float64)
        x = module_input(6, torch.float64, INPUT_DIM)
        logits = model(x, [5, 1, 3])
        for b, length in enumerate([5, 1, 3]):
            alone = model(x[b : b + 1, :length], None)
            expect_close(
                logits[b : b + 1],
                alone,
                f"logits of sequence {b} (length {length}) vs the unpadded sequence alone",
            )

    @pytest.mark.parametrize("as_tensor", [False, True], ids=["list", "tensor"])
    def test_no_lengths_means_every_position_is_real(self, as_tensor):
        model = build_classifier(seed=7)
        x = module_input(8, features=INPUT_DIM)
        full = torch.full((B,), L) if as_tensor else [L] * B
        expect_equal(model(x), model(x, full), "logits with lengths left out vs every length = L")
        expect_equal(model(x, None), model(x, full), "logits with lengths=None vs every length = L")


# ---- causal mask -----------------------------------------------------------------------------------


class TestCausalMask:
    @pytest.mark.parametrize("size", [0, 1, 2, 5])
    def test_true_where_the_key_is_not_after_the_query(self, size):
        got = causal_mask(size)
        assert got.dtype == torch.bool, f"dtype: expected torch.bool, got {got.dtype}"
        assert got.shape == (size, size), f"shape: expected {(size, size)}, got {tuple(got.shape)}"
        for query in range(size):
            for key in range(size):
                assert bool(got[query, key]) == (key <= query), (
                    f"causal_mask({size})[{query}, {key}] is {bool(got[query, key])}"
                )

    @pytest.mark.parametrize("t", range(4))
    def test_masked_attention_outputs_before_t_ignore_positions_from_t_on(self, t):
        q, k, v = qkv(0, 2, l_q=4, l_k=4)
        g = torch.Generator().manual_seed(1)
        changed = [x.clone() for x in (q, k, v)]
        for x in changed:
            x[..., t:, :] += 10 * randn(g, *x[..., t:, :].shape)
        output, weights = masked_attention(q, k, v, causal_mask(4))
        changed_output, changed_weights = masked_attention(*changed, causal_mask(4))
        expect_equal(changed_output[..., :t, :], output[..., :t, :], f"outputs before position {t}")
        expect_equal(changed_weights[..., :t, :], weights[..., :t, :], f"weights before position {t}")
        assert not torch.allclose(changed_output[..., t:, :], output[..., t:, :]), (
            "test setup: the change reaches position t"
        )

    @pytest.mark.parametrize("t", range(L))
    @pytest.mark.parametrize("name", MODULES.keys())
    def test_module_outputs_before_t_ignore_positions_from_t_on(self, name, t):
        module = build(name, seed=2)
        x = module_input(3)
        changed = x.clone()
        changed[:, t:] += 10 * randn(torch.Generator().manual_seed(4), B, L - t, E)
        output, changed_output = module(x, causal_mask(L)), module(changed, causal_mask(L))
        expect_equal(changed_output[:, :t], output[:, :t], f"{name} outputs before position {t}")
        assert not torch.allclose(changed_output[:, t:], output[:, t:]), (
            "test setup: the change reaches position t"
        )


# ---- softmax numerics ------------------------------------------------------------------------------

NP_DTYPES = [pytest.param(np.float32, id="float32"), pytest.param(np.float64, id="float64")]


class TestSoftmaxNumerics:
    @pytest.mark.parametrize("dtype", NP_DTYPES)
    def test_entries_of_plus_minus_1e4_neither_overflow_nor_give_nan(self, dtype):
        x = np.array(
            [[1e4, -1e4, 0.0], [1e4, 1e4, 1e4], [-1e4, -1e4, -1e4], [1e4, 1e4 - 1, -1e4]], dtype=dtype
        )
        with np.errstate(
            over="raise", invalid="raise", divide="raise"
        ):  # exp(-2e4) may underflow to 0: that is fine
            got = softmax(x)
        assert np.isfinite(got).all(), f"softmax(±1e4 entries) gave non-finite values:\n{got}"
        got_t = torch.from_numpy(got)
        expect_close(
            got_t,
            torch.softmax(torch.from_numpy(x).double(), dim=-1).to(got_t.dtype),
            "softmax(±1e4) vs torch.softmax",
        )

    @pytest.mark.parametrize("axis", [0, 1, -1])
    @pytest.mark.parametrize("dtype", NP_DTYPES)
    def test_minus_inf_entries_get_weight_zero(self, dtype, axis):
        x = np.random.default_rng(1).normal(size=(3, 4)).astype(dtype)
        x[0, 0] = x[1, 2] = x[2, 1] = -np.inf
        got = softmax(x, axis=axis)
        assert (got[np.isneginf(x)] == 0).all(), f"weights at -inf entries: {got[np.isneginf(x)]}"
        np.testing.assert_allclose(got.sum(axis=axis), 1.0, rtol=1e-6)

    @pytest.mark.parametrize("axis", [0, 1])
    @pytest.mark.parametrize("dtype", NP_DTYPES)
    def test_an_all_minus_inf_slice_gives_all_zeros(self, dtype, axis):
        x = np.random.default_rng(2).normal(size=(3, 3)).astype(dtype)
        np.moveaxis(x, axis, -1)[1] = -np.inf  # slice 1 along `axis` is all -inf
        got = softmax(x, axis=axis)
        empty = np.moveaxis(got, axis, -1)[1]
        assert np.array_equal(empty, np.zeros_like(empty)), (
            f"softmax of an all -inf slice: expected zeros, got {empty}"
        )
        others = np.delete(np.moveaxis(got, axis, -1), 1, axis=0)
        np.testing.assert_allclose(others.sum(axis=-1), 1.0, rtol=1e-6)

    @pytest.mark.parametrize("shape", [(5,), (2, 3), (2, 3, 4)], ids=str)
    @pytest.mark.parametrize("dtype", NP_DTYPES)
    def test_dtype_and_shape_are_kept(self, dtype, shape):
        got = softmax(np.random.default_rng(3).normal(size=shape).astype(dtype))
        assert got.dtype == dtype, f"dtype: expected {np.dtype(dtype)}, got {got.dtype}"
        assert got.shape == shape, f"shape: expected {shape}, got {got.shape}"

    def test_integer_input_is_computed_in_float64(self):
        """The reference's docstring; the SPEC only asks for float32/float64 input."""
        got = softmax(np.array([1, 2, 3]))
        assert got.dtype == np.float64
        np.testing.assert_allclose(got, softmax(np.array([1.0, 2.0, 3.0])))

    @pytest.mark.parametrize("axis", [0, 1, 2, -1])
    @pytest.mark.parametrize("dtype", NP_DTYPES)
    def test_every_slice_sums_to_one(self, dtype, axis):
        got = softmax(np.random.default_rng(4).normal(scale=20, size=(3, 4, 5)).astype(dtype), axis=axis)
        np.testing.assert_allclose(got.sum(axis=axis), 1.0, rtol=1e-6 if dtype == np.float32 else 1e-12)
        assert (got >= 0).all()

    @settings(derandomize=True, database=None, deadline=None, max_examples=60)
    @given(
        x=hnp.arrays(
            np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=4), elements=st.floats(-50, 50)
        ),
        shift=st.floats(-1e3, 1e3),
        data=st.data(),
    )
    def test_adding_a_constant_to_a_slice_changes_nothing(self, x, shift, data):
        axis = data.draw(st.integers(-x.ndim, x.ndim - 1), label="axis")
        np.testing.assert_allclose(
            softmax(x + shift, axis=axis), softmax(x, axis=axis), rtol=1e-9, atol=1e-12
        )


# ---- classifier ------------------------------------------------------------------------------------


class TestClassifier:
    @pytest.mark.parametrize(
        "lengths",
        [None, [5, 3, 1], torch.tensor([5, 0, 2]), [0, 0, 0]],
        ids=["none", "list", "tensor", "all-empty"],
    )
    def test_logits_have_one_row_per_sequence(self, lengths):
        logits = build_classifier(seed=0)(module_input(1, features=INPUT_DIM), lengths)
        assert logits.shape == (B, NUM_CLASSES), (
            f"logits shape: expected {(B, NUM_CLASSES)}, got {tuple(logits.shape)}"
        )

    def test_list_and_tensor_lengths_give_the_same_logits(self):
        model = build_classifier(seed=2)
        x = module_input(3, features=INPUT_DIM)
        expect_equal(
            model(x, [5, 0, 2]), model(x, torch.tensor([5, 0, 2])), "logits with list vs tensor lengths"
        )

    def test_the_attention_layer_mixes_tokens(self):
        """Unlike mean pooling alone, the logits depend on which tokens keep company."""
        model = build_classifier(seed=4, dtype=torch.float64)
        x = module_input(5, torch.float64, INPUT_DIM)
        swapped = x.clone()
        swapped[0, 0], swapped[1, 0] = x[1, 0], x[0, 0]  # same multiset of tokens overall, different company
        batch_sum_before, batch_sum_after = model(x).sum(dim=0), model(swapped).sum(dim=0)
        assert not torch.allclose(batch_sum_before, batch_sum_after), (
            "swapping tokens between sequences changed nothing"
        )


# ---- training --------------------------------------------------------------------------------------


def easy_task(seed: int, n: int = 32):
    """Two classes told apart by the sign of feature 0's mean: learnable in a few dozen steps."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(2, (n,), generator=g)
    X = randn(g, n, 4, INPUT_DIM)
    X[:, :, 0] += (2.0 * y - 1.0)[:, None]
    return X, y


def classifier_for_training(seed: int) -> AttentionClassifier:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return AttentionClassifier(INPUT_DIM, E, NUM_HEADS, 2)


class TestTraining:
    @pytest.mark.parametrize("epochs", [1, 3])
    def test_returns_one_python_float_per_epoch(self, epochs):
        X, y = easy_task(0, n=8)
        losses = train_classifier(classifier_for_training(1), X, y, epochs=epochs)
        assert isinstance(losses, list), f"expected a list, got {type(losses).__name__}"
        assert len(losses) == epochs, f"expected {epochs} losses, got {len(losses)}"
        assert all(type(loss) is float for loss in losses), (
            f"expected Python floats, got {[type(loss).__name__ for loss in losses]}"
        )

    def test_trains_the_model_in_place(self):
        X, y = easy_task(2, n=8)
        model = classifier_for_training(3)
        before = {name: parameter.detach().clone() for name, parameter in model.named_parameters()}
        train_classifier(model, X, y, epochs=2, lr=1e-2)
        unchanged = [
            name for name, parameter in model.named_parameters() if torch.equal(parameter, before[name])
        ]
        assert not unchanged, f"parameters not updated: {unchanged}"

    def test_loss_falls_on_an_easy_task(self):
        X, y = easy_task(4)
        losses = train_classifier(classifier_for_training(5), X, y, epochs=40, lr=1e-2)
        assert losses[-1] < 0.5 * losses[0], f"loss went from {losses[0]:.4f} to {losses[-1]:.4f}"

    def test_the_reference_is_the_lesson_full_batch_loop_done_right(self):
        """Submissions may use mini-batches (SPEC); the reference is the loop the grader sizes epochs and
        lr for."""
        X, y = easy_task(12, n=8)
        lengths = torch.tensor([4, 1, 3, 2, 4, 0, 2, 3])
        model, expected_model = classifier_for_training(13), classifier_for_training(13)
        losses = train_classifier(model, X, y, lengths, epochs=4, lr=1e-2)
        optimizer = torch.optim.Adam(expected_model.parameters(), lr=1e-2)
        expected_losses = []
        for _ in range(4):  # each epoch: clear the old gradients, loss, backward, one step
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(expected_model(X, lengths), y)
            loss.backward()
            optimizer.step()
            expected_losses.append(loss.item())
        np.testing.assert_allclose(
            losses, expected_losses, rtol=1e-6, err_msg="losses vs one full-batch Adam step per epoch"
        )
        for (name, parameter), expected in zip(model.named_parameters(), expected_model.parameters()):
            expect_close(
                parameter.detach(),
                expected.detach(),
                f"parameter {name} after training",
                rtol=1e-5,
                atol=1e-6,
            )

    def test_padding_does_not_affect_training(self):
        X, y = easy_task(6, n=8)
        lengths = [4, 1, 3, 2, 4, 0, 2, 3]
        junk = padded_positions_filled(X, lengths, 1e6)
        first = train_classifier(classifier_for_training(7), X, y, lengths, epochs=3, lr=1e-2)
        second = train_classifier(classifier_for_training(7), junk, y, lengths, epochs=3, lr=1e-2)
        assert first == second, f"losses with junk in the padding differ: {first} vs {second}"

    def test_epochs_and_lr_are_keyword_only_with_the_spec_defaults(self):
        parameters = inspect.signature(train_classifier).parameters
        for name, default in (("epochs", 50), ("lr", 1e-3)):
            assert parameters[name].kind is inspect.Parameter.KEYWORD_ONLY, (
                f"{name} is {parameters[name].kind}"
            )
            assert parameters[name].default == default, (
                f"{name} default: expected {default}, got {parameters[name].default}"
            )
        assert parameters["lengths"].default is None
        X, y = easy_task(8, n=4)
        with pytest.raises(TypeError):
            train_classifier(classifier_for_training(9), X, y, None, 2)

    @pytest.mark.parametrize("training", [True, False], ids=["train-mode", "eval-mode"])
    def test_the_model_training_mode_is_restored(self, training):
        X, y = easy_task(10, n=4)
        model = classifier_for_training(11).train(training)
        train_classifier(model, X, y, epochs=1)
        modes = {name or "model": module.training for name, module in model.named_modules()}
        assert all(mode == training for mode in modes.values()), (
            f"expected training={training} everywhere, got {modes}"
        )


# ---- constructors and structure --------------------------------------------------------------------


class TestConstructorErrors:
    @pytest.mark.parametrize(
        ("embed_dim", "num_heads"), [(10, 3), (8, 3), (6, 4), (4, 8)], ids=lambda value: str(value)
    )
    def test_heads_that_do_not_divide_embed_dim_are_a_value_error(self, embed_dim, num_heads):
        with pytest.raises(ValueError):
            MultiHeadAttention(embed_dim, num_heads)

    @pytest.mark.parametrize(
        "build_with_bad_heads",
        [
            lambda: EncoderBlock(10, 3, 16),
            lambda: Encoder(2, 10, 3, 16),
            lambda: AttentionClassifier(INPUT_DIM, 10, 3, 2),
        ],
        ids=["EncoderBlock", "Encoder", "AttentionClassifier"],
    )
    def test_modules_built_on_multi_head_attention_pass_the_value_error_on(self, build_with_bad_heads):
        with pytest.raises(ValueError):
            build_with_bad_heads()

    @pytest.mark.parametrize(
        ("embed_dim", "num_heads"), [(8, 1), (8, 2), (8, 8), (12, 3)], ids=lambda value: str(value)
    )
    def test_heads_that_divide_embed_dim_are_fine(self, embed_dim, num_heads):
        mha = MultiHeadAttention(embed_dim, num_heads)
        assert mha(torch.zeros(1, 2, embed_dim)).shape == (1, 2, embed_dim)


def linear_shape(layer: nn.Module) -> tuple[int, int, bool]:
    assert isinstance(layer, nn.Linear), f"expected an nn.Linear, got {type(layer).__name__}"
    return layer.in_features, layer.out_features, layer.bias is not None


class TestModuleStructure:
    def test_self_attention_has_query_key_and_value_projections(self):
        attention = SelfAttention(E)
        for name in ("query", "key", "value"):
            assert linear_shape(getattr(attention, name)) == (E, E, True), f"SelfAttention.{name}"

    @pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
    def test_multi_head_attention_has_four_projections(self, bias):
        mha = MultiHeadAttention(E, NUM_HEADS, bias=bias)
        for name in ("q_proj", "k_proj", "v_proj", "out_proj"):
            assert linear_shape(getattr(mha, name)) == (E, E, bias), f"MultiHeadAttention(bias={bias}).{name}"

    @pytest.mark.parametrize("norm_first", [False, True], ids=["post-norm", "pre-norm"])
    def test_encoder_block_has_the_named_sublayers(self, norm_first):
        block = EncoderBlock(E, NUM_HEADS, FF_DIM, norm_first=norm_first)
        assert isinstance(block.self_attn, MultiHeadAttention)
        assert linear_shape(block.linear1) == (E, FF_DIM, True)
        assert linear_shape(block.linear2) == (FF_DIM, E, True)
        for name in ("norm1", "norm2"):
            norm = getattr(block, name)
            assert isinstance(norm, nn.LayerNorm) and norm.normalized_shape == (E,), (
                f"EncoderBlock.{name}: {norm}"
            )

    @pytest.mark.parametrize("num_layers", [1, 3])
    @pytest.mark.parametrize("norm_first", [False, True], ids=["post-norm", "pre-norm"])
    def test_encoder_layers_are_separate_blocks(self, norm_first, num_layers):
        model = Encoder(num_layers, E, NUM_HEADS, FF_DIM, norm_first=norm_first)
        assert isinstance(model.layers, nn.ModuleList), (
            f"Encoder.layers: expected nn.ModuleList, got {type(model.layers).__name__}"
        )
        assert len(model.layers) == num_layers and all(
            isinstance(layer, EncoderBlock) for layer in model.layers
        )
        storages = [{p.data_ptr() for p in layer.parameters()} for layer in model.layers]
        for i in range(num_layers):
            for j in range(i):
                assert not storages[i] & storages[j], f"Encoder blocks {j} and {i} share parameters"
        block_size = sum(p.numel() for p in EncoderBlock(E, NUM_HEADS, FF_DIM).parameters())
        norm_size = 2 * E if norm_first else 0
        assert sum(p.numel() for p in model.parameters()) == num_layers * block_size + norm_size

    @pytest.mark.parametrize("norm_first", [False, True], ids=["post-norm", "pre-norm"])
    def test_encoder_has_a_final_norm_exactly_when_pre_norm(self, norm_first):
        norm = Encoder(2, E, NUM_HEADS, FF_DIM, norm_first=norm_first).norm
        if norm_first:
            assert isinstance(norm, nn.LayerNorm) and norm.normalized_shape == (E,), f"Encoder.norm: {norm}"
        else:
            assert norm is None, f"Encoder(norm_first=False).norm: expected None, got {norm}"


class TestHeads:
    @pytest.mark.parametrize(
        ("num_heads", "head"), [(2, 0), (2, 1), (4, 0), (4, 2), (4, 3)], ids=lambda value: str(value)
    )
    @pytest.mark.parametrize(
        "mask", [None, causal_mask(L), padding_mask([5, 0, 2])], ids=["none", "causal", "padding"]
    )
    def test_head_h_uses_features_h_times_d_to_h_plus_one_times_d(self, num_heads, head, mask):
        mha = randomized(MultiHeadAttention(E, num_heads), seed=1, dtype=torch.float64)
        d = E // num_heads
        features = slice(head * d, (head + 1) * d)
        with torch.no_grad():
            kept = mha.out_proj.weight[:, features].clone()
            mha.out_proj.weight.zero_()
            mha.out_proj.weight[:, features] = kept
            mha.out_proj.bias.zero_()
        x = module_input(2, torch.float64)
        q, k, v = (projection(x)[..., features] for projection in (mha.q_proj, mha.k_proj, mha.v_proj))
        one_head, _ = masked_attention(q, k, v, mask)  # (B, L, d)
        expect_close(
            mha(x, mask),
            one_head @ kept.T,
            f"MultiHeadAttention({E}, {num_heads}) with only head {head} kept",
        )


class TestDropout:
    @pytest.mark.parametrize(
        "make",
        [
            lambda: EncoderBlock(E, NUM_HEADS, FF_DIM, dropout=0.5),
            lambda: Encoder(2, E, NUM_HEADS, FF_DIM, dropout=0.5, norm_first=True),
        ],
        ids=["EncoderBlock", "Encoder"],
    )
    def test_dropout_is_active_in_training_and_off_in_eval(self, make):
        model = randomized(make(), seed=1)
        x = module_input(2)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(3)
            first, second = model.train()(x), model(x)
        assert not torch.equal(first, second), (
            "two calls in training mode gave the same output: is dropout applied?"
        )
        expect_equal(model.eval()(x), model(x), "two calls in eval mode")

    def test_zero_dropout_in_training_equals_eval(self):
        block = randomized(EncoderBlock(E, NUM_HEADS, FF_DIM, dropout=0.0), seed=4)
        x = module_input(5)
        expect_equal(
            block.train()(x, causal_mask(L)), block.eval()(x, causal_mask(L)), "dropout=0 in training vs eval"
        )


# ---- bugs of the original lesson -------------------------------------------------------------------


class TestLessonBugsStayFixed:
    def test_train_classifier_runs(self):
        """The lesson used ``optim`` without importing it."""
        X, y = easy_task(0, n=4)
        assert len(train_classifier(classifier_for_training(1), X, y, epochs=2)) == 2

    def test_multi_head_attention_with_embed_dim_8_and_2_heads_runs(self):
        """The lesson fed the full embedding into per-head layers of size E // H."""
        output = randomized(MultiHeadAttention(8, 2), seed=2)(module_input(3))
        assert output.shape == (B, L, 8), f"output shape: expected {(B, L, 8)}, got {tuple(output.shape)}"

    def test_masked_attention_never_gives_nan_for_a_fully_masked_row(self):
        """The lesson's ``masked_fill(mask == 0, -inf)`` then softmax gave nan there."""
        q, k, v = qkv(4, 2)
        output, weights = masked_attention(q, k, v, torch.zeros(4, 5))
        assert not output.isnan().any() and not weights.isnan().any(), "nan in the output or weights"
