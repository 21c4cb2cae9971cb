"""The warm-heap setting: large tensors come from the heap (no fresh pages per call), and the rows say so."""

import subprocess
import sys
import textwrap

import pytest

from benchsuite.measure.allocator import WARM_HEAP

# In a fresh process: hold a 64 MiB tensor and report how many bytes glibc serves by mmap (mallinfo2().hblkhd).
PROBE = textwrap.dedent('''
    import ctypes, torch
    from benchsuite.measure.allocator import warm_heap

    class MallInfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in
                    ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                     "keepcost")]

    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = MallInfo2
    print(warm_heap())
    before = libc.mallinfo2().hblkhd
    held = torch.empty(64 << 20, dtype=torch.uint8)
    print(libc.mallinfo2().hblkhd - before)
''')


def _probe(env):
    import os

    proc = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=120)
    assert proc.returncode == 0, proc.stderr
    setting, mmapped = proc.stdout.strip().splitlines()
    return setting, int(mmapped)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_warm_heap_serves_large_tensors_from_the_heap_and_system_keeps_mmap():
    setting, mmapped = _probe({})
    assert setting == WARM_HEAP and mmapped < 1 << 20
    setting, mmapped = _probe({"BENCHSUITE_ALLOCATOR": "system"})
    assert setting.startswith("system") and mmapped >= 64 << 20
