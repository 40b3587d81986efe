"""The visible asserts of the nbgrader notebook: one snippet per hidden check, keyed by module and check name.

``python -m grader notebook`` puts each snippet in the test cell of its check, under the check's title
and after the hidden region that calls the grader's check itself. A snippet is a special case of its
check (the same inputs where possible, a looser tolerance), so an assert that fails means the check
fails too: nbgrader scores the cell as the grader scores the check. Snippets use only NumPy, PyTorch and
the learner's names; ``HELPERS`` are read-only cells placed before an exercise's checks. Two rules keep
"assert fails ⇒ check fails" true (``tests/test_notebook.py`` tries it on every mistake in the corpus):
compute expected values before calling the learner's code, and hand it fresh inputs (``.clone()``),
since the checks give it copies; and test a function with literal inputs, not with other functions of
the same exercise (``masked_attention`` with a literal causal mask, not with the learner's ``causal_mask``).
A check without a snippet is checked by its hidden region only (say why in ``HIDDEN_ONLY``).
"""

import inspect

from learner import torch_modules

HELPERS = {
    "attention": '''\
def qkv(seed, *batch, l_q=4, l_k=5, d_k=8, d_v=6, dtype=torch.float64):
    """Seeded queries, keys and values of shapes (*batch, l_q, d_k), (*batch, l_k, d_k),
    (*batch, l_k, d_v)."""
    g = torch.Generator().manual_seed(seed)
    return tuple(
        torch.randn(*batch, n, d, generator=g, dtype=dtype) for n, d in ((l_q, d_k), (l_k, d_k), (l_k, d_v))
    )


def attention_formula(q, k, v, mask=None):
    """softmax(q kᵀ / √d_k) v with masked scores at -inf: what the exercises compute, in a few lines."""
    scores = q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5
    if mask is not None:
        scores = scores.masked_fill(mask == 0, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return weights @ v, weights''',
    "self_attention": '''\
def output_of(result):
    """What forward returned, or the first element of a tuple: its form is the output-shape check's."""
    return result[0] if isinstance(result, (tuple, list)) else result


def unlike_cut(module, x, mask):
    """(batch, query, k) for each query that sees keys 0 .. k-1 only, yet gives something else than
    module gives without a mask on x[:, :k]."""
    masked = output_of(module(x.clone(), mask))
    allowed = (mask != 0).expand(x.shape[0], x.shape[1], x.shape[1])
    unlike = []
    for b in range(x.shape[0]):
        for i in range(x.shape[1]):
            k = int(allowed[b, i].sum())
            if i < k and bool(allowed[b, i, :k].all()):
                cut = output_of(module(x[:, :k].clone(), None))
                if not torch.allclose(masked[b, i], cut[b, i], rtol=2e-5, atol=1e-5):
                    unlike.append((b, i, k))
    return unlike''',
    # Generated from the one helper the visible tests and the grader use too (learner/torch_modules.py).
    "multi_head": inspect.getsource(torch_modules.torch_multihead).strip(),
    "encoder": "\n\n\n".join(
        inspect.getsource(helper).strip()
        for helper in (torch_modules.torch_multihead, torch_modules.torch_encoder_layer)
    ),
}

HIDDEN_ONLY = {
    (
        "classifier",
        "learns_what_mean_pooling_cannot",
    ): "trains your model with your loop on a held-out task: too slow here",
    ("classifier", "reaches_high_accuracy"): "the same training run as the check above",
}

