# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Timing the bench's figures: the median of repeated runs."""

import statistics
import time


def median_ms(function, repeats: int) -> float:
    """Return the median wall time of ``function()`` in milliseconds (after one warm-up)."""
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times)
