"""Does the fork server keep its memory in huge pages where the kernel allows, as root and as an ordinary
user, without growing by what it does not use?

Each session forks the server twice and both processes exit: the kernel copies and frees one page-table
entry per 4 KiB page of the server's private memory (``harness/huge_pages.py``), far fewer in 2 MiB pages.
"""

from __future__ import annotations

import mmap
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from grader.sandbox.harness import huge_pages
from grader.sandbox.runner import Runner
from tests.unprivileged import NOBODY, can_switch_user, run_as

REPO = Path(__file__).resolve().parent.parent
HUGE = huge_pages.HUGE_PAGE


def kernel_can_collapse() -> bool:
    enabled = Path("/sys/kernel/mm/transparent_hugepage/enabled")
    version = re.match(r"(\d+)\.(\d+)", platform.release())
    return (
        enabled.exists()
        and "[never]" not in enabled.read_text()
        and version is not None
        and tuple(int(part) for part in version.groups()) >= (6, 1)
    )


needs_huge_pages = pytest.mark.skipif(
    not kernel_can_collapse(), reason="needs transparent huge pages and MADV_COLLAPSE (Linux 6.1)"
)

# Maps a region of its own, in use wholly or in part, and asks for huge pages over it alone (a maps
# file naming that region), then prints the bytes collapsed and the region's resident and huge bytes.
REGION = """
import mmap, sys, tempfile
from grader.sandbox.harness import huge_pages

HUGE, share, budget_s = huge_pages.HUGE_PAGE, float(sys.argv[1]), float(sys.argv[2])
# Private (by default mmap shares its memory), with two whole aligned huge pages in it at least.
region = mmap.mmap(-1, 5 * HUGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
view = memoryview(region)
for offset in range(0, len(region), mmap.PAGESIZE):
    if (offset // mmap.PAGESIZE) % 100 < share * 100:
        view[offset] = 1
import ctypes
start = ctypes.addressof(ctypes.c_char.from_buffer(region))
with tempfile.NamedTemporaryFile("w", suffix=".maps") as maps:
    maps.write(f"{start:x}-{start + len(region):x} rw-p 00000000 00:00 0\\n")
    maps.flush()
    collapsed = huge_pages.collapse(maps.name, budget_s)
fields, inside = {}, False
for line in open("/proc/self/smaps"):
    first = line.split()[0]
    if not first.endswith(":"):  # a mapping's header: LOW-HIGH perms ...
        low, high = (int(bound, 16) for bound in first.split("-"))
        inside = low < start + len(region) and start < high
    elif inside and first in ("Rss:", "AnonHugePages:"):
        fields[first] = fields.get(first, 0) + int(line.split()[1]) * 1024
print(collapsed, fields.get("Rss:", 0), fields.get("AnonHugePages:", 0))
"""


def region_after_collapse(share: float, run=None, budget_s: float = 10.0) -> tuple[int, int, int]:
    command = [sys.executable, "-c", REGION, str(share), str(budget_s)]
    if run is None:
        completed = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=60)
    else:
        completed = run(command)
    assert completed.returncode == 0, completed.stderr[-2000:]
    collapsed, resident, huge = (int(number) for number in completed.stdout.split())
    return collapsed, resident, huge


def test_only_private_writable_memory_without_a_file_is_a_candidate():
    assert huge_pages._anonymous_writable("7f00000000-7f00400000 rw-p 00000000 00:00 0") == (
        0x7F00000000,
        0x7F00400000,
    )
    assert huge_pages._anonymous_writable("55aa000000-55ab000000 rw-p 00000000 00:00 0    [heap]")
    for line in (
        "7f00000000-7f00400000 r--p 00000000 00:00 0",  # not writable
        "7f00000000-7f00400000 rw-s 00000000 00:05 12  /dev/zero (deleted)",  # shared
        "7f00000000-7f00400000 rw-p 0001c000 08:01 42  /usr/lib/libtorch_cpu.so",  # a file's data
        "7ffc00000000-7ffc00021000 rw-p 00000000 00:00 0  [stack]",
        "garbage",
    ):
        assert huge_pages._anonymous_writable(line) is None, line


def test_a_missing_maps_file_collapses_nothing(tmp_path):
    assert huge_pages.collapse(str(tmp_path / "absent")) == 0


@needs_huge_pages
def test_memory_in_use_goes_to_huge_pages():
    collapsed, resident, huge = region_after_collapse(1.0)
    assert collapsed >= 2 * HUGE and huge >= collapsed, (collapsed, resident, huge)


@needs_huge_pages
def test_memory_mostly_unused_is_left_alone_and_does_not_grow():
    collapsed, resident, huge = region_after_collapse(0.3)
    assert (collapsed, huge) == (0, 0)
    assert resident <= 0.35 * 5 * HUGE + mmap.PAGESIZE, resident


@needs_huge_pages
def test_asking_stops_once_its_time_is_up():
    # Memory so fragmented that each huge page needs compacting must not hold up the fork server's start.
    assert region_after_collapse(1.0, budget_s=0.0) == (0, 5 * HUGE, 0)


@needs_huge_pages
@pytest.mark.skipif(not can_switch_user(), reason="needs root, to become an ordinary user")
def test_an_ordinary_user_gets_huge_pages_too(tmp_path):
    home = Path(tempfile.mkdtemp(prefix="kit-huge-pages-"))  # pytest's own folder is closed to other users
    try:
        os.chmod(home, 0o755)
        os.chown(home, NOBODY, NOBODY)
        environment = {"PATH": os.defpath, "HOME": str(home), "TMPDIR": str(home), "LANG": "C.UTF-8"}

        def as_nobody(command):
            return run_as(command, uid=NOBODY, gid=NOBODY, groups=[], env=environment, cwd=REPO, timeout=60)

        collapsed, _, huge = region_after_collapse(1.0, run=as_nobody)
        assert collapsed >= 2 * HUGE and huge >= collapsed
    finally:
        shutil.rmtree(home, ignore_errors=True)


@needs_huge_pages
def test_the_fork_servers_heap_is_in_huge_pages(tmp_path):
    (tmp_path / "ping.py").write_text("def ping():\n    return 1\n")
    with Runner() as runner:
        with runner.open_session(tmp_path) as session:
            assert session.call("call_unwatched", {"module": "ping", "function": "ping", "args": []}).ok
        rollup = Path(f"/proc/{runner._zygote.pid}/smaps_rollup").read_text()
    huge_kb = int(re.search(r"AnonHugePages:\s+(\d+) kB", rollup).group(1))
    anonymous_kb = int(re.search(r"Anonymous:\s+(\d+) kB", rollup).group(1))
    assert huge_kb >= anonymous_kb / 2, rollup
