# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Counts of rejected inputs by reason, reported instead of hidden."""

from collections import Counter


class DropCounter:
    """Count dropped inputs per reason (a short snake_case word such as ``bad_pose``)."""

    def __init__(self):
        self._counts = Counter()

    def add(self, reason: str, count: int = 1) -> int:
        """Count ``count`` drops for ``reason`` and return how many there have been for it."""
        self._counts[reason] += count
        return self._counts[reason]

    def __getitem__(self, reason: str) -> int:
        return self._counts[reason]

    def total(self) -> int:
        """Return the number of drops over all reasons."""
        return sum(self._counts.values())

    def items(self):
        """Return (reason, count) pairs sorted by reason."""
        return sorted(self._counts.items())
