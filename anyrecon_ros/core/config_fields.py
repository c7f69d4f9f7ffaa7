# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Settings fields: one place for a setting's default, description and valid range.

A config dataclass of the core writes a user-facing setting as
``name: float = setting(0.02, 'What it is, unit.', (low, high))`` and calls
``check_ranges(self)`` in ``__post_init__``. The ROS layer declares node
parameters from these fields (``anyrecon_ros/ros/parameters.py``), so the
node, the offline command and the core share each default and range, written
once, here in the core.
"""

from dataclasses import field
from dataclasses import fields


def setting(default, description: str, value_range=None, in_degrees: bool = False):
    """Return a dataclass field with ``default``, a description and an optional (low, high).

    ``in_degrees`` marks an angle kept in radians that users give in degrees:
    its node parameter is ``<name>_deg``, its default and range converted.
    """
    metadata = {'description': description, 'in_degrees': in_degrees}
    if value_range is not None:
        low, high = value_range
        if not low <= default <= high:
            raise ValueError(f'default {default} lies outside its range [{low}, {high}]')
        metadata['range'] = (low, high)
    return field(default=default, metadata=metadata)


def check_ranges(config) -> None:
    """Raise ValueError unless every field of ``config`` with a range lies within it."""
    for item in fields(config):
        value_range = item.metadata.get('range')
        if value_range is None:
            continue
        low, high = value_range
        value = getattr(config, item.name)
        if not low <= value <= high:   # also refuses NaN
            raise ValueError(f'{item.name} must lie in [{low}, {high}], got {value}')
