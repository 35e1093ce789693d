"""The worker's collector settings (``chargewatch.collector``), in a child
interpreter: freezing and thresholds are process-wide."""

from __future__ import annotations

import subprocess
import sys

from chargewatch.collector import YOUNG_THRESHOLD


def test_start_up_objects_are_frozen_and_the_young_generation_collected_less_often() -> None:
    code = (
        "import gc\n"
        "from chargewatch.collector import tune_collector\n"
        "before = gc.get_threshold()\n"
        "tune_collector()\n"
        "print(gc.get_freeze_count(), *before, *gc.get_threshold())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    frozen, *thresholds = map(int, out.stdout.split())
    before, after = thresholds[:3], thresholds[3:]
    assert frozen > 1_000  # the modules imported so far, out of the collector's sight
    assert after == [YOUNG_THRESHOLD, *before[1:]]  # only the young generation changes
    assert before[0] < YOUNG_THRESHOLD
