"""The device checks: SPEC "results stay on the input's device (CPU and CUDA)", graded without points.

What runs everywhere: the checks' registration, the skip (with its reason) on a machine without a
GPU, the plumbing that moves inputs to a device and reports where results were (exercised with the
checks forced onto the CPU, and with PyTorch's "meta" device), the GPU session's confinement, and the
device mutants' proof that they are correct on the CPU. What needs a GPU is marked ``cuda``: that
the sandbox can use it and that each device mutant loses its device check there, and nothing else.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import textwrap
from pathlib import Path

import jsonschema
import pytest
import torch

from grader.checks import check, checks_for
from grader.checks.compare import CheckFailed
from grader.checks.devices import NEW_TENSOR_HINT, expect_on_device
from grader.contract import EXERCISES
from grader.contract import exercise as exercise_named
from grader.grading import grade_exercise, grade_submission
from grader.intake.submission import from_folder
from grader.reports.feedback import feedback_html, feedback_markdown
from grader.reports.gradescope import gradescope_results
from grader.results import FAILED, NOT_IMPLEMENTED, PASSED, SKIPPED, CheckResult, shown
from grader.sandbox import accelerator
from grader.sandbox.accelerator import Accelerator, accelerator_for, probe
from grader.sandbox.client import Call
from grader.sandbox.harness import confine, gpu, landlock, lesson_tasks, placement
from grader.sandbox.runner import Runner
from grader.settings import GPU_CALL_TIMEOUT_S, GPU_RUNTIME_MEMORY_MB, Limits, Settings
from tests.grading_helpers import (
    SOLUTIONS,
    SUBMISSIONS,
    changed_modules,
    grade_exercises,
    namespaces_work,
    overlay,
)

DEVICE_MUTANTS = sorted(p for p in (SUBMISSIONS / "device_mutants").iterdir() if p.is_dir())
SCHEMA = json.loads((Path(accelerator.__file__).parents[1] / "schemas" / "results.schema.json").read_text())
NEEDS_CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
needs_sandbox = pytest.mark.skipif(
    not (confine.IS_LINUX and namespaces_work() and landlock.landlock_abi() > 0),
    reason="needs namespaces and Landlock",
)


def device_checks(module: str):
    return [c for c in checks_for(module) if c.on_device]


class TestRegistration:
    def test_every_exercise_from_attention_on_has_one_device_check_and_it_comes_last(self):
        for exercise in EXERCISES:
            found = device_checks(exercise.module)
            if exercise.module == "softmax":  # NumPy: no device
                assert found == []
                continue
            assert [c.name for c in found] == ["runs_on_cuda"], exercise.module
            assert checks_for(exercise.module)[-1].on_device, (
                f"{exercise.module}: the device check must come last"
            )

    def test_device_checks_carry_no_points_so_a_grade_never_depends_on_the_machine(self):
        for exercise in EXERCISES:
            assert all(c.points == 0 for c in device_checks(exercise.module))
            assert sum(c.points for c in checks_for(exercise.module)) == exercise.points

    def test_a_device_check_with_points_is_refused(self):
        with pytest.raises(ValueError, match="no points"):
            check(points=1, on_device=True)

    def test_the_notebook_leaves_device_checks_out(self):
        for exercise in EXERCISES:
            assert not any(c.on_device for c in checks_for(exercise.module, device_checks=False))


@pytest.fixture(scope="module")
def runner(warm_runner):
    return warm_runner


@pytest.fixture(scope="module")
def graded(runner):
    """The reference and the stubs, graded with the device checks turned off."""
    return {
        name: grade_submission(from_folder(folder), runner, Settings(cuda="off"))
        for name, folder in (("solutions", SOLUTIONS), ("stubs", SOLUTIONS.parent / "exercises"))
    }


class TestWithoutAGpu:
    def test_device_checks_are_skipped_with_the_reason_and_cost_nothing(self, graded):
        assert graded["solutions"].total == 100 and graded["stubs"].total == 0
        for exercise in graded["solutions"].exercises:
            for result in exercise.checks:
                if result.name == "runs_on_cuda":
                    assert (result.status, result.score, result.max_score) == (SKIPPED, 0, 0)
                    assert (
                        result.message
                        == "not run: the device checks are turned off for this run (--cuda off) "
                        "(this check carries no points)"
                    )
                else:
                    assert result.status == PASSED

    def test_results_json_keeps_them_and_stays_valid(self, graded):
        document = {
            "max_score": 100,
            "exercises": [{"module": e.module, "number": e.number, "max_score": e.points} for e in EXERCISES],
            "submissions": [graded["solutions"].to_json(), graded["stubs"].to_json()],
        }
        jsonschema.validate(document, SCHEMA)
        names = [c["name"] for e in document["submissions"][0]["exercises"] for c in e["checks"]]
        assert names.count("runs_on_cuda") == 6

    def test_feedback_and_gradescope_leave_unrun_device_checks_out(self, graded, tmp_path):
        for result in graded.values():
            title = device_checks("attention")[0].title
            assert title not in feedback_markdown(result)
            assert title not in feedback_html(result, tmp_path)
            tests = gradescope_results(result)["tests"]
            assert not any("on a CUDA device" in t["name"] for t in tests)
            assert len(tests) == sum(len(checks_for(e.module, device_checks=False)) for e in EXERCISES)

    def test_feedback_reads_as_if_there_were_no_device_checks(self, graded):
        for result in graded.values():
            without = copy.deepcopy(result)
            for exercise in without.exercises:
                exercise.checks = [c for c in exercise.checks if c.name != "runs_on_cuda"]
            assert feedback_markdown(result) == feedback_markdown(without)

    def test_auto_on_a_machine_without_nvidia_devices_skips_without_starting_a_sandbox(self, monkeypatch):
        monkeypatch.setattr(accelerator, "nvidia_device_files", lambda: [])

        class NoSandbox:
            def open_session(self, *args, **kwargs):
                raise AssertionError("no GPU: nothing to probe")

        found = accelerator_for(NoSandbox(), "auto")
        assert found == Accelerator(None, "the grading machine has no CUDA device")


class TestShown:
    @pytest.mark.parametrize(
        ("status", "max_score", "listed"),
        [
            (SKIPPED, 0, False),
            (NOT_IMPLEMENTED, 0, False),
            (PASSED, 0, True),
            (FAILED, 0, True),
            (SKIPPED, 2, True),
        ],
    )
    def test_only_unrun_no_points_checks_are_left_out_of_feedback(self, status, max_score, listed):
        assert shown(CheckResult("c", "t", status, 0, max_score)) is listed


class TestExpectOnDevice:
    def test_results_on_the_device_pass_and_an_index_matches_its_type(self):
        expect_on_device(Call(result=None, devices={"result": ["cuda:0", "cuda:1"]}), "cuda", "f")

    def test_a_result_left_on_the_cpu_fails_with_which_one_and_the_hint(self):
        with pytest.raises(CheckFailed) as failure:
            expect_on_device(
                Call(result=None, devices={"result": ["cuda:0", "cpu"]}), "cuda", "masking.masked_attention"
            )
        assert (
            failure.value.message
            == "masking.masked_attention: device: expected cuda, got cpu (tensor 2 of 2)"
        )
        assert failure.value.hint == NEW_TENSOR_HINT

    @pytest.mark.parametrize("devices", [{}, {"result": []}, {"result": "cuda"}, {"result": [3]}])
    def test_a_reply_without_devices_fails_instead_of_passing(self, devices):
        with pytest.raises(CheckFailed):
            expect_on_device(Call(result=None, devices=devices), "cuda", "f")


class TestPlacementInTheSandbox:
    def test_tensors_move_except_where_asked_and_weights_are_left_to_the_model(self):
        mask, weight = torch.ones(2, dtype=torch.bool), torch.ones(3)
        payload = {
            "device": "meta",
            "stay_on_cpu": ["calls.0.args.1"],
            "calls": [{"args": [torch.ones(2), mask], "kwargs": {"lengths": torch.tensor([1])}}],
            "state": {"w": weight},
            "init": [8, 2],
        }
        placed = lesson_tasks.on_device(payload)
        first = placed["calls"][0]
        assert first["args"][0].is_meta and first["kwargs"]["lengths"].is_meta
        assert first["args"][1] is mask and placed["state"]["w"] is weight and placed["init"] == [8, 2]

    def test_without_a_device_the_payload_is_untouched(self):
        payload = {"args": [torch.ones(2)]}
        assert lesson_tasks.on_device(payload) is payload

    def test_devices_are_listed_in_result_order(self):
        result = (torch.ones(1), [torch.ones(1, device="meta"), 3])
        assert lesson_tasks.devices_of(result) == ["cpu", "meta"]


class TestForcedOntoTheCpu:
    """With the device checks forced onto the CPU, everything but the GPU itself runs here."""

    def test_the_reference_passes_every_device_check(self, runner):
        result = grade_submission(from_folder(SOLUTIONS), runner, Settings(cuda="cpu"))
        device_results = [c for e in result.exercises for c in e.checks if c.name == "runs_on_cuda"]
        assert len(device_results) == 6 and all(c.status == PASSED for c in device_results), device_results
        assert result.total == 100

    @pytest.mark.parametrize("mutant", DEVICE_MUTANTS, ids=lambda p: p.name)
    def test_each_device_mutant_is_correct_on_the_cpu(self, mutant, tmp_path, runner):
        submission = from_folder(overlay(mutant, tmp_path / mutant.name))
        for module in changed_modules(mutant):
            result = grade_exercise(submission, exercise_named(module), runner, Settings(cuda="cpu"))
            assert result.score == result.max_score, module
            assert all(c.status == PASSED for c in result.checks), [
                (c.name, c.message) for c in result.checks
            ]


@needs_sandbox
class TestGpuSession:
    CPU = Limits(call_timeout_s=10, session_timeout_s=30, memory_mb=512, max_processes=16)
    GPU = dataclasses.replace(CPU, gpu=True)

    def open(self, runner, tmp_path, source: str, limits=GPU):
        (tmp_path / "ops.py").write_text(textwrap.dedent(source))
        return runner.open_session(tmp_path, limits=limits)

    def call(self, session, function: str, *args):
        return session.call("call_unwatched", {"module": "ops", "function": function, "args": list(args)})

    def test_memory_is_bounded_by_private_memory_instead_of_address_space(self, tmp_path, runner):
        source = """\
            import torch
            def hog():
                return torch.empty(4 * 2**30, dtype=torch.uint8).numel()
            def reserve():
                import mmap
                return len(mmap.mmap(-1, 8 * 2**30, prot=0, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS))
            """
        with self.open(runner, tmp_path, source) as session:
            assert "DATA" in session.isolation["rlimits"] and "AS" not in session.isolation["rlimits"].split(
                ", "
            )
            error = self.call(session, "hog").error
            assert error.kind == "memory", error
            # What CUDA does at start-up: reserve address space it does not touch. An RLIMIT_AS refuses it.
            assert self.call(session, "reserve").value == {"result": 8 * 2**30}
        with self.open(runner, tmp_path, source, limits=self.CPU) as session:
            assert self.call(session, "reserve").error.kind == "exception"

    def test_instructor_files_stay_out_of_reach(self, tmp_path, runner):
        source = """\
            def read(path):
                try:
                    return len(open(path, "rb").read())
                except OSError as error:
                    return type(error).__name__
            """
        with self.open(runner, tmp_path, source) as session:
            for path in (SOLUTIONS / "masking.py", Path(accelerator.__file__)):
                # No such path in the session's own root (Landlock's PermissionError where that root is
                # missing).
                assert self.call(session, "read", str(path)).value["result"] in (
                    "FileNotFoundError",
                    "PermissionError",
                )

    def test_cuda_visible_devices_reaches_a_gpu_session_only(self, tmp_path, monkeypatch):
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
        source = "import os\ndef visible():\n    return os.environ.get('CUDA_VISIBLE_DEVICES')\n"
        with Runner() as runner:
            with self.open(runner, tmp_path, source) as session:
                assert self.call(session, "visible").value["result"] == "1"
            with self.open(runner, tmp_path, source, limits=self.CPU) as session:
                assert self.call(session, "visible").value["result"] is None

    def test_a_gpu_the_sandbox_cannot_use_becomes_a_reason_not_a_failure(self, monkeypatch):
        if torch.cuda.is_available():
            pytest.skip("this machine's sandbox can use its GPU")
        monkeypatch.setattr(accelerator, "nvidia_device_files", lambda: [Path("/dev/nvidia0")])
        with Runner() as runner:
            found = accelerator_for(runner, "auto")
            assert found.device is None
            assert found.detail.startswith("a CUDA device is present, but the sandbox cannot use it: ")
            result = grade_submission(from_folder(SOLUTIONS), runner, Settings())
        assert result.total == 100
        skipped = [c for e in result.exercises for c in e.checks if c.name == "runs_on_cuda"]
        assert all(c.status == SKIPPED and "the sandbox cannot use it" in c.message for c in skipped)

    def test_the_probe_reports_the_device_it_computed_on(self, runner):
        assert probe(runner, "cpu") == Accelerator("cpu", "cpu, 1 device")


class TestGpuLimits:
    def test_a_gpu_session_gets_time_to_start_cuda_and_memory_for_cuda_itself(self):
        settings = Settings(call_timeout_s=10, memory_mb=2048)
        for module in ("attention", "classifier"):
            cpu, gpu = (
                settings.limits_for(exercise_named(module)),
                settings.limits_for(exercise_named(module), gpu=True),
            )
            assert (cpu.gpu, gpu.gpu) == (False, True)
            assert gpu.memory_mb == cpu.memory_mb + GPU_RUNTIME_MEMORY_MB
            assert gpu.call_timeout_s == max(cpu.call_timeout_s, GPU_CALL_TIMEOUT_S)
            assert gpu.session_timeout_s == cpu.session_timeout_s


class TestDeviceFiles:
    def test_nvidia_device_files_are_found_by_name(self, tmp_path):
        for name in ("nvidia0", "nvidiactl", "nvidia-uvm", "nvidia-caps", "null", "dri"):
            (tmp_path / name).touch()
        assert [p.name for p in gpu.nvidia_device_files(tmp_path)] == [
            "nvidia-caps",
            "nvidia-uvm",
            "nvidia0",
            "nvidiactl",
        ]
        assert gpu.nvidia_device_files(tmp_path / "missing") == []

    def test_only_the_driver_libraries_are_granted(self, tmp_path):
        system, extra = tmp_path / "lib", tmp_path / "nvidia"
        system.mkdir(), extra.mkdir()
        for name in ("libcuda.so.1", "libc.so.6", "libnvidia-ml.so.1"):
            (system / name).touch()
        (extra / "libcuda.so.550.54").touch()
        found = gpu.driver_libraries(folders=[str(system), "/no/such/folder"], extra=f"{extra}:")
        assert found == [system / "libcuda.so.1", system / "libnvidia-ml.so.1", extra / "libcuda.so.550.54"]


@pytest.mark.cuda
@NEEDS_CUDA
class TestOnAGpu:
    def test_the_sandbox_can_use_the_gpu(self):
        with Runner() as runner:
            found = accelerator_for(runner, "auto")
        assert found.device == "cuda", found.detail

    def test_the_reference_passes_every_device_check_on_the_gpu(self):
        with Runner() as runner:
            result = grade_submission(from_folder(SOLUTIONS), runner, Settings())
        device_results = [c for e in result.exercises for c in e.checks if c.name == "runs_on_cuda"]
        assert all(c.status == PASSED for c in device_results), [
            (c.status, c.message) for c in device_results
        ]
        assert result.total == 100

    @pytest.mark.parametrize("mutant", DEVICE_MUTANTS, ids=lambda p: p.name)
    def test_each_device_mutant_loses_its_device_check_and_nothing_else(self, mutant, tmp_path):
        modules = changed_modules(mutant)
        graded = grade_exercises([(mutant.name, overlay(mutant, tmp_path / mutant.name), modules)])
        for module, result in graded[mutant.name].items():
            assert result.score == result.max_score, module
            failed = [c for c in result.checks if c.status != PASSED]
            assert [c.name for c in failed] == ["runs_on_cuda"], [(c.name, c.message) for c in failed]
            assert "device" in failed[0].message.lower(), failed[0].message


class OnePackage:
    """``tasks.Package``'s one method ``_build`` uses: every name is ``nn.Linear``."""

    def attribute(self, module: str, name: str):
        return torch.nn.Linear


def test_a_cpu_model_is_seeded_on_the_cpu_generator_alone_and_a_device_models_everywhere(monkeypatch):
    # torch.manual_seed also queues a seed for CUDA, XPU and MTIA, formatting the stack for each: a CPU
    # session cannot start a device, so it pays for nothing; a device session seeds its dropout too.
    payload = {"module": "m", "cls": "Linear", "init": [3, 2], "seed": 5}
    expected = lesson_tasks._build(OnePackage(), payload).weight.detach().clone()
    seeded = []
    monkeypatch.setattr(torch, "manual_seed", seeded.append)
    torch.randn(7)  # the generator moves on; the seed puts it back
    assert torch.equal(lesson_tasks._build(OnePackage(), payload).weight, expected)
    assert seeded == []
    placement.seed_for({**payload, "device": "cuda:0"})
    assert seeded == [5]
