"""Are the reference's gradients the checks compare with exactly those PyTorch gives for the same output
gradients, taken without importing SymPy into the grader's process?

``grader/checks/reference_gradients.py`` takes the gradient of Σ output·g instead of passing ``g`` as output
gradients (which imports SymPy: 0.9 s of every grading run). Each case runs in a fresh interpreter: the
new way first (SymPy must still be absent), then PyTorch's own way, and the two must be equal bit for bit.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

SCRIPT = """
import json, sys
import torch
from grader.checks.reference_gradients import gradients, weighted_sum
from solutions.attention import scaled_dot_product_attention
from solutions.masking import masked_attention
from solutions.multi_head import MultiHeadAttention

seen = {}
cases = []
for dtype in (torch.float32, torch.float64):
    torch.manual_seed(0)
    q, k = torch.randn(2, 3, 4, dtype=dtype), torch.randn(2, 5, 4, dtype=dtype)
    v = torch.randn(2, 5, 6, dtype=dtype)
    mask = torch.ones(2, 3, 5, dtype=torch.bool)
    mask[0, 1] = False  # a fully masked row: its gradients are the delicate ones
    mask[1, :, 3:] = False
    g = [torch.randn(2, 3, 6, dtype=dtype), torch.randn(2, 3, 5, dtype=dtype)]
    masked = lambda *t: masked_attention(*t, mask)  # noqa: E731
    for name, function in (("attention", scaled_dot_product_attention), ("masking", masked)):
        inputs = [t.clone().requires_grad_(True) for t in (q, k, v)]
        ours = gradients(function(*inputs), inputs, g)
        cases.append((f"{name} {dtype}", function, inputs, g, ours))
    model = MultiHeadAttention(8, 2).to(dtype)
    x = torch.randn(2, 4, 8, dtype=dtype, requires_grad=True)
    g_out = torch.randn(2, 4, 8, dtype=dtype)
    weighted_sum([model(x)], [g_out]).backward(inputs=[x, *model.parameters()])
    ours = [x.grad.clone(), *(p.grad.clone() for p in model.parameters())]
    cases.append((f"module {dtype}", model, x, g_out, ours))
seen["sympy_after_ours"] = "sympy" in sys.modules
equal = {}
for name, function, inputs, g, ours in cases:
    if name.startswith("module"):
        model, x = function, inputs
        x.grad = None
        model.zero_grad(set_to_none=True)
        model(x).backward(g, inputs=[x, *model.parameters()])
        theirs = [x.grad, *(p.grad for p in model.parameters())]
    else:
        fresh = [t.detach().clone().requires_grad_(True) for t in inputs]
        theirs = torch.autograd.grad(function(*fresh), fresh, g)
    equal[name] = len(ours) == len(theirs) and all(torch.equal(a, b) for a, b in zip(ours, theirs))
seen["equal"] = equal
seen["sympy_after_theirs"] = "sympy" in sys.modules
try:
    weighted_sum([torch.ones(2)], [])
except ValueError as error:
    seen["unpaired"] = str(error)
print(json.dumps(seen))
"""


def test_the_gradients_are_pytorchs_bit_for_bit_and_sympy_stays_out():
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.splitlines()[-1])
    assert seen["equal"] == {
        f"{kind} torch.{dtype}": True
        for dtype in ("float32", "float64")
        for kind in ("attention", "masking", "module")
    }
    assert seen["sympy_after_ours"] is False
    assert seen["sympy_after_theirs"] is True  # so the first assertion could fail: PyTorch's way imports it
    assert seen["unpaired"] == "1 outputs but 0 output gradients"
