"""Do the dispatcher's tripwires see every way of calling built-in attention, and change nothing else?

The recorder (``grader/sandbox/harness/recorder.py``) arms them around each of the learner's calls. They
must note a forbidden operator however it is reached: Python, ``torch.ops``, TorchScript (compiled from a
string, so that no source scan sees the name), inference mode, a fused kernel called directly. Results
must be bit for bit what PyTorch gives unarmed. Disarmed, the grader's own uses (its oracles) must meet
nothing. Where the tripwires cannot be set, the recorder's dispatch mode must still find what it found
before. Sealed, as in the sandbox's fork server (a fresh interpreter here), every forbidden operator must
refuse to run and be noted, on a thread of the learner's own too, while every other runs as before. A
failed call's note is its own: in a notebook kernel, not the next call's (another exercise's), and in a
reply from the sandbox, bounded.
"""

from __future__ import annotations

import subprocess
import sys
import warnings

import pytest
import torch
import torch.nn.functional as F

from grader.kit.notebook_runtime import NotebookRunner
from grader.sandbox.harness import operator_tripwires, recorder
from grader.sandbox.harness.operator_tripwires import KEY_NAME, forbidden_operators, watching
from grader.sandbox.harness.recorder import Recorder
from grader.sandbox.session import MAX_FORBIDDEN, forbidden_names
from tests.grading_helpers import REPO

pytestmark = pytest.mark.skipif(not operator_tripwires.install(), reason="this PyTorch cannot take them")

SDPA = "aten operator aten.scaled_dot_product_attention.default"
FUSED_CPU = "aten operator aten._scaled_dot_product_flash_attention_for_cpu.default"
# Compiled from a built string: neither the source scan nor a Python-level hook sees this call.
COMPILED = torch.jit.CompilationUnit(
    "def attend(q, k, v):\n    return torch.nn.functional." + "scaled_dot_product_" + "attention(q, k, v)\n"
)


def _scripted(q, k, v):
    return F.scaled_dot_product_attention(q, k, v)


with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit.script's
    scripted = torch.jit.script(_scripted)


def inputs(requires_grad: bool = True) -> torch.Tensor:
    return torch.randn(2, 2, 3, 4, generator=torch.Generator().manual_seed(0), requires_grad=requires_grad)


def eager(q):
    return F.scaled_dot_product_attention(q, q, q)


def through_torch_ops(q):
    return getattr(torch.ops.aten, "scaled_dot_product_" + "attention")(q, q, q)


def through_torchscript(q):
    return scripted(q, q, q)


def through_a_compilation_unit(q):
    return COMPILED.attend(q, q, q)


def in_inference_mode(q):
    with torch.inference_mode():
        return COMPILED.attend(q.detach(), q.detach(), q.detach())


def the_fused_kernel_itself(q):
    return getattr(torch, "_scaled_dot_product_" + "flash_attention_for_cpu")(q, q, q)[0]


def multihead_fast_path(q):
    layer = torch.nn.MultiheadAttention(4, 2, batch_first=True).eval()
    with torch.no_grad():
        x = q.detach()[0]
        return layer(x, x, x, need_weights=False)[0]


PATHS = {
    eager: SDPA,
    through_torch_ops: SDPA,
    through_torchscript: SDPA,
    through_a_compilation_unit: SDPA,
    in_inference_mode: SDPA,
    the_fused_kernel_itself: FUSED_CPU,
    multihead_fast_path: "aten operator aten._native_multi_head_attention.default",
}


@pytest.mark.parametrize("path", PATHS, ids=lambda path: path.__name__)
def test_every_way_of_calling_built_in_attention_is_noted(path):
    found: set[str] = set()
    with warnings.catch_warnings(), watching(found):
        warnings.simplefilter("ignore")  # TorchScript's deprecation
        path(inputs())
    assert PATHS[path] in found


@pytest.mark.parametrize("path", [eager, through_a_compilation_unit], ids=lambda path: path.__name__)
def test_armed_results_and_gradients_are_bit_for_bit_those_of_pytorch(path):
    results = []
    for arm in (False, True):
        q = inputs()
        found: set[str] = set()
        with watching(found) if arm else warnings.catch_warnings():
            output = path(q)
            output.sum().backward()
        results.append((output.detach(), q.grad, found))
    (plain, plain_grad, _), (watched, watched_grad, found) = results
    assert torch.equal(plain, watched) and torch.equal(plain_grad, watched_grad)
    assert SDPA in found  # and the fused kernel's backward, which runs armed too


def test_disarmed_the_graders_own_calls_meet_nothing_and_the_key_is_off_again():
    key = torch._C._parse_dispatch_key(KEY_NAME)
    with watching(set()):
        assert torch._C._dispatch_tls_is_dispatch_key_included(key)
    assert not torch._C._dispatch_tls_is_dispatch_key_included(key)
    found: set[str] = set()
    with watching(found):
        pass
    eager(inputs())  # as an oracle in the grader's process (a notebook kernel) calls it
    assert found == set() and operator_tripwires._unclaimed == set()


def test_every_forbidden_operator_has_a_wire_and_every_other_falls_through():
    names = forbidden_operators()
    assert "aten::scaled_dot_product_attention" in names and "aten::_native_multi_head_attention" in names
    for name in names:
        assert torch._C._dispatch_has_kernel_for_dispatch_key(name, KEY_NAME), name
    for ordinary in ("aten::mm", "aten::softmax.int", "aten::_softmax", "aten::bmm"):
        assert not torch._C._dispatch_has_kernel_for_dispatch_key(ordinary, KEY_NAME), ordinary


