"""Example per-item functions for `--workload` (deterministic, picklable, comparable results).

    python -m bench run --workload bench.examples.workloads:cpu_bound --items 20000
    python -m bench run --workload bench.examples.workloads:large_result --items 5000

Any module works the same way: MODULE:FUNCTION names a function of one item; the items are
range(--items N), or the list that --items-from MODULE:FUNCTION returns. The module must be
importable by the workers: with the embedded Ray its directory (and the CWD) is put on their
PYTHONPATH; on an existing cluster it must be importable on every node (installed there, or
shipped with `ray job submit --working-dir DIR -- python -m bench run --workload ...`).
"""

from __future__ import annotations

import hashlib

CPU_ROUNDS = 350  # ~50 µs of pure-Python arithmetic per item on a ~3 GHz core
LARGE_RESULT_BYTES = 4096


def cpu_bound(i: int) -> int:
    """About 50 µs of CPU per item: an integer hash mixed CPU_ROUNDS times (deterministic)."""
    x = (i * 2654435761 + 1) & 0xFFFFFFFF
    for _ in range(CPU_ROUNDS):
        x = (x * 1103515245 + 12345) & 0xFFFFFFFF
        x ^= x >> 13
    return x


def large_result(i: int) -> bytes:
    """A few KB per item (LARGE_RESULT_BYTES of a SHA-256 stream seeded by i): little work, much data
    to send back, so the per-task payload, not the per-task overhead, sets the batch size."""
    seed = hashlib.sha256(i.to_bytes(8, "little")).digest()
    blocks = -(-LARGE_RESULT_BYTES // len(seed))
    return b"".join(hashlib.sha256(seed + k.to_bytes(4, "little")).digest() for k in range(blocks))[:LARGE_RESULT_BYTES]


def small_items() -> list[int]:
    """An --items-from example: a short, non-contiguous list of items."""
    return [3 * k + 1 for k in range(500)]
