"""Visible checks for exercise 3, masking.py."""

import pytest
import torch

from .masking import causal_mask, masked_attention, padding_mask


def qkv(seed, *batch, l_q=4, l_k=4, d_k=8, d_v=8, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(*batch, l_q, d_k, generator=g, dtype=dtype),
        torch.randn(*batch, l_k, d_k, generator=g, dtype=dtype),
        torch.randn(*batch, l_k, d_v, generator=g, dtype=dtype),
    )


def test_causal_mask_worked_example():
    got = causal_mask(3)
    expected = torch.tensor([[True, False, False], [True, True, False], [True, True, True]])
    assert got.dtype == torch.bool, f"masking.causal_mask(3): dtype: expected torch.bool, got {got.dtype}"
    assert torch.equal(got, expected), f"masking.causal_mask(3): expected\n{expected}\ngot\n{got}"


def test_padding_mask_worked_example():
    got = padding_mask(torch.tensor([2, 3]))
    expected = torch.tensor([[[True, True, False]], [[True, True, True]]])
    assert got.dtype == torch.bool, (
        f"masking.padding_mask([2, 3]): dtype: expected torch.bool, got {got.dtype}"
    )
    assert got.shape == (2, 1, 3), (
        f"masking.padding_mask([2, 3]): shape: expected (2, 1, 3), got {tuple(got.shape)}"
    )
    assert torch.equal(got, expected), f"masking.padding_mask([2, 3]): expected\n{expected}\ngot\n{got}"


def test_padding_mask_rejects_max_len_shorter_than_a_length():
    with pytest.raises(ValueError):
        padding_mask([2, 5], max_len=4)


def test_masked_keys_get_zero_weight():
    q, k, v = qkv(0, 2)
    _, weights = masked_attention(q, k, v, causal_mask(4))
    above = ~causal_mask(4)
    assert bool((weights[:, above] == 0).all()), (
        "masking.masked_attention with causal_mask(4): a query got weight on a later key: "
        f"weights[0] =\n{weights[0]}\n  hint: is the mask applied before the softmax, and with -inf?"
    )


def test_no_mask_equals_plain_attention(expect_close):
    q, k, v = qkv(1, 3, l_q=2, l_k=5, d_v=3)
    output, _ = masked_attention(q, k, v)
    expect_close(
        output,
        torch.nn.functional.scaled_dot_product_attention(q, k, v),
        "masked_attention(mask=None) output",
    )


@pytest.mark.parametrize("as_dtype", [torch.bool, torch.int64, torch.float32], ids=["bool", "int", "float"])
def test_matches_pytorch_with_padding_mask(as_dtype, expect_close):
    q, k, v = qkv(2, 3, l_q=5, l_k=5)
    mask = padding_mask([5, 2, 4])
    output, _ = masked_attention(q, k, v, mask.to(as_dtype))
    expected = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    expect_close(
        output,
        expected,
        f"masked_attention output with a {as_dtype} padding mask",
        hint="Does your code treat any nonzero mask value as 'may attend'?",
    )


def test_fully_masked_row_gives_zeros_and_finite_gradients(expect_close):
    q, k, v = qkv(3, dtype=torch.float64)
    q.requires_grad_(True)
    mask = torch.tensor([[1, 1, 0, 0], [0, 0, 0, 0], [1, 1, 1, 1], [0, 1, 0, 0]])
    output, weights = masked_attention(q, k, v, mask)
    expect_close(
        weights[1],
        torch.zeros(4, dtype=torch.float64),
        "weights of query 1, whose keys are all masked",
        hint="What does softmax do with a row that is all -inf?",
    )
    expect_close(
        output[1], torch.zeros(8, dtype=torch.float64), "output of query 1, whose keys are all masked"
    )
    output.sum().backward()
    assert bool(q.grad.isfinite().all()), (
        f"masking.masked_attention: the gradient of q is not finite: q.grad[1] = {q.grad[1]}\n"
        "  hint: a nan made in the forward pass comes back in the backward pass "
        "even if you replace it afterwards."
    )