def test_nested_recorders_each_keep_what_they_saw():
    outer, inner = set(), set()
    with watching(outer):
        with watching(inner):  # equal (empty) sets: each is told apart by identity
            eager(inputs())
        the_fused_kernel_itself(inputs())
    assert inner == {SDPA} and outer == {SDPA, FUSED_CPU}


def test_the_recorder_arms_them_around_every_call_even_where_it_skips_the_dispatch_mode():
    with Recorder(operators=False) as recording:
        through_a_compilation_unit(inputs())
    assert SDPA in recording.found


def test_without_the_tripwires_the_dispatch_mode_still_finds_an_operator_reached_by_a_built_name(monkeypatch):
    monkeypatch.setattr(operator_tripwires, "install", lambda: False)
    with Recorder() as recording:
        getattr(torch.ops.aten, "_scaled_dot_product_" + "attention_math")(*[inputs()] * 3)
    assert any(isinstance(mode, recorder._OperatorRecorder) for mode in recording._modes)
    assert any("attention_math" in name for name in recording.found)


# In a fresh interpreter, as in the sandbox's fork server: sealing is for a process that runs nothing of the
# grader's own afterwards.
SEALED = r"""
import threading, warnings
import torch, torch.nn.functional as F
from grader.sandbox.harness import operator_tripwires as wires

x = torch.randn(3, 3)
before = (torch.softmax(x, -1), x @ x, torch.nn.functional.layer_norm(x, (3,)))
assert wires.seal()
q = torch.randn(1, 2, 3, 4, requires_grad=True)
key = torch._C._parse_dispatch_key(wires.KEY_NAME)
compiled = torch.jit.CompilationUnit(
    "def attend(q, k, v):\n    return torch.nn.functional.scaled_dot_product_attention(q, k, v)\n"
)


def in_a_thread():
    box = []
    def run():
        try:
            F.scaled_dot_product_attention(q, q, q)
        except RuntimeError as error:
            box.append(error)
        else:
            box.append(None)
    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if box[0] is not None:
        raise box[0]


def with_the_key_switched_off():
    torch._C._dispatch_tls_set_dispatch_key_included(key, False)
    F.scaled_dot_product_attention(q, q, q)


paths = {
    "eager": lambda: F.scaled_dot_product_attention(q, q, q),
    "torchscript": lambda: compiled.attend(q, q, q),
    "inference mode": lambda: torch.inference_mode()(compiled.attend)(q.detach(), q.detach(), q.detach()),
    "fused kernel": lambda: torch._scaled_dot_product_flash_attention_for_cpu(q, q, q),
    "a thread of its own": in_a_thread,
    "the key switched off": with_the_key_switched_off,
}
for name, path in paths.items():
    found = set()
    with wires.watching(found):
        try:
            path()
        except RuntimeError as error:
            assert "which this lesson forbids" in str(error), (name, error)
        else:
            raise AssertionError(f"{name}: ran")
    assert any("scaled_dot_product" in note for note in found), (name, found)
assert wires.take_notes() == []
try:
    F.scaled_dot_product_attention(q, q, q)
except RuntimeError:
    pass
assert wires.take_notes() == ["aten operator aten.scaled_dot_product_attention.default"], "kept for a report"
for name in wires.forbidden_operators():  # every kernel that could run it is a refusal
    kernels = [
        line
        for line in torch._C._dispatch_dump(name).splitlines()
        if line.split(":")[0] in ("CompositeImplicitAutograd[alias]", "Autograd[alias]", "CPU", "CUDA")
    ]
    assert kernels and all("operator_tripwires.py" in line for line in kernels), (name, kernels)
after = (torch.softmax(x, -1), x @ x, torch.nn.functional.layer_norm(x, (3,)))
assert all(torch.equal(b, a) for b, a in zip(before, after)), "ordinary operators run as before"
print("sealed")
"""


def test_sealed_every_forbidden_operator_refuses_and_is_noted_on_every_thread_and_path():
    done = subprocess.run(
        [sys.executable, "-c", SEALED], capture_output=True, text=True, timeout=120, cwd=REPO
    )
    assert done.returncode == 0 and done.stdout.strip() == "sealed", done.stderr[-3000:]


def test_in_a_notebook_kernel_a_failed_calls_forbidden_use_is_its_own_and_not_the_next_calls():
    def attends_then_raises(q, k, v):
        getattr(F, "scaled_dot_product_" + "attention")(q, k, v)
        raise ValueError("and then a bug")

    namespace = {"scaled_dot_product_attention": attends_then_raises, "softmax": torch.softmax}
    session = NotebookRunner(namespace).open_session(None)
    q = inputs(requires_grad=False)
    failed = session.call(
        "call", {"module": "attention", "function": "scaled_dot_product_attention", "args": [q, q, q]}
    )
    assert not failed.ok and SDPA in failed.error.forbidden
    after = session.call("call", {"module": "softmax", "function": "softmax", "args": [q, -1]})
    assert after.ok and after.value["forbidden"] == []


def test_a_reply_may_name_only_a_bounded_list_of_strings():
    forged = ["x" * 10_000] * 1000 + [{"not": "a name"}]
    names = forbidden_names(forged)
    assert len(names) == MAX_FORBIDDEN and all(len(name) == 200 for name in names)
    assert forbidden_names("aten operator") == () and forbidden_names({"a": 1}) == ()
    assert forbidden_names([1, "aten operator aten.x.default"]) == ("aten operator aten.x.default",)
