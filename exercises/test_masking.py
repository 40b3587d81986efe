"""Visible checks for exercise 3, masking.py."""

import pytest
import torch

from learner.mistakes import fully_masked_hint, mask_hint

from .masking import causal_mask, masked_attention, padding_mask

WHERE = "masking.masked_attention"
# The masks masked_attention is tested with, written out: a slip in causal_mask or padding_mask shows in
# their own tests, not in these.
CAUSAL_4 = torch.tensor([[1, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 0], [1, 1, 1, 1]], dtype=torch.bool)
PADDING_5_2_4 = torch.tensor([[[1, 1, 1, 1, 1]], [[1, 1, 0, 0, 0]], [[1, 1, 1, 1, 0]]], dtype=torch.bool)


def qkv(seed, *batch, l_q=4, l_k=4, d_k=8, d_v=8, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(*batch, l_q, d_k, generator=g, dtype=dtype),
        torch.randn(*batch, l_k, d_k, generator=g, dtype=dtype),
        torch.randn(*batch, l_k, d_v, generator=g, dtype=dtype),
    )


def shapes(q, k, v) -> str:
    dtype = str(q.dtype).removeprefix("torch.")
    return f"q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)} {dtype}"


# The masks come first: masked_attention's callers build on them (and a mask's check is its shape, dtype
# and values at once).
@pytest.mark.level("shape")
def test_causal_mask_worked_example(expect_equal):
    expect_equal(
        causal_mask(3),
        torch.tensor([[True, False, False], [True, True, False], [True, True, True]]),
        "masking.causal_mask(3)",
        "Where does your mask first differ from True where key ≤ query (and False above)?",
    )


@pytest.mark.level("shape")
def test_padding_mask_worked_example(expect_equal):
    expect_equal(
        padding_mask(torch.tensor([2, 3])),
        torch.tensor([[[True, True, False]], [[True, True, True]]]),
        "masking.padding_mask(tensor([2, 3]))",
        "Shape (B, 1, max_len), True where position < length: where does yours first differ?",
    )


@pytest.mark.level("shape")
def test_returns_output_and_weights_of_the_right_shapes(expect_shape, expect_true):
    q, k, v = qkv(4, 2, l_q=3, l_k=5, d_v=6)
    mask = torch.tensor([[[True, True, True, True, True]], [[True, True, True, False, False]]])
    inputs = shapes(q, k, v) + ", mask bool (2, 1, 5)"
    result = masked_attention(q, k, v, mask)
    expect_true(
        isinstance(result, tuple) and len(result) == 2,
        f"{WHERE}: return value: expected a tuple (output, weights), got {type(result).__name__}",
        "Does masked_attention return both the output and the weights, as exercise 2 does?",
        inputs,
    )
    output, weights = result
    hint = "Does the mask (B, 1, L_k) broadcast over the scores (B, L_q, L_k) rather than reshape them?"
    expect_shape(weights, (2, 3, 5), f"{WHERE}: weights (B=2, L_q=3, L_k=5)", hint, inputs)
    expect_shape(output, (2, 3, 6), f"{WHERE}: output (B=2, L_q=3, d_v=6)", hint, inputs)


@pytest.mark.level("arguments")
def test_padding_mask_rejects_max_len_shorter_than_a_length(expect_raises):
    expect_raises(
        ValueError,
        lambda: padding_mask([2, 5], max_len=4),
        "masking.padding_mask([2, 5], max_len=4)",
        "A sequence of length 5 cannot fit in max_len=4: what does the docstring's Raises section ask for?",
    )


def test_masked_keys_get_zero_weight(expect_true):
    q, k, v = qkv(0, 2)
    mask = CAUSAL_4
    _, weights = masked_attention(q, k, v, mask)
    leaked = (weights != 0) & ~mask
    b, i, j = (int(x) for x in torch.nonzero(leaked)[0]) if bool(leaked.any()) else (0, 0, 0)
    expect_true(
        not bool(leaked.any()),
        f"{WHERE}: masked key got weight: query {i} of batch {b} gives key {j} weight "
        f"{weights[b, i, j].item():.4g}, expected 0",
        lambda: mask_hint(q, k, mask, weights),
        shapes(q, k, v) + ", mask causal (4, 4): True where key ≤ query",
    )


def test_no_mask_equals_plain_attention(expect_close):
    q, k, v = qkv(1, 3, l_q=2, l_k=5, d_v=3)
    output, _ = masked_attention(q, k, v)
    expect_close(
        output,
        torch.nn.functional.scaled_dot_product_attention(q, k, v),
        f"{WHERE}(mask=None): output",
        hint="With mask=None, does your function compute what exercise 2's does?",
        inputs=shapes(q, k, v) + ", mask=None",
    )


@pytest.mark.parametrize(
    "as_dtype, value",
    [(torch.bool, True), (torch.int64, 1), (torch.float32, 1.0), (torch.int64, 3), (torch.float32, 0.5)],
    ids=["bool", "int 0/1", "float 0/1", "int 0/3", "float 0/0.5"],
)
def test_matches_pytorch_with_padding_mask(as_dtype, value, expect_close):
    q, k, v = qkv(2, 3, l_q=5, l_k=5)
    mask = PADDING_5_2_4
    given = mask.to(as_dtype) * value if as_dtype != torch.bool else mask
    output, weights = masked_attention(q, k, v, given)
    expected = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    kind = f"{str(as_dtype).removeprefix('torch.')} 0/{value}" if as_dtype != torch.bool else "bool"
    expect_close(
        output,
        expected,
        f"{WHERE}: output with a {kind} padding mask (any nonzero value may attend)",
        hint=lambda: mask_hint(q, k, given, weights),
        inputs=shapes(q, k, v) + f", mask {kind} (3, 1, 5) for lengths [5, 2, 4]",
    )


@pytest.mark.level("edge case")
def test_fully_masked_row_gives_zeros_and_finite_gradients(expect_close, expect_true):
    q, k, v = qkv(3, dtype=torch.float64)
    q.requires_grad_(True)
    mask = torch.tensor([[1, 1, 0, 0], [0, 0, 0, 0], [1, 1, 1, 1], [0, 1, 0, 0]])
    inputs = shapes(q, k, v) + ", mask int (4, 4) whose row 1 is all 0 (query 1 sees no key)"
    output, weights = masked_attention(q, k, v, mask)
    expect_close(
        weights[1],
        torch.zeros(4, dtype=torch.float64),
        f"{WHERE}: weights of query 1, whose keys are all masked",
        hint=lambda: fully_masked_hint(weights[1:2].detach()),
        inputs=inputs,
    )
    expect_close(
        output[1],
        torch.zeros(8, dtype=torch.float64),
        f"{WHERE}: output of query 1, whose keys are all masked",
        hint="With all-zero weights, what is the weighted sum of the values?",
        inputs=inputs,
    )
    output.sum().backward()
    expect_true(
        q.grad is not None,
        f"{WHERE}: no gradient flows back to q",
        "Is anything detached, or computed outside autograd (NumPy, .item())?",
        inputs,
    )
    bad = (~q.grad.isfinite()).nonzero()
    expect_true(
        not len(bad),
        f"{WHERE}: gradient of q: expected finite values, got "
        + (f"{q.grad[tuple(bad[0])].item()} at {bad[0].tolist()}" if len(bad) else ""),
        "A nan made in the forward pass comes back in the backward pass even after you replace it.",
        inputs + ", gradient of output.sum()",
    )
