# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Launch files, configuration, RViz and node executables agree with each other.

The launch files are read here (test_ros2_launch.py runs them with ros2
launch): every executable they start exists, every file they name is
installed, every argument is used, and ``anyrecon demo`` starts the nodes of
``demo.launch.py`` with the same parameter files and remappings. The node
list is ``anyrecon_ros/ros/nodes.py`` everywhere, and config/anyrecon.yaml is
exactly what the nodes declare (shared parameters once, under ``/**``).
"""

import ast
import importlib
import json
import os
from pathlib import Path
import re
import runpy
import shutil
import subprocess
import sys
import textwrap

import pytest
import rclpy
from rclpy.qos import DurabilityPolicy
from rclpy.qos import ReliabilityPolicy
import setuptools
from test_parameters import declared_by_every_node   # this folder's test module
import yaml

from anyrecon_ros.cli import main as cli_main
from anyrecon_ros.cli.demo import node_arguments
from anyrecon_ros.cli.demo import PARAMETER_FILES
from anyrecon_ros.ros.graph import DEMO_NODES
from anyrecon_ros.ros.graph import LOOP_NODES
from anyrecon_ros.ros.graph import REMAPPINGS
from anyrecon_ros.ros.graph import SOURCE_NODES
from anyrecon_ros.ros.nodes import NODES
from anyrecon_ros.ros.parameters import declared_parameters

ROOT = Path(__file__).resolve().parents[2]
LAUNCH = ROOT / 'launch'
CONFIG = ROOT / 'config'
CLASSES = {'memory_node': 'MemoryNode', 'planner_node': 'PlannerNode',
           'generator_node': 'GeneratorNode', 'synthetic_camera': 'SyntheticCamera'}
# Set to rewrite config/anyrecon.yaml from what the nodes declare.
WRITE_CONFIG = 'ANYRECON_WRITE_CONFIG'
# The parameter-file section every node reads (rcl's wildcard for any node name).
ALL_NODES = '/**'
CONFIG_HEADER = """\
# Parameters of the anyrecon_ros nodes and their defaults; docs/nodes.md lists them too. Each
# comment is the parameter's description (test/ros/test_launch_config.py checks this file
# against what the nodes declare). Parameters several nodes share are given once, under /**,
# which every node reads. Launch files apply their params_file on top of this file;
# config/demo.yaml holds the demo's changes.
"""


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


def names_used(tree):
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}


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


def setup_console_scripts(monkeypatch) -> list:
    """Return the console scripts setup.py declares (run with setuptools.setup caught)."""
    captured = {}
    monkeypatch.setattr(setuptools, 'setup', lambda **arguments: captured.update(arguments))
    runpy.run_path(str(ROOT / 'setup.py'))
    return captured['entry_points']['console_scripts']


def test_one_node_list_serves_setup_cmake_cli_demo_and_launch(monkeypatch):
    assert cli_main.NODES is NODES and DEMO_NODES is NODES
    assert set(NODES) == set(CLASSES) == set(REMAPPINGS)
    assert set(LOOP_NODES) | set(SOURCE_NODES) == set(NODES)
    assert not set(LOOP_NODES) & set(SOURCE_NODES)
    assert sorted(setup_console_scripts(monkeypatch)) == sorted(
        ['anyrecon = anyrecon_ros.cli.main:main']
        + [f'{name} = anyrecon_ros.ros.{name}:main' for name in NODES])
    # CMake reads the list from nodes.py and names no node itself.
    cmake_lists = (ROOT / 'CMakeLists.txt').read_text()
    assert 'include(cmake/anyrecon_nodes.cmake)' in cmake_lists
    assert not {name for name in NODES if name in cmake_lists}
    main_launch = launch_tree('anyrecon.launch.py')
    assert set(module_constant(main_launch, 'NODE_ARGUMENTS')) <= set(LOOP_NODES)
    assert 'LOOP_NODES' in names_used(main_launch)
    assert 'SOURCE_NODES' in names_used(launch_tree('demo.launch.py'))
    # RViz is the only executable of another package, and no launch file names a node.
    assert keyword_values(main_launch, 'executable') == {'rviz2'}
    assert not keyword_values(launch_tree('demo.launch.py'), 'executable')


@pytest.mark.skipif(shutil.which('cmake') is None, reason='cmake is not installed')
def test_cmake_reads_the_node_list():
    result = subprocess.run(['cmake', f'-DPython3_EXECUTABLE={sys.executable}', '-P',
                             str(ROOT / 'cmake' / 'anyrecon_nodes.cmake')],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip().split(';') == list(NODES)


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
            value = node_parameters(config, node)[name]
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
        assert 'REMAPPINGS' in names_used(launch_tree(name))
    for name in DEMO_NODES:
        arguments = node_arguments(name)
        assert arguments.count('--params-file') == 2
        remaps = [arguments[i + 1] for i, arg in enumerate(arguments) if arg == '-r']
        assert remaps == [f'{source}:={target}' for source, target in REMAPPINGS[name]]


def node_parameters(config: dict, node: str) -> dict:
    """Return the parameters a parameter file gives ``node``: its section over ``/**``."""
    return {**config.get(ALL_NODES, {}).get('ros__parameters', {}),
            **config.get(node, {}).get('ros__parameters', {})}


def configured_nodes():
    """Return (node, config file) for every node and shipped parameter file."""
    return [(name, config_file) for config_file in ('anyrecon.yaml', 'demo.yaml')
            for name in NODES]


def test_main_config_configures_every_node():
    assert set(yaml.safe_load((CONFIG / 'anyrecon.yaml').read_text())) == {ALL_NODES, *NODES}
    assert set(yaml.safe_load((CONFIG / 'demo.yaml').read_text())) <= {ALL_NODES, *NODES}


@pytest.mark.parametrize('name, config_file', configured_nodes())
def test_config_parameters_are_declared_by_the_node(name, config_file):
    config = yaml.safe_load((CONFIG / config_file).read_text())
    own = config.get(name, {}).get('ros__parameters', {})
    parameters = node_parameters(config, name)
    context = rclpy.Context()
    rclpy.init(context=context, args=['--ros-args', '--params-file', str(CONFIG / config_file)])
    try:
        node = node_class(name)(context=context)
        declared = declared_parameters(node)
        node.destroy_node()
    finally:
        rclpy.shutdown(context=context)
    # A node's own section holds only what it declares; /** may hold what it does not.
    assert set(own) <= set(declared), set(own) - set(declared)
    for key, value in parameters.items():
        if key in declared:
            assert declared[key][0] == value, key
    for key, (_, _, description) in declared.items():
        assert description, f'{key} has no description'
    # A node section repeats no /** parameter: shared ones are given once.
    assert not set(own) & set(config.get(ALL_NODES, {}).get('ros__parameters', {}))
    if config_file == 'anyrecon.yaml':
        # Every parameter a node declares is in the main config, with its default.
        missing = set(declared) - set(parameters)
        assert not missing, f'{name}: not in config/anyrecon.yaml: {sorted(missing)}'


def yaml_value(value) -> str:
    """Return ``value`` as config/anyrecon.yaml writes it."""
    if isinstance(value, bool):
        return str(value).lower()
    return json.dumps(value) if isinstance(value, str) else repr(value)


def render_main_config(declared: dict) -> str:
    """Return config/anyrecon.yaml for ``{node: declared parameters}``.

    A parameter several nodes declare alike (default, range, description) goes
    under ``/**``, once; every other under its node, each with its description.
    """
    specs = {}
    for parameters in declared.values():
        for name, spec in parameters.items():
            specs.setdefault(name, []).append(spec)
    shared = {name for name, found in specs.items() if len(found) > 1 and len(set(found)) == 1}
    sections = [(ALL_NODES, {name: specs[name][0] for name in shared})]
    sections += [(node, {name: spec for name, spec in declared[node].items()
                         if name not in shared}) for node in NODES]
    lines = [CONFIG_HEADER]
    for section, parameters in sections:
        lines += [f'{section}:', '  ros__parameters:']
        for name, (value, _, description) in sorted(parameters.items()):
            lines += textwrap.wrap(description, width=95, initial_indent='    # ',
                                   subsequent_indent='    # ')
            lines.append(f'    {name}: {yaml_value(value)}')
        lines.append('')
    return '\n'.join(lines)


def test_main_config_is_what_the_nodes_declare():
    expected = render_main_config(declared_by_every_node())
    if os.environ.get(WRITE_CONFIG):
        (CONFIG / 'anyrecon.yaml').write_text(expected)
    assert (CONFIG / 'anyrecon.yaml').read_text() == expected, (
        f'config/anyrecon.yaml is not what the nodes declare; {WRITE_CONFIG}=1 pytest '
        f'{Path(__file__).relative_to(ROOT)} -k main_config_is rewrites it')
    shared = yaml.safe_load(expected)[ALL_NODES]['ros__parameters']
    assert set(shared) == {'frame_id', 'keyframe_ram_mib', 'sensor_reliable', 'segment_length',
                           'voxel_size'}


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
