"""The bench's CPU accounting by thread (``bench.harness.thread_cpu_seconds``).

No clock thresholds: a busy thread must move the CPU it used out of ``main``
and into ``other``, and the roles must add up to the process's own total.
"""

from __future__ import annotations

import os
import threading
import time

from bench.harness import cpu_seconds, thread_cpu_seconds

TICK_S = 1 / os.sysconf("SC_CLK_TCK")


def _spin(seconds: float) -> None:
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def test_a_side_thread_is_counted_apart_from_the_main_thread() -> None:
    pid = os.getpid()
    before = thread_cpu_seconds(pid)
    worker = threading.Thread(target=_spin, args=(0.3,))
    worker.start()
    worker.join()  # ended: its CPU must still be counted, in "other"
    after = thread_cpu_seconds(pid)

    other = after["other"] - before["other"]
    main = after["main"] - before["main"]
    assert other >= 0.3 - 2 * TICK_S
    assert main < other  # the main thread only waited for it
    assert after["librdkafka"] == before["librdkafka"]


def test_the_roles_add_up_to_the_process_total() -> None:
    _spin(0.05)
    split = thread_cpu_seconds(os.getpid())
    total = cpu_seconds(os.getpid())
    assert set(split) == {"main", "librdkafka", "other"}
    assert abs(sum(split.values()) - total) <= 2 * TICK_S
    assert split["main"] > 0
