"""The process-wide memory setting of `eam-ser predict` and `eam-ser train` (a command's
choice, not the library's: a library must not change its host process's allocator)."""

from __future__ import annotations

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
ALLOCATOR_MMAP_THRESHOLD = 64 * 1024


def limit_allocator_growth() -> bool:
    """Keep a long run of variable-size batches from growing the process's memory (glibc).

    Segments of a long recording give batches of ever-different shapes; glibc's malloc then
    keeps freed buffers in a fragmented heap and raises its own mmap threshold, so the
    resident memory creeps up with the recording's length. This sets the mmap threshold to
    64 KiB and the trim threshold to 128 KiB (``mallopt``), so large buffers go back to the
    system when freed. Process-wide; `eam-ser predict` and `eam-ser train` call it. Returns
    False (and does nothing) where the C library is not glibc.
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(
        mallopt(M_MMAP_THRESHOLD, ALLOCATOR_MMAP_THRESHOLD)
        and mallopt(M_TRIM_THRESHOLD, 2 * ALLOCATOR_MMAP_THRESHOLD)
    )
