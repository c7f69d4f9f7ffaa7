# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Launch files, configuration, RViz and node executables agree with each other.

launch_ros is not installable here, so the launch files are read, not run:
every executable they start exists, every file they name is installed,
every argument is used, and ``anyrecon demo`` starts the nodes of
``demo.launch.py`` with the same parameter files and remappings.
"""

import ast
import importlib
from pathlib import Path
import re

import pytest
import rclpy
from rclpy.qos import DurabilityPolicy
from rclpy.qos import ReliabilityPolicy
import yaml

from anyrecon_ros.cli.demo import node_arguments
from anyrecon_ros.cli.demo import PARAMETER_FILES
from anyrecon_ros.cli.main import NODES
from anyrecon_ros.ros.graph import DEMO_NODES
from anyrecon_ros.ros.graph import REMAPPINGS

ROOT = Path(__file__).resolve().parents[2]
LAUNCH = ROOT / 'launch'
CONFIG = ROOT / 'config'
CLASSES = {'memory_node': 'MemoryNode', 'planner_node': 'PlannerNode',
           'generator_node': 'GeneratorNode', 'synthetic_camera': 'SyntheticCamera'}


def node_class(name):
    """Return the node class of executable ``name``."""
    return getattr(importlib.import_module(f'anyrecon_ros.ros.{name}'), CLASSES[name])


def launch_tree(name):
    return ast.parse((LAUNCH / name).read_text())


def string_constants(tree):
    return {node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)}


def keyword_values(tree, keyword):
    return {node.value.value for node in ast.walk(tree)
            if isinstance(node, ast.keyword) and node.arg == keyword
            and isinstance(node.value, ast.Constant)}


def module_constant(tree, name):
    """Return the literal value of a module-level assignment in a launch file."""
    for node in tree.body:
        if isinstance(node, ast.Assign) and node.targets[0].id == name:
            return ast.literal_eval(node.value)
    raise KeyError(name)


def launch_configurations(tree):
    return {node.args[0].value for node in ast.walk(tree)
            if isinstance(node, ast.Call) and getattr(node.func, 'id', '') == 'LaunchConfiguration'
            and node.args and isinstance(node.args[0], ast.Constant)}


def test_every_node_is_installed_both_ways_and_launched():
    cmake_nodes = re.search(r'set\(ANYRECON_NODES ([^)]*)\)',
                            (ROOT / 'CMakeLists.txt').read_text()).group(1).split()
    setup_py = (ROOT / 'setup.py').read_text()
    assert set(cmake_nodes) == set(NODES) == set(CLASSES) == set(DEMO_NODES)
    for name in NODES:
        assert f"'{name} = anyrecon_ros.ros.{name}:main'" in setup_py
    main_launch = launch_tree('anyrecon.launch.py')
    started = set(module_constant(main_launch, 'NODE_ARGUMENTS'))
    started |= keyword_values(launch_tree('demo.launch.py'), 'executable')
    assert started == set(NODES)
    # RViz is the only executable of another package.
    assert keyword_values(main_launch, 'executable') == {'rviz2'}


def test_launch_files_name_only_installed_files():
    # CMake installs launch/ and config/ whole into share/anyrecon_ros.
    assert 'install(DIRECTORY launch config DESTINATION share/${PROJECT_NAME})' in (
        ROOT / 'CMakeLists.txt').read_text()
    for name in ('anyrecon.launch.py', 'demo.launch.py'):
        named = {value for value in string_constants(launch_tree(name))
                 if re.fullmatch(r'[\w.]+\.(yaml|rviz|xml|launch\.py)', value)}
        assert named, name
        for file_name in named:
            assert (CONFIG / file_name).is_file() or (LAUNCH / file_name).is_file(), file_name


def test_every_launch_argument_is_used_and_defaults_match_the_config():
    tree = launch_tree('anyrecon.launch.py')
    arguments = module_constant(tree, 'ARGUMENTS')
    node_arguments_ = module_constant(tree, 'NODE_ARGUMENTS')
    assert set(arguments) == {'namespace', 'params_file', 'pose_source', 'use_depth',
                              'backend', 'device', 'rviz'}
    used = launch_configurations(tree) | {argument for names in node_arguments_.values()
                                          for argument in names}
    assert set(arguments) <= used
    config = yaml.safe_load((CONFIG / 'anyrecon.yaml').read_text())
    for node, names in node_arguments_.items():
        for name in names:
            value = config[node]['ros__parameters'][name]
            assert arguments[name][0] == (str(value).lower() if isinstance(value, bool)
                                          else str(value)), name
    demo = launch_tree('demo.launch.py')
    assert launch_configurations(demo) == {'rviz'}


def test_demo_starts_what_demo_launch_starts():
    demo = launch_tree('demo.launch.py')
    # demo.launch.py includes anyrecon.launch.py with demo.yaml, on top of anyrecon.yaml.
    assert {'anyrecon.launch.py', *PARAMETER_FILES} <= string_constants(demo)
    assert PARAMETER_FILES == ('anyrecon.yaml', 'demo.yaml')
    for name in ('anyrecon.launch.py', 'demo.launch.py'):
        assert 'REMAPPINGS' in {node.id for node in ast.walk(launch_tree(name))
                                if isinstance(node, ast.Name)}
    for name in DEMO_NODES:
        arguments = node_arguments(name)
        assert arguments.count('--params-file') == 2
        remaps = [arguments[i + 1] for i, arg in enumerate(arguments) if arg == '-r']
        assert remaps == [f'{source}:={target}' for source, target in REMAPPINGS[name]]


def configured_nodes():
    """Return (node, config file) for every node section of the shipped parameter files."""
    return [(name, config_file) for config_file in ('anyrecon.yaml', 'demo.yaml')
            for name in yaml.safe_load((CONFIG / config_file).read_text())]


def test_main_config_configures_every_node():
    assert set(yaml.safe_load((CONFIG / 'anyrecon.yaml').read_text())) == set(NODES)
    assert set(yaml.safe_load((CONFIG / 'demo.yaml').read_text())) <= set(NODES)


@pytest.mark.parametrize('name, config_file', configured_nodes())
def test_config_parameters_are_declared_by_the_node(name, config_file):
    config = yaml.safe_load((CONFIG / config_file).read_text())
    parameters = config[name]['ros__parameters']
    context = rclpy.Context()
    rclpy.init(context=context, args=['--ros-args', '--params-file', str(CONFIG / config_file)])
    try:
        node = node_class(name)(context=context)
        declared = set(node._parameters)
        assert set(parameters) <= declared, set(parameters) - declared
        for key, value in parameters.items():
            assert node.get_parameter(key).value == value
        for key in declared - {'use_sim_time', 'start_type_description_service'}:
            assert node.describe_parameter(key).description, f'{key} has no description'
        if config_file == 'anyrecon.yaml':
            # Every parameter a node declares is in the main config, with its default.
            missing = declared - set(parameters) - {'use_sim_time',
                                                    'start_type_description_service'}
            assert not missing, f'{name}: not in config/anyrecon.yaml: {sorted(missing)}'
        node.destroy_node()
    finally:
        rclpy.shutdown(context=context)


def test_rviz_displays_match_their_publishers():
    rviz = yaml.safe_load((CONFIG / 'anyrecon.rviz').read_text())
    displays = {display['Topic']['Value']: display['Topic']
                for display in rviz['Visualization Manager']['Displays'] if 'Topic' in display}
    assert set(displays) == {'/memory_node/memory', '/memory_node/markers',
                             '/planner_node/trajectory', '/generator_node/generated_image'}
    durability = {DurabilityPolicy.TRANSIENT_LOCAL: 'Transient Local',
                  DurabilityPolicy.VOLATILE: 'Volatile'}
    reliability = {ReliabilityPolicy.RELIABLE: 'Reliable',
                   ReliabilityPolicy.BEST_EFFORT: 'Best Effort'}
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        nodes = [node_class(name)(context=context)
                 for name in ('memory_node', 'planner_node', 'generator_node')]
        publishers = {publisher.topic_name: publisher.qos_profile
                      for node in nodes for publisher in node.publishers}
        for topic, display in displays.items():
            profile = publishers[topic]
            assert display['Reliability Policy'] == reliability[profile.reliability], topic
            assert display['Durability Policy'] == durability[profile.durability], topic
        for node in nodes:
            node.destroy_node()
    finally:
        rclpy.shutdown(context=context)
    assert rviz['Visualization Manager']['Global Options']['Fixed Frame'] == 'map'
