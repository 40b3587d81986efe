"""The reference solutions agree with PyTorch's own attention, MultiheadAttention and encoder modules.

SPEC: ``masked_attention`` follows the boolean-mask convention of ``F.scaled_dot_product_attention``,
``MultiHeadAttention`` is numerically ``nn.MultiheadAttention`` and ``EncoderBlock`` / ``Encoder`` in eval
mode are ``nn.TransformerEncoderLayer`` / ``nn.TransformerEncoder`` given the same weights. Every mask here
leaves each query at least one key: PyTorch is no oracle for fully masked rows (SPEC, "Notes for graders");
``test_reference_conventions.py`` judges those rows by the SPEC's rule.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from grader.checks import oracles
from solutions.attention import scaled_dot_product_attention
from solutions.encoder import Encoder, EncoderBlock, sinusoidal_positional_encoding
from solutions.masking import causal_mask, masked_attention, padding_mask
from solutions.multi_head import MultiHeadAttention
from solutions.self_attention import SelfAttention
from solutions.softmax import softmax

TOLERANCES = {  # (rtol, atol) by dtype: room for the same maths summed in another order
    torch.float32: (1e-5, 1e-6),
    torch.float64: (1e-10, 1e-12),
}
# Modules chain projections, softmax and layer norms, so float32 rounding grows a little past one matmul.
MODULE_TOLERANCES = {torch.float32: (1e-4, 1e-5), torch.float64: (1e-9, 1e-11)}
FLOAT_DTYPES = [pytest.param(torch.float32, id="float32"), pytest.param(torch.float64, id="float64")]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tensors here are tiny: extra threads only add synchronisation, which a busy machine makes slow."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ---- helpers ---------------------------------------------------------------------------------------


def expect_close(got, expected, what: str, tolerances=TOLERANCES) -> None:
    """Shape, dtype, device, then values (``torch.testing.assert_close`` names the worst element)."""
    __tracebackhide__ = True
    rtol, atol = tolerances[expected.dtype]
    torch.testing.assert_close(got, expected, rtol=rtol, atol=atol, msg=lambda message: f"{what}: {message}")


def randn(g: torch.Generator, *shape: int, dtype=torch.float32) -> torch.Tensor:
    return torch.randn(*shape, generator=g, dtype=dtype)


def random_mask(g: torch.Generator, shape: tuple[int, ...]) -> torch.Tensor:
    """A random bool mask in which every row (last axis) keeps at least one key."""
    mask = torch.rand(shape, generator=g) < 0.5
    keep = torch.randint(shape[-1], (*shape[:-1], 1), generator=g)
    return mask.scatter(-1, keep, True)


def randomized(module: nn.Module, seed: int, dtype: torch.dtype) -> nn.Module:
    """``module`` in ``dtype`` with every parameter (layer norms included) drawn from a local generator."""
    g = torch.Generator().manual_seed(seed)
    module = module.to(dtype)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.copy_(0.5 * randn(g, *parameter.shape, dtype=dtype))
    return module


def softmax_masked(scores: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """softmax over keys with -inf at masked scores: the textbook recipe, independent of the reference."""
    if mask is not None:
        scores = scores.masked_fill(mask == 0, float("-inf"))
    return torch.softmax(scores, dim=-1)


def plain_weights(q: torch.Tensor, k: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    return softmax_masked(q @ k.transpose(-2, -1) / q.size(-1) ** 0.5, mask)


SIZES = {  # (L_q, L_k, d_k, d_v)
    "Lq=Lk,dv=dk": (4, 4, 8, 8),
    "Lq<Lk,dv>dk": (3, 5, 4, 6),
    "Lq>Lk,dv<dk": (6, 2, 5, 3),
}
BATCHES = {"no-batch": (), "batch(2)": (2,), "batch(2,3)": (2, 3)}


def qkv(seed: int, batch: tuple[int, ...], sizes: tuple[int, int, int, int], dtype: torch.dtype):
    l_q, l_k, d_k, d_v = sizes
    g = torch.Generator().manual_seed(seed)
    return (
        randn(g, *batch, l_q, d_k, dtype=dtype),
        randn(g, *batch, l_k, d_k, dtype=dtype),
        randn(g, *batch, l_k, d_v, dtype=dtype),
    )


# ---- exercise 1: softmax ---------------------------------------------------------------------------


class TestSoftmaxMatchesTorch:
    @pytest.mark.parametrize("axis", [-3, -2, -1, 0, 1, 2])
    @pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
    def test_every_axis_matches_torch_softmax(self, axis, dtype):
        x = np.random.default_rng(axis + 10).normal(scale=3.0, size=(2, 3, 4)).astype(dtype)
        got = softmax(x, axis=axis)
        expected = torch.softmax(torch.from_numpy(x), dim=axis)
        expect_close(torch.from_numpy(got), expected, f"softmax(x (2, 3, 4), axis={axis})")

    @pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
    def test_default_axis_is_the_last(self, dtype):
        x = np.random.default_rng(1).normal(size=(3, 5)).astype(dtype)
        expect_close(
            torch.from_numpy(softmax(x)),
            torch.softmax(torch.from_numpy(x), dim=-1),
            "softmax(x) default axis",
        )


# ---- exercises 2 and 3: the attention functions ----------------------------------------------------


class TestScaledDotProductAttentionMatchesTorch:
    @pytest.mark.parametrize("sizes", SIZES.values(), ids=SIZES.keys())
    @pytest.mark.parametrize("batch", BATCHES.values(), ids=BATCHES.keys())
    @pytest.mark.parametrize("dtype", FLOAT_DTYPES)
    def test_output_and_weights_match(self, batch, sizes, dtype):
        q, k, v = qkv(0, batch, sizes, dtype)
        output, weights = scaled_dot_product_attention(q, k, v)
        expect_close(
            output, F.scaled_dot_product_attention(q, k, v), "scaled_dot_product_attention output vs F.sdpa"
        )
        expect_close(
            weights, plain_weights(q, k), "scaled_dot_product_attention weights vs softmax(q kᵀ/√d_k)"
        )


MASK_SHAPES = {  # a mask shape from (batch, L_q, L_k): each broadcasts to (..., L_q, L_k)
    "keys(Lk)": lambda batch, l_q, l_k: (l_k,),
    "query-key(Lq,Lk)": lambda batch, l_q, l_k: (l_q, l_k),
    "batch-keys(...,1,Lk)": lambda batch, l_q, l_k: (*batch, 1, l_k),
    "full(...,Lq,Lk)": lambda batch, l_q, l_k: (*batch, l_q, l_k),
    "ones(1,..,1,Lk)": lambda batch, l_q, l_k: (*(1 for _ in batch), 1, l_k),
    "last-batch(B,1,Lk)": lambda batch, l_q, l_k: (*batch[-1:], 1, l_k),
}
MASK_DTYPES = {"bool": torch.bool, "int64": torch.int64, "float32-0/1": torch.float32}


class TestMaskedAttentionMatchesTorch:
    @pytest.mark.parametrize("mask_dtype", MASK_DTYPES.values(), ids=MASK_DTYPES.keys())
    @pytest.mark.parametrize("mask_shape", MASK_SHAPES.values(), ids=MASK_SHAPES.keys())
    @pytest.mark.parametrize("batch", BATCHES.values(), ids=BATCHES.keys())
    @pytest.mark.parametrize("dtype", FLOAT_DTYPES)
    def test_broadcast_masks_match(self, dtype, batch, mask_shape, mask_dtype):
        sizes = SIZES["Lq<Lk,dv>dk"]
        q, k, v = qkv(1, batch, sizes, dtype)
        allowed = random_mask(torch.Generator().manual_seed(2), mask_shape(batch, sizes[0], sizes[1]))
        output, weights = masked_attention(q, k, v, allowed.to(mask_dtype))
        what = f"masked_attention with a {mask_dtype} mask of shape {tuple(allowed.shape)}"
        # F.sdpa's broadcasting of a short mask breaks with two batch dims (IndexError), so give it the
        # full shape.
        full = allowed.expand(*batch, sizes[0], sizes[1])
        expect_close(
            output, F.scaled_dot_product_attention(q, k, v, attn_mask=full), f"{what}: output vs F.sdpa"
        )
        expect_close(
            weights, plain_weights(q, k, allowed), f"{what}: weights vs softmax with -inf at masked keys"
        )

    @pytest.mark.parametrize("sizes", SIZES.values(), ids=SIZES.keys())
    @pytest.mark.parametrize("batch", BATCHES.values(), ids=BATCHES.keys())
    @pytest.mark.parametrize("dtype", FLOAT_DTYPES)
    def test_no_mask_matches(self, dtype, batch, sizes):
        q, k, v = qkv(3, batch, sizes, dtype)
        output, weights = masked_attention(q, k, v)
        expect_close(
            output, F.scaled_dot_product_attention(q, k, v), "masked_attention(mask=None) output vs F.sdpa"
        )
        expect_close(weights, plain_weights(q, k), "masked_attention(mask=None) weights")

    @pytest.mark.parametrize("batch", BATCHES.values(), ids=BATCHES.keys())
    @pytest.mark.parametrize("dtype", FLOAT_DTYPES)
    def test_causal_mask_matches_is_causal(self, dtype, batch):
        q, k, v = qkv(4, batch, SIZES["Lq=Lk,dv=dk"], dtype)
        output, weights = masked_attention(q, k, v, causal_mask(4))
        expect_close(
            output,
            F.scaled_dot_product_attention(q, k, v, is_causal=True),
            "masked_attention(causal) vs F.sdpa(is_causal)",
        )
        expect_close(weights, plain_weights(q, k, causal_mask(4)), "masked_attention(causal) weights")

    @pytest.mark.parametrize("batch", [(3,), (3, 2)], ids=["batch(3)", "batch(3,2)"])
    @pytest.mark.parametrize("dtype", FLOAT_DTYPES)
    def test_padding_mask_matches(self, dtype, batch):
        q, k, v = qkv(5, batch, SIZES["Lq<Lk,dv>dk"], dtype)
        mask = padding_mask([5, 2, 4])  # (3, 1, 5)
        mask = mask if len(batch) == 1 else mask.unsqueeze(1)  # (3, 1, 1, 5) for batch (3, 2)
        output, weights = masked_attention(q, k, v, mask)
        expect_close(
            output,
            F.scaled_dot_product_attention(q, k, v, attn_mask=mask),
            "masked_attention(padding) vs F.sdpa",
        )
        expect_close(weights, plain_weights(q, k, mask), "masked_attention(padding) weights")


# ---- exercises 4 and 5: self-attention and multi-head attention ------------------------------------

B, L, E = 3, 5, 8  # batch, length, embed for the module comparisons
LENGTHS = [5, 2, 4]  # no length 0: PyTorch is no oracle for a fully masked row
MODULE_MASKS = {
    "none": lambda g: None,
    "causal(L,L)": lambda g: causal_mask(L),
    "padding(B,1,L)": lambda g: padding_mask(LENGTHS),
    "full(B,L,L)": lambda g: random_mask(g, (B, L, L)),
}


def module_case(seed: int, mask_name: str, dtype: torch.dtype):
    g = torch.Generator().manual_seed(seed)
    return randn(g, B, L, E, dtype=dtype), MODULE_MASKS[mask_name](g)


class TestSelfAttentionMatchesTorch:
    """SelfAttention is nn.MultiheadAttention with one head and an identity output projection."""

    @pytest.mark.parametrize("mask_name", MODULE_MASKS.keys())
    @pytest.mark.parametrize("dtype", FLOAT_DTYPES)
    def test_output_matches_one_head_without_output_projection(self, dtype, mask_name):
        attention = randomized(SelfAttention(E), seed=10, dtype=dtype)
        x, mask = module_case(11, mask_name, dtype)
        oracle = nn.MultiheadAttention(E, 1, batch_first=True).to(dtype)
        with torch.no_grad():
            oracle.in_proj_weight.copy_(
                torch.cat([attention.query.weight, attention.key.weight, attention.value.weight])
            )
            oracle.in_proj_bias.copy_(
                torch.cat([attention.query.bias, attention.key.bias, attention.value.bias])
            )
            oracle.out_proj.weight.copy_(torch.eye(E, dtype=dtype))
            oracle.out_proj.bias.zero_()
            expected, _ = oracle(x, x, x, attn_mask=oracles.to_torch_mask(mask, B, 1, L), need_weights=False)
            got = attention(x, mask)
        expect_close(
            got,
            expected,
            f"SelfAttention vs nn.MultiheadAttention(1 head), mask {mask_name}",
            MODULE_TOLERANCES,
        )


HEADS = [1, 2, 4]


class TestMultiHeadAttentionMatchesTorch:
    @pytest.mark.parametrize("mask_name", MODULE_MASKS.keys())
    @pytest.mark.parametrize("num_heads", HEADS, ids=[f"heads={h}" for h in HEADS])
    @pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
    @pytest.mark.parametrize("dtype", FLOAT_DTYPES)
    def test_output_matches(self, dtype, bias, num_heads, mask_name):
        mha = randomized(MultiHeadAttention(E, num_heads, bias=bias), seed=20, dtype=dtype)
        x, mask = module_case(21, mask_name, dtype)
        oracle = oracles.multihead_attention(mha, num_heads)
        with torch.no_grad():
            expected, _ = oracle(
                x, x, x, attn_mask=oracles.to_torch_mask(mask, B, num_heads, L), need_weights=False
            )
            got = mha(x, mask)
        expect_close(
            got, expected, f"MultiHeadAttention vs nn.MultiheadAttention, mask {mask_name}", MODULE_TOLERANCES
        )

    @pytest.mark.parametrize("mask_name", MODULE_MASKS.keys())
    @pytest.mark.parametrize("num_heads", HEADS, ids=[f"heads={h}" for h in HEADS])
    @pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
    @pytest.mark.parametrize("dtype", FLOAT_DTYPES)
    def test_gradients_match(self, dtype, bias, num_heads, mask_name):
        mha = randomized(MultiHeadAttention(E, num_heads, bias=bias), seed=22, dtype=dtype)
        x, mask = module_case(23, mask_name, dtype)
        oracle = oracles.multihead_attention(mha, num_heads)
        upstream = randn(torch.Generator().manual_seed(24), B, L, E, dtype=dtype)  # a generic dL/d(output)

        x_ours = x.clone().requires_grad_(True)
        (mha(x_ours, mask) * upstream).sum().backward()
        x_theirs = x.clone().requires_grad_(True)
        expected, _ = oracle(
            x_theirs,
            x_theirs,
            x_theirs,
            attn_mask=oracles.to_torch_mask(mask, B, num_heads, L),
            need_weights=False,
        )
        (expected * upstream).sum().backward()

        what = f"MultiHeadAttention gradient vs nn.MultiheadAttention, mask {mask_name}"
        expect_close(x_ours.grad, x_theirs.grad, f"{what}: d/dx", MODULE_TOLERANCES)
        for name, expected_grad in zip(("q_proj", "k_proj", "v_proj"), oracle.in_proj_weight.grad.chunk(3)):
            expect_close(
                getattr(mha, name).weight.grad, expected_grad, f"{what}: d/d{name}.weight", MODULE_TOLERANCES
            )
        expect_close(
            mha.out_proj.weight.grad,
            oracle.out_proj.weight.grad,
            f"{what}: d/dout_proj.weight",
            MODULE_TOLERANCES,
        )
        if bias:
            for name, expected_grad in zip(("q_proj", "k_proj", "v_proj"), oracle.in_proj_bias.grad.chunk(3)):
                expect_close(
                    getattr(mha, name).bias.grad, expected_grad, f"{what}: d/d{name}.bias", MODULE_TOLERANCES
                )
            expect_close(
                mha.out_proj.bias.grad,
                oracle.out_proj.bias.grad,
                f"{what}: d/dout_proj.bias",
                MODULE_TOLERANCES,
            )


# ---- exercise 6: encoder block, encoder, positional encoding ---------------------------------------

NUM_HEADS, FF_DIM = 2, 16
NORM_FIRST = [pytest.param(False, id="post-norm"), pytest.param(True, id="pre-norm")]


class TestEncoderBlockMatchesTorch:
    @pytest.mark.parametrize("mask_name", MODULE_MASKS.keys())
    @pytest.mark.parametrize("norm_first", NORM_FIRST)
    @pytest.mark.parametrize("dtype", FLOAT_DTYPES)
    def test_eval_output_matches_transformer_encoder_layer(self, dtype, norm_first, mask_name):
        block = randomized(
            EncoderBlock(E, NUM_HEADS, FF_DIM, norm_first=norm_first), seed=30, dtype=dtype
        ).eval()
        x, mask = module_case(31, mask_name, dtype)
        oracle = oracles.encoder_layer(block, NUM_HEADS, FF_DIM, norm_first)
        with torch.no_grad():
            expected = oracle(x, src_mask=oracles.to_torch_mask(mask, B, NUM_HEADS, L))
            got = block(x, mask)
        expect_close(
            got, expected, f"EncoderBlock vs nn.TransformerEncoderLayer, mask {mask_name}", MODULE_TOLERANCES
        )


class TestEncoderMatchesTorch:
    @pytest.mark.parametrize("mask_name", MODULE_MASKS.keys())
    @pytest.mark.parametrize("num_layers", [1, 3], ids=["1-layer", "3-layers"])
    @pytest.mark.parametrize("norm_first", NORM_FIRST)
    @pytest.mark.parametrize("dtype", FLOAT_DTYPES)
    def test_eval_output_matches_transformer_encoder(self, dtype, norm_first, num_layers, mask_name):
        model = randomized(
            Encoder(num_layers, E, NUM_HEADS, FF_DIM, norm_first=norm_first), seed=40, dtype=dtype
        ).eval()
        x, mask = module_case(41, mask_name, dtype)
        oracle = oracles.encoder(model, NUM_HEADS, FF_DIM, norm_first)
        with torch.no_grad():
            expected = oracle(x, mask=oracles.to_torch_mask(mask, B, NUM_HEADS, L))
            got = model(x, mask)
        expect_close(
            got,
            expected,
            f"Encoder({num_layers}) vs nn.TransformerEncoder, mask {mask_name}",
            MODULE_TOLERANCES,
        )


def positional_encoding_formula(max_len: int, embed_dim: int) -> np.ndarray:
    """Vaswani et al. (2017), interleaved, in float64 and column by column: sin in 2i, cos in 2i + 1."""
    positions = np.arange(max_len, dtype=np.float64)[:, None]  # (max_len, 1)
    columns = np.arange(embed_dim)
    pair = 2 * (columns // 2)  # the 2i of each column
    angles = positions / np.power(10000.0, pair / embed_dim)  # (max_len, embed_dim)
    return np.where(columns % 2 == 0, np.sin(angles), np.cos(angles))


def float32_positional_encoding(max_len: int, embed_dim: int, recipe: str) -> torch.Tensor:
    """The same formula computed in float32 throughout, as a correct learner may write it."""
    positions = torch.arange(max_len, dtype=torch.float32)[:, None]  # (max_len, 1)
    pair = (2 * (torch.arange(embed_dim) // 2)).to(torch.float32)  # (embed_dim,)
    if recipe == "divide-by-power":
        angles = positions / torch.pow(torch.tensor(10000.0), pair / embed_dim)
    else:  # "multiply-by-exp", the annotated transformer's recipe
        angles = positions * torch.exp(pair * (-np.log(10000.0) / embed_dim))
    return torch.where(torch.arange(embed_dim) % 2 == 0, torch.sin(angles), torch.cos(angles))


def expect_encoding_close(got: torch.Tensor, max_len: int, embed_dim: int, what: str) -> None:
    """Within float32 reach of the formula: an angle ``pos / ...`` rounded in float32 is off by up to about
    half an ulp of ``pos``, so the allowed error grows with the position (SPEC "Notes for graders": a float32
    encoding at large positions must pass). Measured float32 recipes stay under 0.8 eps·pos; we allow
    4 eps·pos.
    """
    __tracebackhide__ = True
    assert got.shape == (max_len, embed_dim), (
        f"{what}: shape: expected {(max_len, embed_dim)}, got {tuple(got.shape)}"
    )
    expected = torch.from_numpy(positional_encoding_formula(max_len, embed_dim))
    allowed = (
        1e-6 + 4 * torch.finfo(torch.float32).eps * torch.arange(max_len, dtype=torch.float64)[:, None]
    )  # (max_len, 1)
    excess = (got.double() - expected).abs() - allowed
    if bool((excess > 0).any()):
        worst = divmod(int(excess.argmax()), embed_dim)
        pytest.fail(
            f"{what}: {int((excess > 0).sum())} of {excess.numel()} values differ; worst at {list(worst)}: "
            f"expected {expected[worst].item():.6g}, got {got[worst].item():.6g} "
            f"(allowed {allowed[worst[0], 0].item():.3g})",
            pytrace=False,
        )


PE_SIZES = [(1, 1), (1, 6), (7, 1), (7, 2), (16, 5), (16, 8), (50, 33), (100, 64)]


class TestPositionalEncodingMatchesFormula:
    @pytest.mark.parametrize(
        ("max_len", "embed_dim"), PE_SIZES, ids=[f"len={n},dim={d}" for n, d in PE_SIZES]
    )
    def test_matches_the_formula(self, max_len, embed_dim):
        got = sinusoidal_positional_encoding(max_len, embed_dim)
        assert got.dtype == torch.float32, f"dtype: expected torch.float32, got {got.dtype}"
        expect_encoding_close(
            got, max_len, embed_dim, f"sinusoidal_positional_encoding({max_len}, {embed_dim})"
        )

    @pytest.mark.parametrize("embed_dim", [7, 8, 64, 65])
    def test_matches_the_formula_at_large_positions(self, embed_dim):
        got = sinusoidal_positional_encoding(10000, embed_dim)
        assert got.dtype == torch.float32, f"dtype: expected torch.float32, got {got.dtype}"
        expect_encoding_close(got, 10000, embed_dim, f"sinusoidal_positional_encoding(10000, {embed_dim})")

    @pytest.mark.parametrize("recipe", ["divide-by-power", "multiply-by-exp"])
    @pytest.mark.parametrize("embed_dim", [7, 64, 65])
    def test_the_tolerance_admits_a_correct_float32_computation(self, embed_dim, recipe):
        """The tolerance is the SPEC's: the formula done in float32 throughout passes it."""
        got = float32_positional_encoding(10000, embed_dim, recipe)
        expect_encoding_close(got, 10000, embed_dim, f"float32 {recipe} encoding (10000, {embed_dim})")

    @pytest.mark.parametrize("embed_dim", [5, 6])
    def test_an_odd_embed_dim_ends_with_a_sin_column(self, embed_dim):
        got = sinusoidal_positional_encoding(9, embed_dim)[:, -1].double()
        positions = torch.arange(9, dtype=torch.float64)
        if embed_dim % 2 == 1:  # column E - 1 = 2i with i = (E - 1) / 2
            expected = torch.sin(positions / 10000 ** ((embed_dim - 1) / embed_dim))
        else:  # column E - 1 = 2i + 1 with 2i = E - 2
            expected = torch.cos(positions / 10000 ** ((embed_dim - 2) / embed_dim))
        torch.testing.assert_close(
            got, expected, rtol=0, atol=1e-6, msg=lambda m: f"last column of embed_dim={embed_dim}: {m}"
        )
