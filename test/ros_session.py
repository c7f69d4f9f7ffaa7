# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""A real rclpy context for tests: nodes, spinning until a condition, other processes."""

import subprocess
import sys
import time

import rclpy
from rclpy.executors import SingleThreadedExecutor


class RosSession:
    """Own one rclpy context, its nodes and the processes a test starts."""

    def __init__(self):
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.nodes = []
        self.processes = []

    def node(self, name):
        """Create a node in this context and spin it with the others."""
        node = rclpy.create_node(name, context=self.context)
        self.executor.add_node(node)
        self.nodes.append(node)
        return node

    def collect(self, msg_type, topic, qos=10, node=None):
        """Subscribe to ``topic`` and return the list the messages are appended to."""
        received = []
        (node or self.node(f'collector_{len(self.nodes)}')).create_subscription(
            msg_type, topic, received.append, qos)
        return received

    def spin_until(self, condition, timeout=20.0, action=None):
        """Spin until ``condition()`` holds; call ``action()`` between spins. False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return True
            if action is not None:
                action()
            self.executor.spin_once(timeout_sec=0.05)
        return condition()

    def start_process(self, *args):
        """Start ``python args...`` with this environment; it is stopped at teardown."""
        process = subprocess.Popen(
            [sys.executable, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.processes.append(process)
        return process

    def close(self):
        """Stop processes, destroy nodes and shut the context down."""
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for node in self.nodes:
            self.executor.remove_node(node)
            node.destroy_node()
        self.executor.shutdown()
        rclpy.shutdown(context=self.context)
