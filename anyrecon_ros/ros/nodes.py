# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The package's nodes: the one list every other place reads.

``setup.py`` (console scripts) and ``CMakeLists.txt`` (``ros2 run``
executables, through ``cmake/anyrecon_nodes.cmake``) run this file on its own
with ``runpy``, without importing the package, so it imports nothing. The
CLI (``anyrecon node``), ``anyrecon demo``, the launch files and the
remappings (``ros/graph.py``) import it. Each name is a module
``anyrecon_ros.ros.NAME`` with a ``main``.
"""

# In start order: the camera that stands in for a robot's first, the generator last.
NODES = ('synthetic_camera', 'memory_node', 'planner_node', 'generator_node')