VISIBLE = {
    "softmax": {
        "keeps_shape_and_dtype": """\
x = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]], dtype=np.float32)
got = softmax(x, axis=-1)
assert isinstance(got, np.ndarray), f"softmax: expected a NumPy array, got {type(got).__name__}"
assert got.shape == (2, 3), f"softmax: shape: expected (2, 3), got {got.shape}"
assert got.dtype == np.float32, f"softmax: dtype: expected float32, got {got.dtype}\"""",
        "matches_reference_on_random_inputs": """\
x = np.array([[1.0, 2.0, 3.0], [2.0, 0.0, -1.0]])
for axis in (-1, 0):
    expected = np.exp(x) / np.exp(x).sum(axis=axis, keepdims=True)
    got = softmax(x, axis=axis)
    assert np.allclose(got, expected), f"softmax(x, axis={axis}): expected\\n{expected}\\ngot\\n{got}\"""",
        "slices_sum_to_one": """\
x = np.random.default_rng(0).standard_normal((2, 3, 4))
sums = softmax(x, axis=1).sum(axis=1)
assert np.allclose(sums, 1.0), f"softmax(x (2, 3, 4), axis=1): slices along axis 1 sum to\\n{sums}\"""",
        "stable_for_large_entries": """\
got = softmax(np.array([[1e4, 0.0, -1e4]]), axis=-1)
assert np.all(np.isfinite(got)), f"softmax([[1e4, 0, -1e4]]): expected finite values, got {got}"
assert np.allclose(got, [[1.0, 0.0, 0.0]]), f"softmax([[1e4, 0, -1e4]]): expected [[1, 0, 0]], got {got}\"""",
        "minus_inf_entries_get_zero_weight": """\
got = softmax(np.array([[1.0, 1.0, -np.inf]]), axis=-1)
assert np.allclose(got, [[0.5, 0.5, 0.0]]), (
    f"softmax([[1, 1, -inf]]): expected [[0.5, 0.5, 0]], got {got}"
)""",
        "all_minus_inf_slice_gives_zeros": """\
got = softmax(np.array([[-np.inf, -np.inf, -np.inf], [1.0, 2.0, 3.0]]), axis=-1)
assert np.allclose(got[0], 0.0), f"softmax: a slice that is all -inf: expected [0, 0, 0], got {got[0]}\"""",
        "input_not_modified": """\
x = np.array([[1e4, 3.0, -np.inf]])
before = x.copy()
softmax(x, axis=-1)
assert np.array_equal(x, before), f"softmax: the input changed from {before} to {x}\"""",
    },
    "attention": {
        "returns_output_and_weights": """\
result = scaled_dot_product_attention(*qkv(0, dtype=torch.float32))
assert isinstance(result, (tuple, list)) and len(result) == 2, (
    "scaled_dot_product_attention: expected (output, weights)"
)""",
        "shapes_with_any_batch_dims": """\
for batch in ((), (2,), (2, 3)):
    output, weights = scaled_dot_product_attention(*qkv(1, *batch, l_q=2, l_k=6, d_k=4, d_v=5))
    assert weights.shape == (*batch, 2, 6), (
        f"weights shape: expected {(*batch, 2, 6)}, got {tuple(weights.shape)}"
    )
    assert output.shape == (*batch, 2, 5), (
        f"output shape: expected {(*batch, 2, 5)}, got {tuple(output.shape)}"
    )""",
        "weights_match_reference": """\
q = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
_, weights = scaled_dot_product_attention(q.clone(), q.clone(), q.clone())
expected = torch.tensor([0.6698, 0.3302])  # softmax([1/√2, 0]), the module's worked example
assert torch.allclose(weights[0], expected, atol=1e-4), (
    f"weights row 0: expected {expected}, got {weights[0]}"
)""",
        "output_matches_reference": """\
q, k, v = qkv(2, 2)
output, weights = scaled_dot_product_attention(q, k, v)
expected = weights @ v  # your own weights: a mistake in the weights is the weights checks' to show
assert torch.allclose(output, expected, atol=1e-6), (
    f"output: expected weights @ v\\n{expected}\\ngot\\n{output}"
)""",
        "weights_sum_to_one_over_keys": """\
_, weights = scaled_dot_product_attention(*qkv(3, 2, l_k=7))
sums = weights.sum(dim=-1)
assert torch.allclose(sums, torch.ones_like(sums)), (
    f"weights summed over the keys: expected ones, got {sums}"
)""",
        "matches_pytorch_scaled_dot_product_attention": """\
q, k, v = qkv(4, 2, 2, l_q=3, l_k=6, d_v=4)
expected = torch.nn.functional.scaled_dot_product_attention(q, k, v)
output, _ = scaled_dot_product_attention(q, k, v)
assert torch.allclose(output, expected, atol=1e-6), (
    f"output vs PyTorch: expected\\n{expected}\\ngot\\n{output}"
)""",
        "gradients_match_reference": """\
q, k, v = (t.requires_grad_(True) for t in qkv(5, 2, l_q=3, l_k=4, d_k=6, d_v=5))
expected = torch.autograd.grad(attention_formula(q, k, v)[0].sum(), (q, k, v))
output, _ = scaled_dot_product_attention(q, k, v)
got = torch.autograd.grad(output.sum(), (q, k, v))
for name, g, e in zip("qkv", got, expected):
    assert torch.allclose(g, e, atol=1e-6), f"gradient of {name}: expected\\n{e}\\ngot\\n{g}\"""",
        "keeps_dtype_and_precision": """\
for dtype in (torch.float32, torch.float64):
    output, weights = scaled_dot_product_attention(*qkv(6, 2, dtype=dtype))
    assert output.dtype == dtype and weights.dtype == dtype, (
        f"{dtype} inputs gave {output.dtype} output, {weights.dtype} weights"
    )""",
        "inputs_not_modified": """\
q, k, v = qkv(7, 2, dtype=torch.float32)
before = [t.clone() for t in (q, k, v)]
scaled_dot_product_attention(q, k, v)
for name, b, a in zip("qkv", before, (q, k, v)):
    assert torch.equal(a, b), f"input {name} was modified in place\"""",
    },
    "masking": {
        "causal_mask_values": """\
got = causal_mask(3)
expected = torch.tensor([[True, False, False], [True, True, False], [True, True, True]])
assert got.dtype == torch.bool, f"causal_mask(3): dtype: expected torch.bool, got {got.dtype}"
assert torch.equal(got, expected), f"causal_mask(3): expected\\n{expected}\\ngot\\n{got}\"""",
        "padding_mask_values": """\
got = padding_mask([2, 3])
expected = torch.tensor([[[True, True, False]], [[True, True, True]]])
assert got.dtype == torch.bool, f"padding_mask([2, 3]): dtype: expected torch.bool, got {got.dtype}"
assert got.shape == (2, 1, 3), f"padding_mask([2, 3]): shape: expected (2, 1, 3), got {tuple(got.shape)}"
assert torch.equal(got, expected), f"padding_mask([2, 3]): expected\\n{expected}\\ngot\\n{got}\"""",
        "padding_mask_rejects_short_max_len": """\
try:
    padding_mask([2, 5], max_len=4)
    raised = False
except ValueError:
    raised = True
assert raised, "padding_mask([2, 5], max_len=4): expected ValueError, got no exception\"""",
        "no_mask_equals_plain_attention": """\
q, k, v = qkv(10, 2)
expected_output, expected_weights = attention_formula(q, k, v)
output, weights = masked_attention(q, k, v)
assert torch.allclose(weights, expected_weights, atol=1e-6), f"weights with mask=None:\\n{weights}"
assert torch.allclose(output, expected_output, atol=1e-6), f"output with mask=None:\\n{output}\"""",
        "masked_keys_get_zero_weight": """\
q, k, v = qkv(11, 2, l_k=4)
# not your causal_mask: this check is about masked_attention
causal = torch.ones(4, 4, dtype=torch.bool).tril()
_, weights = masked_attention(q, k, v, causal.clone())
assert bool((weights[:, ~causal] == 0).all()), (
    f"with a causal mask a query got weight on a later key:\\n{weights[0]}"
)""",
        "matches_reference_for_every_mask_form": """\
q, k, v = qkv(12, 2, l_q=3, l_k=5)
mask = torch.tensor([[1, 1, 0, 1, 0], [0, 1, 1, 1, 1], [1, 0, 0, 0, 0]]).bool()
expected_output, expected_weights = attention_formula(q, k, v, mask)
for form in (mask.clone(), mask.long(), mask.double()):
    output, weights = masked_attention(q, k, v, form)
    assert torch.allclose(weights, expected_weights, atol=1e-6), f"{form.dtype} mask: weights\\n{weights}"
    assert torch.allclose(output, expected_output, atol=1e-6), f"{form.dtype} mask: output\\n{output}\"""",
        "matches_pytorch_with_masks": """\
q, k, v = qkv(13, 2, l_q=5, l_k=5, d_v=4)
mask = torch.tensor([[[1, 1, 1, 1, 1]], [[1, 1, 1, 0, 0]]]).bool()  # padding for lengths [5, 3]
expected = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)
output, _ = masked_attention(q, k, v, mask.clone())
assert torch.allclose(output, expected, atol=1e-6), f"output with a padding mask vs PyTorch:\\n{output}\"""",
        "fully_masked_row_gives_zero_weights_and_output": """\
q, k, v = qkv(14, l_k=4)
mask = torch.tensor([[1, 1, 0, 0], [0, 0, 0, 0], [1, 1, 1, 1], [0, 1, 0, 0]])
output, weights = masked_attention(q, k, v, mask)
assert torch.allclose(weights[1], torch.zeros(4, dtype=weights.dtype)), (
    f"weights of query 1 (all keys masked): {weights[1]}"
)
assert torch.allclose(output[1], torch.zeros_like(output[1])), (
    f"output of query 1 (all keys masked): {output[1]}"
)""",
        "fully_masked_row_has_finite_gradients": """\
q, k, v = (t.requires_grad_(True) for t in qkv(15, l_k=4))
mask = torch.tensor([[1, 1, 0, 0], [0, 0, 0, 0], [1, 1, 1, 1], [0, 1, 0, 0]])
output, _ = masked_attention(q, k, v, mask)
for name, grad in zip("qkv", torch.autograd.grad(output.sum(), (q, k, v))):
    assert bool(torch.isfinite(grad).all()), f"gradient of {name} with a fully masked row:\\n{grad}\"""",
        "gradients_match_reference": """\
q, k, v = (t.requires_grad_(True) for t in qkv(16, 2, l_k=4))
causal = torch.ones(4, 4, dtype=torch.bool).tril()
expected = torch.autograd.grad(attention_formula(q, k, v, causal)[0].sum(), (q, k, v))
output, _ = masked_attention(q, k, v, causal.clone())
got = torch.autograd.grad(output.sum(), (q, k, v))
for name, g, e in zip("qkv", got, expected):
    assert torch.allclose(g, e, atol=1e-6), f"gradient of {name} under a causal mask:\\n{g}\"""",
        "inputs_and_mask_not_modified": """\
q, k, v = qkv(17, 2, l_k=4, dtype=torch.float32)
mask = torch.tensor([[1, 1, 0, 0], [0, 0, 0, 0], [1, 1, 1, 1], [0, 1, 0, 0]])
before = [t.clone() for t in (q, k, v, mask)]
masked_attention(q, k, v, mask)
for name, b, a in zip(("q", "k", "v", "mask"), before, (q, k, v, mask)):
    assert torch.equal(a, b), f"input {name} was modified in place\"""",
        "causality_by_perturbation": """\
q, k, v = qkv(18, 2, l_q=6, l_k=6, d_k=4, d_v=4)
k2, v2 = k.clone(), v.clone()
k2[:, 3:] += 5.0
v2[:, 3:] -= 5.0
causal = torch.ones(6, 6, dtype=torch.bool).tril()
before, _ = masked_attention(q.clone(), k, v, causal.clone())
after, _ = masked_attention(q.clone(), k2, v2, causal.clone())
assert torch.allclose(after[:, :3], before[:, :3]), (
    "changing keys 3-5 changed the outputs of queries 0-2"
)""",
    },
    "self_attention": {
        "has_query_key_value_projections": """\
attn = SelfAttention(6)
for name in ("query", "key", "value"):
    layer = getattr(attn, name, None)
    assert isinstance(layer, torch.nn.Linear), (
        f"SelfAttention(6).{name}: expected an nn.Linear, got {type(layer).__name__}"
    )
    assert (layer.in_features, layer.out_features) == (6, 6), (
        f"SelfAttention(6).{name}: expected Linear(6, 6)"
    )""",
        "output_shape": """\
torch.manual_seed(0)
output = SelfAttention(8)(torch.randn(3, 5, 8), None)
assert output.shape == (3, 5, 8), (
    f"SelfAttention(8) on x (3, 5, 8): expected (3, 5, 8), got {tuple(output.shape)}"
)""",
        "matches_reference_without_mask": """\
torch.manual_seed(0)
attn, x = SelfAttention(8), torch.randn(3, 5, 8)
expected, _ = attention_formula(attn.query(x), attn.key(x), attn.value(x))
assert torch.allclose(output_of(attn(x.clone(), None)), expected, atol=1e-5), (
    "output without a mask differs from attention over the projections"
)""",
        "masks_match_the_module_on_cut_sequences": """\
torch.manual_seed(0)
attn, x = SelfAttention(8).double(), torch.randn(3, 5, 8, dtype=torch.float64)
for mask in (causal_mask(5), padding_mask([5, 2, 4])):
    unlike = unlike_cut(attn, x, mask)
    assert not unlike, f"{tuple(mask.shape)} mask: (batch, query, k) {unlike} unlike x[:, :k] unmasked\"""",
        "fully_masked_rows_stay_finite": """\
torch.manual_seed(0)
mask = torch.ones(2, 3, 3, dtype=torch.bool)
mask[1, 2] = False
output = output_of(SelfAttention(4)(torch.randn(2, 3, 4), mask))
assert bool(torch.isfinite(output).all()), (
    f"a fully masked query gave a non-finite output:\\n{output[1]}"
)""",
        "gradients_match_finite_differences": """\
torch.manual_seed(0)
attn = SelfAttention(6).double()
x = torch.randn(2, 4, 6, dtype=torch.float64, requires_grad=True)
# autograd's gradient of x against finite differences of your own forward
assert torch.autograd.gradcheck(lambda x: attn(x, causal_mask(4)), (x,)), "gradient of x\"""",
        "keeps_dtype_and_input": """\
torch.manual_seed(0)
x = torch.randn(2, 3, 4, dtype=torch.float64)
before = x.clone()
output = output_of(SelfAttention(4).double()(x, None))
assert output.dtype == torch.float64, f"a float64 module gave {output.dtype}"
assert torch.equal(x, before), "the input x was modified in place\"""",
    },
    "multi_head": {
        "rejects_heads_that_do_not_divide_embed_dim": """\
try:
    MultiHeadAttention(10, 3)
    raised = False
except ValueError:
    raised = True
assert raised, "MultiHeadAttention(10, 3): expected ValueError, got no exception\"""",
        "has_four_projections": """\
for bias in (True, False):
    mha = MultiHeadAttention(8, 2, bias=bias)
    for name in ("q_proj", "k_proj", "v_proj", "out_proj"):
        layer = getattr(mha, name, None)
        assert isinstance(layer, torch.nn.Linear), f"MultiHeadAttention(8, 2).{name}: expected an nn.Linear"
        assert (layer.in_features, layer.out_features) == (8, 8), f"{name}: expected Linear(8, 8)"
        assert (layer.bias is not None) == bias, (
            f"MultiHeadAttention(8, 2, bias={bias}).{name}: bias is {layer.bias}"
        )""",
        "output_shape": """\
torch.manual_seed(0)
output = MultiHeadAttention(8, 2)(torch.randn(3, 5, 8), None)
assert output.shape == (3, 5, 8), f"MultiHeadAttention(8, 2) on x (3, 5, 8): got {tuple(output.shape)}\"""",
        "matches_nn_multihead_attention": """\
torch.manual_seed(0)
mha, x = MultiHeadAttention(8, 2), torch.randn(3, 5, 8)
expected, _ = torch_multihead(mha, 2)(x, x, x, need_weights=False)
assert torch.allclose(output_of(mha(x.clone(), None)), expected, atol=1e-5), (
    "vs nn.MultiheadAttention, no mask: outputs differ"
)""",
        "causal_and_padding_masks_match_cut_sequences": """\
torch.manual_seed(0)
mha, x = MultiHeadAttention(12, 3).double(), torch.randn(2, 6, 12, dtype=torch.float64)
for mask in (causal_mask(6), padding_mask([6, 3])):
    unlike = unlike_cut(mha, x, mask)
    assert not unlike, f"{tuple(mask.shape)} mask: (batch, query, k) {unlike} unlike x[:, :k] unmasked\"""",
        "mask_applies_to_every_head": """\
torch.manual_seed(0)
mha, x = MultiHeadAttention(8, 4).double(), torch.randn(2, 4, 8, dtype=torch.float64)
# batch 0 causal, batch 1 keys 0-2 only
mask = torch.tensor([[[1, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 0], [1, 1, 1, 1]], [[1, 1, 1, 0]] * 4]).bool()
unlike = unlike_cut(mha, x, mask)
assert not unlike, f"(batch, query, k) {unlike} differ from your output on x[:, :k] without a mask\"""",
        "fully_masked_rows_stay_finite": """\
torch.manual_seed(0)
x = torch.randn(2, 3, 8, dtype=torch.float64, requires_grad=True)
mask = torch.ones(2, 3, 3, dtype=torch.bool)
mask[0, 1] = False
output = MultiHeadAttention(8, 2).double()(x, mask)
# allow_unused: no gradient at all is the gradient check's to report
(grad,) = torch.autograd.grad(output.sum(), x, allow_unused=True)
assert bool(torch.isfinite(output).all()), f"a fully masked query gave a non-finite output:\\n{output[0]}"
assert grad is None or bool(torch.isfinite(grad).all()), "a fully masked query: non-finite gradient\"""",
        "gradients_match_finite_differences": """\
torch.manual_seed(0)
mha = MultiHeadAttention(8, 2).double()
x = torch.randn(2, 4, 8, dtype=torch.float64, requires_grad=True)
# autograd's gradient of x against finite differences of your own forward
assert torch.autograd.gradcheck(lambda x: mha(x, padding_mask([4, 2])), (x,)), "gradient of x\"""",
        "keeps_dtype_and_input": """\
torch.manual_seed(0)
x = torch.randn(2, 3, 4, dtype=torch.float64)
before = x.clone()
output = output_of(MultiHeadAttention(4, 2).double()(x, None))
assert output.dtype == torch.float64, f"a float64 module gave {output.dtype}"
assert torch.equal(x, before), "the input x was modified in place\"""",
        "causality_by_perturbation": """\
torch.manual_seed(0)
mha, x = MultiHeadAttention(8, 2).double(), torch.randn(2, 6, 8, dtype=torch.float64)
changed = x.clone()
changed[:, 4:] += 3.0
before, after = output_of(mha(x, causal_mask(6))), output_of(mha(changed, causal_mask(6)))
assert torch.allclose(after[:, :4], before[:, :4]), (
    "changing positions 4-5 changed the outputs at positions 0-3"
)""",
    },
    "encoder": {
        "positional_encoding_values": """\
got = sinusoidal_positional_encoding(4, 6)
assert got.shape == (4, 6) and got.dtype == torch.float32, f"(4, 6): got {tuple(got.shape)} {got.dtype}"
pos, i = torch.arange(4.0)[:, None], torch.arange(3.0)[None, :]
angles = pos / 10000 ** (2 * i / 6)
# interleaved: sin, cos, sin, ...
expected = torch.stack([torch.sin(angles), torch.cos(angles)], dim=-1).reshape(4, 6)
assert torch.allclose(got, expected, atol=1e-5), (
    f"sinusoidal_positional_encoding(4, 6): expected\\n{expected}\\ngot\\n{got}"
)""",
        "positional_encoding_large_positions": """\
got = sinusoidal_positional_encoding(10000, 32)[9999]
angles = 9999 / 10000 ** (torch.arange(0, 32, 2, dtype=torch.float64) / 32)
expected = torch.stack([torch.sin(angles), torch.cos(angles)], dim=-1).reshape(32)
assert torch.allclose(got.double(), expected, atol=5e-3), (
    f"position 9999: expected\\n{expected}\\ngot\\n{got}"
)""",
        "block_has_the_spec_attributes": """\
block = EncoderBlock(8, 2, 16)
assert hasattr(block, "self_attn"), "EncoderBlock(8, 2, 16) has no .self_attn"
for name, shape in (("linear1", (8, 16)), ("linear2", (16, 8))):
    layer = getattr(block, name, None)
    assert isinstance(layer, torch.nn.Linear), f"EncoderBlock.{name}: expected an nn.Linear"
    assert (layer.in_features, layer.out_features) == shape, f"EncoderBlock.{name}: expected Linear{shape}"
for name in ("norm1", "norm2"):
    assert isinstance(getattr(block, name, None), torch.nn.LayerNorm), (
        f"EncoderBlock.{name}: expected an nn.LayerNorm"
    )""",
        "post_norm_block_matches_transformer_encoder_layer": """\
torch.manual_seed(0)
block, x = EncoderBlock(8, 2, 16, dropout=0.0).eval(), torch.randn(3, 5, 8)
expected = torch_encoder_layer(block, 2, 16, norm_first=False)(x)
assert torch.allclose(output_of(block(x.clone(), None)), expected, atol=1e-5), (
    "post-norm block vs nn.TransformerEncoderLayer: outputs differ"
)""",
        "pre_norm_block_matches_transformer_encoder_layer": """\
torch.manual_seed(0)
block, x = EncoderBlock(8, 2, 16, dropout=0.0, norm_first=True).eval(), torch.randn(3, 5, 8)
expected = torch_encoder_layer(block, 2, 16, norm_first=True)(x)
assert torch.allclose(output_of(block(x.clone(), None)), expected, atol=1e-5), (
    "pre-norm block vs nn.TransformerEncoderLayer: outputs differ"
)""",
        "encoder_layers_have_their_own_weights": """\
names = dict(Encoder(3, 8, 2, 16).named_parameters(remove_duplicate=False))  # an alias keeps its name
for index in range(3):
    assert f"layers.{index}.linear1.weight" in names, (
        f"Encoder(3, ...): no parameter layers.{index}.linear1.weight"
    )
assert "layers.3.linear1.weight" not in names, "Encoder(3, ...): has more than 3 layers\"""",
        "encoder_runs_its_blocks_then_the_final_norm": """\
torch.manual_seed(0)
for norm_first in (False, True):
    encoder, x = Encoder(2, 8, 2, 16, dropout=0.0, norm_first=norm_first).eval(), torch.randn(2, 6, 8)
    expected = x
    for block in encoder.layers:
        expected = output_of(block(expected, None))
    if norm_first:
        expected = encoder.norm(expected)
    assert torch.allclose(output_of(encoder(x.clone(), None)), expected, atol=1e-5), (
        f"norm_first={norm_first}: Encoder vs its own blocks in order: outputs differ"
    )""",
        "dropout_only_in_training_mode": """\
torch.manual_seed(0)
block, x = EncoderBlock(8, 2, 32, dropout=0.5), torch.randn(2, 5, 8)
assert not torch.allclose(block.train()(x, None), block(x, None)), (
    "training mode: two calls gave the same output"
)
assert torch.allclose(block.eval()(x, None), block(x, None)), (
    "eval mode: two calls gave different outputs"
)""",
        "fully_masked_rows_stay_finite": """\
torch.manual_seed(0)
mask = torch.ones(2, 4, 4, dtype=torch.bool)
mask[1, 3] = False
for norm_first in (False, True):
    output = output_of(EncoderBlock(8, 2, 16, norm_first=norm_first).eval()(torch.randn(2, 4, 8), mask))
    assert bool(torch.isfinite(output).all()), (
        f"norm_first={norm_first}: a fully masked query gave non-finite output"
    )""",
        "gradients_match_finite_differences": """\
torch.manual_seed(0)
for norm_first in (False, True):
    encoder = Encoder(2, 8, 2, 16, dropout=0.0, norm_first=norm_first).double().eval()
    x = torch.randn(2, 4, 8, dtype=torch.float64, requires_grad=True)
    # autograd's gradient of x against finite differences of your own forward
    assert torch.autograd.gradcheck(lambda x: encoder(x, causal_mask(4)), (x,)), f"{norm_first=}\"""",
        "keeps_dtype_and_input": """\
torch.manual_seed(0)
x = torch.randn(2, 3, 4, dtype=torch.float64)
before = x.clone()
output = output_of(Encoder(2, 4, 2, 8).double().eval()(x, None))
assert output.dtype == torch.float64, f"a float64 encoder gave {output.dtype}"
assert torch.equal(x, before), "the input x was modified in place\"""",
    },
    "classifier": {
        "logits_shape": """\
torch.manual_seed(0)
logits = AttentionClassifier(4, 32, 4, 2).eval()(torch.randn(3, 6, 4), torch.tensor([6, 2, 4]))
assert logits.shape == (3, 2), f"logits for x (3, 6, 4): expected (3, 2), got {tuple(logits.shape)}\"""",
        "padded_positions_do_not_change_logits": """\
torch.manual_seed(0)
model, x, lengths = AttentionClassifier(4, 32, 4, 2).eval(), torch.randn(4, 7, 4), torch.tensor([7, 2, 5, 1])
noisy = x.clone()
for b, n in enumerate(lengths.tolist()):
    noisy[b, n:] = 100 * torch.randn(7 - n, 4)
assert torch.allclose(model(noisy, lengths), model(x, lengths), atol=1e-5), (
    "changing only padded positions changed the logits"
)""",
        "amount_of_padding_does_not_change_logits": """\
torch.manual_seed(0)
model, x, lengths = AttentionClassifier(4, 32, 4, 2).eval(), torch.randn(3, 4, 4), torch.tensor([4, 2, 3])
longer = torch.cat([x, torch.randn(3, 5, 4)], dim=1)
assert torch.allclose(model(longer, lengths), model(x, lengths), atol=1e-5), (
    "5 more padded positions changed the logits"
)""",
        "no_lengths_means_every_position_is_real": """\
torch.manual_seed(0)
model, x = AttentionClassifier(4, 32, 4, 2).eval(), torch.randn(2, 5, 4)
assert torch.allclose(model(x), model(x, torch.tensor([5, 5])), atol=1e-5), (
    "lengths=None differs from lengths [5, 5]"
)""",
        "reordering_real_tokens_does_not_change_logits": """\
torch.manual_seed(0)
model, x, lengths = AttentionClassifier(4, 32, 4, 2).eval(), torch.randn(4, 7, 4), torch.tensor([7, 3, 5, 4])
flipped = x.clone()
for b, n in enumerate(lengths.tolist()):
    flipped[b, :n] = x[b, :n].flip(0)
assert torch.allclose(model(flipped, lengths), model(x, lengths), atol=1e-5), (
    "reversing the real tokens changed the logits"
)""",
        "repeating_real_tokens_does_not_change_logits": """\
torch.manual_seed(0)
model, x = AttentionClassifier(4, 32, 4, 2).eval(), torch.randn(3, 4, 4)
once, twice = model(x, torch.tensor([4, 4, 4])), model(torch.cat([x, x], dim=1), torch.tensor([8, 8, 8]))
assert torch.allclose(twice, once, atol=1e-5), "the real tokens written twice changed the logits\"""",
        "two_token_logits_lie_between_one_token_logits": """\
torch.manual_seed(0)
model, a, b = AttentionClassifier(4, 8, 1, 6).eval(), 2 * torch.randn(6, 1, 4), 2 * torch.randn(6, 1, 4)
one_a, one_b = model(a, torch.ones(6, dtype=torch.long)), model(b, torch.ones(6, dtype=torch.long))
pair = model(torch.cat([a, b], dim=1), torch.full((6,), 2))
d = one_a - one_b
share = (((pair - one_b) * d).sum(dim=1) / (d * d).sum(dim=1)).clamp(0, 1)
nearest = one_b + share[:, None] * d
assert torch.allclose(pair, nearest, atol=1e-4), (
    f"one head: the logits of [a, b] are {(pair - nearest).abs().max():.2g} off the segment from [a] to [b]"
)""",
        "training_returns_one_float_loss_per_epoch": """\
torch.manual_seed(0)
X, y, lengths = torch.randn(16, 5, 4), torch.randint(0, 2, (16,)), torch.randint(1, 6, (16,))
losses = train_classifier(AttentionClassifier(4, 8, 2, 2), X, y, lengths, epochs=3, lr=1e-2)
assert isinstance(losses, list) and len(losses) == 3, f"epochs=3: expected a list of 3 losses, got {losses!r}"
assert all(type(loss) is float for loss in losses), (
    f"expected Python floats, got {type(losses[0]).__name__}"
)""",
    },
}
