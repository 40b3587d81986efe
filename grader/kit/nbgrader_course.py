"""Trying the notebook with the real nbgrader: learners' notebooks made from modules, a Jupyter of its own.

For the round-trip test and ``bench/vs_nbgrader.py``: a handed-in notebook is the released one with the
answer cells holding a folder's modules, and Jupyter's only kernel is this interpreter, with its
configuration under a folder of its own so the user's Jupyter setup is never touched.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from grader.contract import EXERCISES
from grader.kit.notebook import REPO, split_module


def modules_to_notebook(folder: Path, template: Path, out: Path) -> None:
    """A copy of the notebook ``template`` whose answer cells hold ``folder``'s modules (as a learner would
    have them)."""
    notebook = json.loads(Path(template).read_text(encoding="utf-8"))
    for cell in notebook["cells"]:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        module_file = Path(folder) / f"{grade_id}.py"
        if grade_id in {e.module for e in EXERCISES} and module_file.is_file():
            exercise = next(e for e in EXERCISES if e.module == grade_id)
            cell["source"] = split_module(module_file.read_text(encoding="utf-8"), exercise)["code"]
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(
        json.dumps(notebook, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8"
    )


def isolated_jupyter(root: Path) -> dict[str, str]:
    """Environment variables under which Jupyter's only kernel, ``python3``, is this interpreter, with
    its own config and runtime folders under ``root``; the kernel finds this kit on PYTHONPATH.

    For running nbgrader against the kit without touching the user's Jupyter setup (the round-trip
    test and bench/vs_nbgrader.py).
    """
    kernel = root / "jupyter" / "kernels" / "python3"
    kernel.mkdir(parents=True, exist_ok=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3",
        "language": "python",
    }
    (kernel / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
    env = dict(os.environ)
    env.update(
        JUPYTER_PATH=str(root / "jupyter"),
        JUPYTER_DATA_DIR=str(root / "jupyter-data"),
        JUPYTER_CONFIG_DIR=str(root / "jupyter-config"),
        JUPYTER_RUNTIME_DIR=str(root / "jupyter-runtime"),
        IPYTHONDIR=str(root / "ipython"),
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
    )
    return env
