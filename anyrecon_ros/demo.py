# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``anyrecon demo``: the nodes in their own processes, talking over real DDS.

The memory node and the keyframe player run as separate processes, as
``ros2 launch anyrecon_ros anyrecon.launch.py`` would start them; this process
watches ``/memory_node/status`` and ``/memory_node/keyframes`` and reports.
"""

import subprocess
import sys
import time

import rclpy

from anyrecon_ros.msg import Keyframe
from anyrecon_ros.msg import MemoryStatus
from anyrecon_ros.ros.middleware import config_path
from anyrecon_ros.ros.middleware import configure_dds_environment
from anyrecon_ros.ros.qos import keyframe_qos
from anyrecon_ros.ros.qos import status_qos


def node_command(module: str, *parameters: str):
    """Return the command that runs a node module with the package's parameter file."""
    command = [sys.executable, '-m', f'anyrecon_ros.ros.{module}', '--ros-args',
               '--params-file', str(config_path('anyrecon.yaml'))]
    for parameter in parameters:
        command += ['-p', parameter]
    return command


def run_demo(scene: str, frames: int, rate: float, timeout: float) -> int:
    """Play ``frames`` keyframes into the memory node; 0 once all are stored."""
    configure_dds_environment()
    processes = [
        subprocess.Popen(node_command('memory_node')),
        subprocess.Popen(node_command('keyframe_player', f'scene:={scene}',
                                      f'frames:={frames}', f'rate:={rate}')),
    ]
    rclpy.init()
    node = rclpy.create_node('anyrecon_demo')
    statuses, echoed = [], []
    node.create_subscription(MemoryStatus, '/memory_node/status', statuses.append, status_qos())
    node.create_subscription(Keyframe, '/memory_node/keyframes',
                             lambda msg: echoed.append(msg.id), keyframe_qos())
    try:
        done = _wait(node, lambda: statuses and statuses[-1].keyframe_count >= frames,
                     timeout, processes)
        _report(statuses, echoed, frames)
        return 0 if done else 1
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
        _stop(processes)


def _wait(node, condition, timeout, processes) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        if any(p.poll() is not None for p in processes):
            print('anyrecon demo: a node exited early', file=sys.stderr)
            return False
        rclpy.spin_once(node, timeout_sec=0.1)
    print(f'anyrecon demo: timed out after {timeout:.0f} s', file=sys.stderr)
    return False


def _report(statuses, echoed, frames):
    last = statuses[-1] if statuses else MemoryStatus()
    drops = dict(zip(last.drop_reasons, last.drop_counts))
    print(f'anyrecon demo: memory_node stored {last.keyframe_count}/{frames} keyframes '
          f'(echoed on ~/keyframes: {len(echoed)}), dropped: {drops or "none"}')


def _stop(processes):
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
