# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Parameter declaration with descriptors, so ``ros2 param describe`` tells the user.

Settings the core knows are declared from its config dataclasses
(``declare_config``): the default is the dataclass's, the description and
range the field's metadata (``anyrecon_ros/core/config_fields.py``), so no
node retypes a core default. Node-only parameters use ``declare``, each
default written once in its node.
"""

from dataclasses import fields
from dataclasses import replace
import math

from rcl_interfaces.msg import FloatingPointRange
from rcl_interfaces.msg import IntegerRange
from rcl_interfaces.msg import ParameterDescriptor

# Parameters with one meaning in every node that has them, given once for all
# nodes in config/anyrecon.yaml (``/**:``), as voxel_size and segment_length
# (from the core's configs) are: name -> (default, description).
SHARED_PARAMETERS = {
    'frame_id': ('map', 'Fixed frame (REP 105) of poses, keyframes, clouds and paths; input '
                 'in another frame is dropped.'),
    'sensor_reliable': (False, 'Camera and pose topics are reliable (recordings, slow links) '
                        'instead of best effort.'),
}
# An angle the core keeps in radians is a parameter in degrees, named with this suffix.
DEGREES_SUFFIX = '_deg'
# What rclpy declares in every node by itself.
RCLPY_PARAMETERS = ('use_sim_time', 'start_type_description_service')


def declare(node, name, default, description, value_range=None, read_only=True):
    """Declare ``name`` with a description and optional (low, high) range; return its value.

    The nodes read their parameters once, at start-up, so each is read-only:
    ``ros2 param set`` is refused saying so, instead of being accepted and
    ignored. Values given at start-up (YAML, ``-p``) are validated as declared.
    """
    descriptor = ParameterDescriptor(description=description, read_only=read_only)
    if value_range is not None:
        low, high = value_range
        if isinstance(default, bool) or not isinstance(default, (int, float)):
            raise TypeError(f'parameter {name}: a range needs a numeric default')
        if isinstance(default, int):
            descriptor.integer_range = [IntegerRange(from_value=low, to_value=high, step=0)]
        else:
            descriptor.floating_point_range = [
                FloatingPointRange(from_value=float(low), to_value=float(high), step=0.0)]
    return node.declare_parameter(name, default, descriptor).value


def declare_shared(node, name):
    """Declare the shared parameter ``name`` (one of SHARED_PARAMETERS); return its value."""
    default, description = SHARED_PARAMETERS[name]
    return declare(node, name, default, description)


def parameter_specs(config, names=None) -> dict:
    """Return ``{parameter: (default, range or None, description)}`` of a config dataclass.

    One parameter per field of ``config`` with a description (``names``: only
    these fields), its default ``config``'s value; an ``in_degrees`` field
    becomes ``<name>_deg`` in degrees. KeyError names a field that is no such.
    """
    described = {item.name: item for item in fields(config) if 'description' in item.metadata}
    unknown = [name for name in names or () if name not in described]
    if unknown:
        raise KeyError(f'{type(config).__name__} has no described field {", ".join(unknown)}')
    chosen = described.values() if names is None else [described[name] for name in names]
    specs = {}
    for item in chosen:
        default, value_range = getattr(config, item.name), item.metadata.get('range')
        if item.metadata.get('in_degrees'):
            specs[item.name + DEGREES_SUFFIX] = (
                _degrees(default), value_range and tuple(map(_degrees, value_range)),
                item.metadata['description'])
            continue
        if item.type in (float, 'float'):
            default = float(default)   # a float parameter, even where written as 1
        specs[item.name] = (default, value_range, item.metadata['description'])
    return specs


def declare_config(node, config, names=None):
    """Declare a parameter per described field of the dataclass ``config``; return it filled.

    The default is ``config``'s value of the field (pass ``SomeConfig()`` for
    the core default), the description and range are the field's metadata
    (see ``parameter_specs``). The values read back go through the dataclass
    again, so its own checks apply to them.
    """
    values = {}
    for name, (default, value_range, description) in parameter_specs(config, names).items():
        value = declare(node, name, default, description, value_range)
        if name.endswith(DEGREES_SUFFIX) and not hasattr(config, name):
            name, value = name[:-len(DEGREES_SUFFIX)], math.radians(value)
        values[name] = value
    return replace(config, **values)


def _degrees(radians: float) -> float:
    """Return ``radians`` in degrees, rounded: 3 degrees read 3.0, not 3.0000000000000004."""
    return round(math.degrees(radians), 9)


def declared_parameters(node) -> dict:
    """Return ``{name: (value, range or None, description)}`` of what ``node`` declared.

    rclpy's own parameters (``use_sim_time``, ...) are left out.
    """
    declared = {}
    for name in sorted(set(node.list_parameters([], 0).names) - set(RCLPY_PARAMETERS)):
        descriptor = node.describe_parameter(name)
        ranges = list(descriptor.integer_range) + list(descriptor.floating_point_range)
        declared[name] = (node.get_parameter(name).value,
                          (ranges[0].from_value, ranges[0].to_value) if ranges else None,
                          descriptor.description)
    return declared
