# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Make the development venv a ROS 2 environment for every Python it starts.

``make`` copies this file into the venv's site-packages as
``_anyrecon_ros_env.py`` and imports it from ``anyrecon_ros_env.pth``. It runs
before the ROS wheels' own start-up hook (``ros_wheels_bootstrapper.pth``, which
re-executes Python with ``LD_LIBRARY_PATH`` set to the venv's ``lib``), so the
variables below are in place for that re-execution and for every process
started from it. The venv is the ROS prefix: it holds the wheels and this
package's generated interfaces. Values the user already set are kept.
"""

import os
import sys


def _prepend(name, entry):
    old = [p for p in os.environ.get(name, '').split(os.pathsep) if p]
    if entry not in old:
        os.environ[name] = os.pathsep.join([entry] + old)


_prepend('AMENT_PREFIX_PATH', sys.prefix)
os.environ.setdefault('RMW_IMPLEMENTATION', 'rmw_fastrtps_cpp')
