"""Does the fork server start without PyTorch's compiler (and without SymPy), and does code that asks
for the compiler get it?

The fork server puts a stand-in under ``torch._dynamo`` (``harness/dynamo_on_demand.py``): eager code's
two calls into it (``disable``, ``graph_break``) are answered without importing the compiler's stack
(the warm-up took 1.2 s with it, 0.4 s without), and anything else imports the real package on
demand. The lesson's tasks take gradients for given output gradients as the gradient of Σ output·g
(``harness/output_gradients.py``), so neither the start nor a graded call imports SymPy, which would
cost every start 0.4 s and make every sandbox's forks copy 33 MB more. Each case runs in a fresh
interpreter that loads the harness as the fork server does, and reports what it saw.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HARNESS = Path(__file__).resolve().parent.parent / "grader" / "sandbox" / "harness"

PROLOGUE = f"""
import json, sys, types
harness = types.ModuleType("sandbox_harness")
harness.__path__ = [{str(HARNESS)!r}]
sys.modules["sandbox_harness"] = harness
import torch
from sandbox_harness import dynamo_on_demand, tasks
installed = dynamo_on_demand.install()
tasks.warm_up()
seen = {{"installed": installed}}

def real_loaded():
    module = sys.modules.get("torch._dynamo")
    return module is not None and type(module).__name__ != "_StandIn"
