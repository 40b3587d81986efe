"""The fork server's private memory in huge pages, so that each session's fork and exit cost less.

Every session forks the fork server twice (the session, then its PID namespace's init), and both
processes exit. Each time the kernel copies, then frees, one page-table entry per 4 KiB page of the
server's private memory: some 210 MB once PyTorch is imported, 54,000 entries. In 2 MiB pages the
same memory takes about a hundred. A session that writes to that memory still copies only the 4 KiB
it touches. Measured with ``bench/session_start.py``: see the README's speed section.

``collapse()`` asks the kernel for huge pages (``MADV_COLLAPSE``, Linux 6.1) over the aligned parts
of the writable anonymous mappings that are mostly in use already, so the server grows by at most a
quarter of each huge page (512 KiB of 2 MiB). Where the kernel cannot (no transparent huge pages, an
older kernel, no memory to spare) nothing changes but the time it took to ask; where it is slow
(memory so fragmented that each huge page needs compacting), it stops asking after ``BUDGET_S`` (it
took 0.3 s for 188 MB here).
"""

from __future__ import annotations

import ctypes
import mmap
import time


def _pmd_size() -> int:
    """The kernel's huge page size (2 MiB on x86-64; other sizes on some ARM kernels)."""
    try:
        with open("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size", encoding="ascii") as size:
            return int(size.read())
    except (OSError, ValueError):
        return 2 << 20


HUGE_PAGE = _pmd_size()
MADV_COLLAPSE = 25
MOSTLY_RESIDENT = 0.75  # a huge page is asked for only where this much of its memory is in use already
BUDGET_S = 2.0  # the fork server's start waits for this at most


def collapse(maps: str = "/proc/self/maps", budget_s: float = BUDGET_S) -> int:
    """Ask for huge pages where they pay, for ``budget_s`` at most; returns the bytes put in huge pages."""
    deadline = time.monotonic() + budget_s
    libc = ctypes.CDLL(None, use_errno=True)
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
    residency = (ctypes.c_ubyte * (HUGE_PAGE // mmap.PAGESIZE))()
    try:
        with open(maps, encoding="ascii") as lines:
            regions = [_anonymous_writable(line) for line in lines]
    except OSError:
        return 0
    collapsed = 0
    for start, end in filter(None, regions):
        for address in range(-(-start // HUGE_PAGE) * HUGE_PAGE, end - HUGE_PAGE + 1, HUGE_PAGE):
            if time.monotonic() > deadline:
                return collapsed
            if libc.mincore(address, HUGE_PAGE, residency) != 0:
                continue
            if sum(byte & 1 for byte in residency) < MOSTLY_RESIDENT * len(residency):
                continue
            # Not MADV_HUGEPAGE: the sessions' own new memory would then come in huge pages too.
            if libc.madvise(address, HUGE_PAGE, MADV_COLLAPSE) == 0:
                collapsed += HUGE_PAGE
    return collapsed


def _anonymous_writable(line: str) -> tuple[int, int] | None:
    """``(start, end)`` of a private writable mapping with no file behind it (the heap, arenas), else None."""
    fields = line.split()
    if len(fields) < 5 or fields[1] != "rw-p" or (len(fields) > 5 and fields[5] != "[heap]"):
        return None
    start, end = (int(bound, 16) for bound in fields[0].split("-"))
    return start, end
