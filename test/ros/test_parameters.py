# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Each default is written once: nodes declare the core's config defaults, never a copy.

A node parameter that mirrors a field of a core config dataclass (a field
written with ``core.config_fields.setting``) must have that field's default,
range and description, read from a fresh dataclass here, not from the node;
retyping a different value in a node fails ``test_core_defaults``.
"""

from dataclasses import fields
import math

import pytest
import rclpy
from rclpy.node import Node

from anyrecon_ros.core.bounded_bank import BankConfig
from anyrecon_ros.core.config_fields import setting
from anyrecon_ros.core.fusion_gate import GateConfig
from anyrecon_ros.core.geometry_memory import MemoryConfig
from anyrecon_ros.core.mapping import MappingConfig
from anyrecon_ros.core.planning import CoverageConfig
from anyrecon_ros.core.stamp_pairing import PairingConfig
from anyrecon_ros.core.stamp_pairing import StampPairer
from anyrecon_ros.loop.offline import OfflineSettings
from anyrecon_ros.loop.reconstruction import LoopConfig
from anyrecon_ros.model.pipelines.generator import GeneratorSettings
from anyrecon_ros.ros.generator_node import GeneratorNode
from anyrecon_ros.ros.memory_node import MemoryNode
from anyrecon_ros.ros.nodes import NODES
from anyrecon_ros.ros.parameters import declare
from anyrecon_ros.ros.parameters import declare_config
from anyrecon_ros.ros.parameters import declared_parameters
from anyrecon_ros.ros.planner_node import PlannerNode
from anyrecon_ros.ros.synthetic_camera import SyntheticCamera

CLASSES = {'memory_node': MemoryNode, 'planner_node': PlannerNode,
           'generator_node': GeneratorNode, 'synthetic_camera': SyntheticCamera}
# Per node: the core configs it declares parameters from (all their described
# fields, or the ones named).
CONFIGS = {
    'memory_node': [(MemoryConfig, None), (MappingConfig, None), (BankConfig, None),
                    (PairingConfig, None)],
    'planner_node': [(CoverageConfig, None), (MemoryConfig, ('voxel_size',))],
    'generator_node': [(GeneratorSettings, None), (LoopConfig, None), (GateConfig, None),
                       (MemoryConfig, ('voxel_size',)), (BankConfig, None)],
    'synthetic_camera': [],
}
# Configs that check their own ranges in __post_init__ (GeneratorSettings is
# checked when a generator loads, ViewGenerator.load).
VALIDATING = (MemoryConfig, MappingConfig, PairingConfig, CoverageConfig, LoopConfig,
              GateConfig, BankConfig)
# The same name with another meaning in each node that has it.
DISTINCT = {'seed'}


def described(config_class, names=None):
    """Return the fields of ``config_class`` that are node parameters."""
    return [item for item in fields(config_class) if 'description' in item.metadata
            and (names is None or item.name in names)]


def expected_parameters(config_class, names=None) -> dict:
    """Return ``{parameter: (default, range, description)}`` straight from the dataclass."""
    config, expected = config_class(), {}
    for item in described(config_class, names):
        default, value_range = getattr(config, item.name), item.metadata.get('range')
        name = item.name
        if item.metadata['in_degrees']:
            name, default = name + '_deg', round(math.degrees(default), 9)
            value_range = tuple(round(math.degrees(bound), 9) for bound in value_range)
        expected[name] = (default, value_range, item.metadata['description'])
    return expected


def mismatches(declared: dict, configs) -> list:
    """Return what a node's declared parameters get wrong about its core configs."""
    wrong = []
    for config_class, names in configs:
        for name, (default, value_range, description) in expected_parameters(
                config_class, names).items():
            if name not in declared:
                wrong.append(f'{name}: not declared')
                continue
            value, declared_range, declared_description = declared[name]
            if value != default or type(value) is not type(default):
                wrong.append(f'{name}: default {value!r}, the core says {default!r}')
            if (declared_range and tuple(declared_range)) != value_range:
                wrong.append(f'{name}: range {declared_range}, the core says {value_range}')
            if declared_description != description:
                wrong.append(f'{name}: description differs from the core field')
    return wrong


