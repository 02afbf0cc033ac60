"""Make the process give freed memory back to the system (glibc's malloc; a no-op elsewhere).

A burst of booth uploads allocates hundreds of MB on many worker threads (photos, decoded
images, answers), then frees it. Under glibc's defaults the RSS stays up: each thread that met
contention gets its own arena (up to 8 per core), freed chunks stay inside the arenas, and the
dynamic mmap threshold rises to the size of the largest freed buffer, so later image-sized
buffers come from the arenas too. Measured with benchmarks/local_provider.py (a real server,
warm-up upload, two bursts of 100 simultaneous 1600 px uploads onto a Local slot, 2 cores,
RSS 3 s after each burst minus the idle RSS):

    glibc defaults                               +124 / +193 MB (and more each burst)
    M_ARENA_MAX=2                                 +65 / +60 MB
    M_MMAP_THRESHOLD=128 KiB (fixed)              +12..35 MB, but every image buffer is a
                                                  fresh mmap: ~3 300 page faults, +10 ms a job
    malloc_trim(0) after each Local job           the same page-fault cost; trimmed only when
                                                  the CPU limiter is idle: +73 / +96 MB (what
                                                  the request and answer free later stays)
    malloc_trim(0) once a second                  +18..38 MB
    M_ARENA_MAX=2 and malloc_trim(0) once a sec.  +4..18 MB, no page-fault cost in a burst
                                                  (freed memory is reused within the second)

So: few arenas, and a daemon thread that trims once a second (a trim takes microseconds when
there is nothing to give back). `boothai serve` calls `tune_allocator()` first thing.
"""

from __future__ import annotations

import ctypes
import os
import platform
import threading
import time

M_ARENA_MAX = -8  # mallopt parameter numbers, from glibc's malloc.h

_started = threading.Lock()
_trimmer: threading.Thread | None = None


def _glibc() -> ctypes.CDLL | None:
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


def tune_allocator(*, trim_every: float = 1.0) -> bool:
    """Limit the arenas (call before the worker threads start) and start the trimmer.
    Idempotent; False (and nothing done) where the C library is not glibc."""
    global _trimmer
    libc = _glibc()
    if libc is None:
        return False
    with _started:
        if _trimmer is not None:
            return True
        # Only `cores` CPU-bound threads run at once (shared.concurrency.CPU); the I/O threads
        # mostly wait, so sharing arenas costs little lock contention.
        libc.mallopt(M_ARENA_MAX, max(2, os.cpu_count() or 2))

        def trim() -> None:
            while True:
                time.sleep(trim_every)
                libc.malloc_trim(0)

        _trimmer = threading.Thread(target=trim, name="malloc-trim", daemon=True)
        _trimmer.start()
    return True