"""


def report(body: str) -> dict:
    """Run the prologue (the fork server's start) then ``body``; the ``seen`` dict it leaves, as JSON."""
    script = PROLOGUE + body + "\nprint(json.dumps(seen))\n"
    done = subprocess.run([sys.executable, "-I", "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


@pytest.fixture(scope="module")
def eager_session() -> dict:
    """What a lesson's session does after the start: recorded gradients, a model trained with Adam and SGD."""
    return report(
        """
from sandbox_harness.recorder import Recorder
from torch import nn
seen["after_start"] = real_loaded()
as_called = torch._dynamo.disable(len, False, wrapping=False)  # as torch._disable_dynamo calls it
as_decorator = torch._dynamo.disable(recursive=False)(len)
seen["disable_is_identity"] = as_called is len and as_decorator is len
model = nn.Linear(4, 2)
losses = []
for optimizer in (torch.optim.Adam(model.parameters(), lr=0.1), torch.optim.SGD(model.parameters(), lr=0.1)):
    for _ in range(5):
        optimizer.zero_grad()
        with Recorder() as recorder:
            loss = nn.functional.cross_entropy(model(torch.eye(4)), torch.tensor([0, 1, 0, 1]))
            loss.backward()
        optimizer.step()
        losses.append(loss.item())
    optimizer.state_dict()
x = torch.randn(3, 4, requires_grad=True)
with Recorder():
    y = torch.softmax(x @ x.T, dim=-1)
    (grad,) = torch.autograd.grad([y], [x], [torch.ones_like(y)])
seen.update(after_training=real_loaded(), losses=losses, forbidden=sorted(recorder.found))
# Reading every module's __file__ must import nothing meanwhile (sys.modules would change size under it).
files = {name: getattr(module, "__file__", None) for name, module in sys.modules.items()}
seen["its_file"] = files["torch._dynamo"]
seen["after_looking_over_every_module"] = real_loaded()
seen["grad_finite"] = bool(torch.isfinite(grad).all())
"""
    )


def test_the_fork_server_starts_and_warms_up_with_the_stand_in_not_the_compiler(eager_session):
    assert eager_session["installed"] and eager_session["after_start"] is False
    assert eager_session["disable_is_identity"]


def test_training_and_gradients_run_without_the_real_compiler(eager_session):
    assert eager_session["after_training"] is False
    assert eager_session["losses"][-1] < eager_session["losses"][0] and eager_session["grad_finite"]
    assert eager_session["forbidden"] == []


def test_looking_over_every_module_imports_nothing(eager_session):
    assert eager_session["its_file"].endswith("__init__.py")
    assert eager_session["after_looking_over_every_module"] is False


def test_the_lessons_gradient_tasks_leave_sympy_out_and_give_pytorchs_gradients_bit_for_bit():
    seen = report(
        """
from sandbox_harness import lesson_tasks
seen["sympy_after_start"] = "sympy" in sys.modules

class Package:  # what a session hands the tasks: the learner's names, here a softmax and a module
    def attribute(self, module, name):
        names = {"softmax": lambda x: torch.softmax(x * x, dim=-1), "Model": lambda: torch.nn.Linear(4, 3)}
        return names[name]

torch.manual_seed(0)
x, g = torch.randn(2, 4, dtype=torch.float64), torch.randn(2, 4, dtype=torch.float64)
asked = {"module": "m", "function": "softmax", "args": [x.clone()], "grad_wrt": [0], "grad_outputs": [g]}
called = lesson_tasks.call(Package(), asked)
h = torch.randn(2, 3)
state = {name: value.detach() for name, value in torch.nn.Linear(4, 3).state_dict().items()}
spec = {"args": [x.float()], "grad_wrt": [0], "grad_output": h}
ran = lesson_tasks.forward(Package(), {"module": "m", "cls": "Model", "state": state, "calls": [spec]})
seen["sympy_after_tasks"] = "sympy" in sys.modules
try:
    lesson_tasks.call(
        Package(),
        {"module": "m", "function": "softmax", "args": [x.clone()], "grad_wrt": [0], "grad_outputs": [g[0]]},
    )
except RuntimeError as error:
    seen["mismatch"] = str(error)

mine = x.clone().requires_grad_(True)
(theirs,) = torch.autograd.grad([torch.softmax(mine * mine, dim=-1)], [mine], [g])  # imports SymPy
seen["call_equal"] = torch.equal(called["grads"][0], theirs)
model = torch.nn.Linear(4, 3)
model.load_state_dict(state)
inputs = x.float().requires_grad_(True)
model(inputs).backward(h)
seen["forward_equal"] = torch.equal(ran["grads"][0][0], inputs.grad)
seen["sympy_after_pytorchs_own"] = "sympy" in sys.modules
"""
    )
    assert seen["sympy_after_start"] is False and seen["sympy_after_tasks"] is False
    assert seen["call_equal"] and seen["forward_equal"]
    assert seen["mismatch"] == (
        "Mismatch in shape: grad_output[0] has a shape of torch.Size([4]) and output[0] has a shape of "
        "torch.Size([2, 4])."
    )
    assert seen["sympy_after_pytorchs_own"]  # the check above would notice SymPy


def test_asking_for_more_imports_the_real_compiler_once_puts_it_in_place_and_keeps_it():
    seen = report(
        """
stand_in = torch._dynamo
import torch._dynamo.config as config  # a submodule: the stand-in has none
real = sys.modules["torch._dynamo"]
seen["real_after_submodule"] = real_loaded() and torch._dynamo is real
seen["config_module"] = config.__name__
seen["stand_in_delegates"] = stand_in.reset is real.reset and stand_in.is_compiling() is False
seen["disable_delegates"] = stand_in.disable(len) is not len  # the real one wraps
seen["installed_again"] = dynamo_on_demand.install()
seen["kept"] = sys.modules["torch._dynamo"] is real and torch._dynamo is real
"""
    )
    assert seen["real_after_submodule"] and seen["config_module"] == "torch._dynamo.config"
    assert seen["stand_in_delegates"] and seen["disable_delegates"]
    assert seen["installed_again"] is False and seen["kept"]


def test_a_pytorch_without_the_compiler_package_gets_no_stand_in():
    done = subprocess.run(
        [
            sys.executable,
            "-I",
            "-c",
            f"import sys, types; h = types.ModuleType('sandbox_harness'); h.__path__ = [{str(HARNESS)!r}]; "
            "sys.modules['sandbox_harness'] = h; import importlib.util, torch; "
            "from sandbox_harness import dynamo_on_demand; "
            "importlib.util.find_spec = lambda name, package=None: None; "
            "print(dynamo_on_demand.install(), 'torch._dynamo' in sys.modules)",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.stdout.split() == ["False", "False"], done.stderr[-2000:]