def declared_by_every_node() -> dict:
    """Return ``{node: declared parameters}``, every node made with no parameter file."""
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        result = {}
        for name in NODES:
            node = CLASSES[name](context=context)
            result[name] = declared_parameters(node)
            node.destroy_node()
        return result
    finally:
        rclpy.shutdown(context=context)


@pytest.fixture(scope='module')
def declared():
    """Return ``{node: declared parameters}`` (see ``declared_by_every_node``)."""
    return declared_by_every_node()


def test_every_node_is_covered():
    assert set(CONFIGS) == set(CLASSES) == set(NODES)


@pytest.mark.parametrize('name', NODES)
def test_core_defaults(declared, name):
    assert not mismatches(declared[name], CONFIGS[name])


def test_every_core_setting_is_a_parameter_of_some_node():
    configured = {config_class: set() for config_class, _ in sum(CONFIGS.values(), [])}
    for configs in CONFIGS.values():
        for config_class, names in configs:
            configured[config_class] |= {item.name for item in described(config_class, names)}
    for config_class, names in configured.items():
        assert names == {item.name for item in described(config_class)}, config_class


def test_a_retyped_default_is_caught():
    class Retyped(Node):
        def __init__(self, **kwargs):
            super().__init__('retyped', **kwargs)
            declare(self, 'voxel_size', 0.03, MemoryConfig.__dataclass_fields__[
                'voxel_size'].metadata['description'], (0.001, 1.0))

    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        node = Retyped(context=context)
        wrong = mismatches(declared_parameters(node), [(MemoryConfig, ('voxel_size',))])
        node.destroy_node()
    finally:
        rclpy.shutdown(context=context)
    assert wrong == ['voxel_size: default 0.03, the core says 0.02']


def test_shared_names_mean_the_same_everywhere(declared):
    by_name = {}
    for parameters in declared.values():
        for name, spec in parameters.items():
            by_name.setdefault(name, []).append(spec)
    shared = {name for name, specs in by_name.items() if len(specs) > 1}
    assert shared - DISTINCT == {'frame_id', 'voxel_size', 'segment_length', 'sensor_reliable',
                                 'keyframe_ram_mib'}
    for name in shared - DISTINCT:
        assert len(set(by_name[name])) == 1, name


@pytest.mark.parametrize('config_class', VALIDATING, ids=lambda c: c.__name__)
def test_ranges_are_what_the_dataclass_accepts(config_class):
    config_class()   # the defaults pass
    for item in described(config_class):
        if 'range' not in item.metadata:
            continue
        low, high = item.metadata['range']
        step = 1 if isinstance(low, int) else 1e-6 * max(1.0, abs(high))
        for outside in (low - step, high + step):
            with pytest.raises(ValueError, match=item.name):
                config_class(**{item.name: outside})


def test_a_default_outside_its_range_is_refused():
    with pytest.raises(ValueError, match='outside its range'):
        setting(2.0, 'too big', (0.0, 1.0))


def test_declare_config_converts_degrees_and_reads_values_back():
    context = rclpy.Context()
    rclpy.init(context=context, args=['--ros-args', '-p', 'max_rotation_step_deg:=6.0',
                                      '-p', 'n_candidates:=7'])
    try:
        node = Node('coverage', context=context)
        config = declare_config(node, CoverageConfig())
        node.destroy_node()
    finally:
        rclpy.shutdown(context=context)
    assert config.max_rotation_step == pytest.approx(math.radians(6.0))
    assert config.n_candidates == 7


def test_known_drift_is_gone():
    # The documented fusion weight of generated views, in the core the offline
    # command uses, and offline maps like the live memory node.
    assert MemoryConfig().generated_weight == 0.3
    assert OfflineSettings().memory == MemoryConfig()
    assert OfflineSettings().slop == PairingConfig().slop
    pairer = StampPairer()
    assert pairer.slop_ns == round(PairingConfig().slop * 1e9)
    assert pairer.queue_size == PairingConfig().frame_queue_size
    assert LoopConfig().segment_length == CoverageConfig().segment_length
