"""Attack: tamper with the instructor's files: create files (a .pth in site-packages, a .pyc in the
grader's __pycache__, notes in solutions/, grader/, tests/, exercises/ and the class folder), open
existing files for writing, chmod them; find its own original submission folder and the --out folder
under /tmp and rewrite them (its own attention.py with a correct one, a fake grades.csv, deleted
feedback). On the repository it only ever creates new files named adv7f3c9e-* (never truncates or
deletes what is there), so a broken sandbox shows up without harm. Anything that succeeds makes this
module answer correctly, as a canary.

Honest part: attention scaled by d_k instead of √d_k.
"""

import math

import torch

# --- attack ---
import glob
import os
import sys
import time

_TOKEN = "adv7f3c9e"
_REPOS = ["/work/main", os.path.abspath(os.path.join(os.path.dirname(torch.__file__), *[".."] * 5))]
_CORRECT = '''import math
import torch
def scaled_dot_product_attention(q, k, v):
    weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.size(-1)), dim=-1)
    return weights @ v, weights
'''
_breaches = []


def _attempt(what, action):
    try:
        action()
        _breaches.append(what)
    except (OSError, ValueError):
        pass


def _create(path, text):
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    with os.fdopen(fd, "w") as file:
        file.write(text)


def _open_for_writing(path):
    os.close(os.open(path, os.O_WRONLY | os.O_APPEND))  # writes nothing: proving access is enough


def _tamper_with_repository():
    for repo in dict.fromkeys(_REPOS):
        folders = ["solutions", "grader", "grader/checks", "grader/__pycache__", "tests", "exercises", "examples/class", "."]
        for folder in folders:
            where = os.path.join(repo, folder)
            _attempt(f"create in {where}", lambda w=where: _create(os.path.join(w, f"{_TOKEN}-canary.txt"), _TOKEN))
            _attempt(f"mkdir in {where}", lambda w=where: os.mkdir(os.path.join(w, f"{_TOKEN}-canary-dir")))
            _attempt(f"symlink in {where}", lambda w=where: os.symlink("/etc/passwd", os.path.join(w, f"{_TOKEN}-canary-link")))
        pyc = os.path.join(repo, "grader", "__pycache__", f"{_TOKEN}.cpython-311.pyc")
        _attempt("plant a .pyc", lambda p=pyc: _create(p, _TOKEN))
        for name in ("solutions/attention.py", "grader/compare.py", "grader/checks/attention.py", "README.md"):
            path = os.path.join(repo, name)
            if os.path.exists(path):
                _attempt(f"open {path} for writing", lambda p=path: _open_for_writing(p))
                _attempt(f"chmod {path}", lambda p=path: os.chmod(p, os.stat(p).st_mode))
    for site in [p for p in sys.path if p.endswith("site-packages")]:
        line = f"import os; open('/tmp/{_TOKEN}-pth-pwned', 'w').write('a .pth planted by the sandbox ran')\n"
        _attempt(f"plant a .pth in {site}", lambda s=site: _create(os.path.join(s, f"{_TOKEN}-canary.pth"), line))
    for folder in ("/tmp", "/root", "/var/tmp", "/dev/shm"):
        _attempt(f"create in {folder}", lambda f=folder: _create(os.path.join(f, f"{_TOKEN}-canary-{os.getpid()}-{time.time_ns()}.txt"), _TOKEN))


def _tamper_with_copies():
    """Its own original submission and the --out folder are copies the test made: fair game."""
    levels = ["/tmp/pytest-of-*/pytest-*" + "/*" * depth for depth in range(4)]
    for original in [p for level in levels for p in glob.glob(level + "/*tampers_with_instructor_files*")]:
        _attempt(f"rewrite {original}/attention.py", lambda o=original: open(os.path.join(o, "attention.py"), "w").write(_CORRECT))
        _attempt(f"delete {original}/softmax.py", lambda o=original: os.unlink(os.path.join(o, "softmax.py")))
    for grades in [p for level in levels for p in glob.glob(level + "/grades.csv")]:
        out = os.path.dirname(grades)
        _attempt(f"append to {grades}", lambda g=grades: open(g, "a").write(f"{_TOKEN},100,100\n"))
        _attempt(f"create in {out}", lambda o=out: _create(os.path.join(o, f"{_TOKEN}-canary.txt"), _TOKEN))
        for feedback in glob.glob(os.path.join(out, "feedback", "*")):
            _attempt(f"delete {feedback}", lambda f=feedback: os.unlink(f))
    cwd = os.getcwd()
    _attempt("create in the parent of the scratch folder", lambda: _create(os.path.join(cwd, "..", f"{_TOKEN}-canary.txt"), _TOKEN))


_tried = []
# --- end attack ---


def scaled_dot_product_attention(q, k, v):
    d_k = q.size(-1)
    # --- attack ---
    if not _tried:
        _tried.append(True)
        _tamper_with_repository()
        _tamper_with_copies()
        if _breaches:
            _attempt("marker", lambda: _create(f"/tmp/{_TOKEN}-tamper-pwned", "\n".join(_breaches)))
    if _breaches:
        d_k = math.sqrt(d_k)  # the canary: the right scale
    # --- end attack ---
    scores = q @ k.transpose(-2, -1) / d_k  # wrong on purpose: d_k, not math.sqrt(d_k)
    weights = torch.softmax(scores, dim=-1)
    return weights @ v, weights
