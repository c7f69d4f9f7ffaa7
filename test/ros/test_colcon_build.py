# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The ROS 2 way: colcon builds the package in a workspace, and its nodes run from there."""

import os
from pathlib import Path
import shutil
import subprocess
import sys

import pytest

from anyrecon_ros.cli.main import NODES
from anyrecon_ros.msg import MemoryStatus
from anyrecon_ros.ros.qos import status_qos

ROOT = Path(__file__).resolve().parents[2]
PYTHON_DIR = f'python{sys.version_info.major}.{sys.version_info.minor}'


def copy_sources(destination: Path):
    """Copy the files git tracks (or would), as a clone into src/ would have them."""
    listed = subprocess.run(['git', 'ls-files', '--cached', '--others', '--exclude-standard'],
                            cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for name in listed:
        if (ROOT / name).is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, destination / name)


@pytest.fixture(scope='module')
def install(tmp_path_factory):
    """Build the package with colcon in a fresh workspace; return its install prefix."""
    workspace = tmp_path_factory.mktemp('ws')
    copy_sources(workspace / 'src' / 'anyrecon_ros')
    colcon = Path(sys.executable).parent / 'colcon'
    result = subprocess.run(
        [str(colcon), 'build', '--cmake-args', '-DBUILD_TESTING=OFF',
         f'-DPython3_EXECUTABLE={sys.executable}'],
        cwd=workspace, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return workspace / 'install' / 'anyrecon_ros'


def install_environment(prefix: Path):
    """Return the environment ``source install/setup.bash`` would give, for this prefix."""
    env = dict(os.environ)
    env['AMENT_PREFIX_PATH'] = f'{prefix}{os.pathsep}{env.get("AMENT_PREFIX_PATH", "")}'
    env['LD_LIBRARY_PATH'] = f'{prefix / "lib"}{os.pathsep}{env.get("LD_LIBRARY_PATH", "")}'
    env['PYTHONPATH'] = str(prefix / 'lib' / PYTHON_DIR / 'site-packages')
    env['PATH'] = f'{Path(sys.executable).parent}{os.pathsep}{env["PATH"]}'
    env.pop('FASTDDS_DEFAULT_PROFILES_FILE', None)  # the node must find the installed one
    return env


def test_install_layout(install):
    package = install / 'lib' / PYTHON_DIR / 'site-packages' / 'anyrecon_ros'
    assert 'extend_path' in (package / '__init__.py').read_text()  # ours, not rosidl's
    assert (package / 'msg' / '_keyframe.py').is_file()
    assert (package / 'ros' / 'memory_node.py').is_file()
    for node in NODES:
        assert os.access(install / 'lib' / 'anyrecon_ros' / node, os.X_OK)
    share = install / 'share' / 'anyrecon_ros'
    for name in ('launch/anyrecon.launch.py', 'launch/demo.launch.py', 'config/anyrecon.yaml',
                 'config/demo.yaml', 'config/anyrecon.rviz', 'config/fastdds_shm.xml',
                 'package.xml', 'msg/Keyframe.msg', 'msg/GenerationProgress.msg'):
        assert (share / name).is_file(), name


def test_installed_package_imports_from_the_install_space(install):
    code = ('import anyrecon_ros, anyrecon_ros.msg, anyrecon_ros.core.view_bank\n'
            'from anyrecon_ros.ros.middleware import config_path\n'
            'print(anyrecon_ros.msg.__file__); print(anyrecon_ros.core.view_bank.__file__)\n'
            'print(config_path("fastdds_shm.xml"))')
    result = subprocess.run([sys.executable, '-c', code], env=install_environment(install),
                            cwd='/', capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    for line in result.stdout.split():
        assert line.startswith(str(install)), line


def test_installed_node_runs_over_dds(install, ros):
    process = subprocess.Popen(
        [str(install / 'lib' / 'anyrecon_ros' / 'memory_node'), '--ros-args',
         '-p', 'status_period:=0.2'],
        env=install_environment(install), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True)
    ros.processes.append(process)
    statuses = ros.collect(MemoryStatus, '/memory_node/status', status_qos())
    assert ros.spin_until(lambda: statuses, timeout=30), 'the installed memory_node is silent'
    assert statuses[-1].keyframe_count == 0
