# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Python packaging for the development venv (``make``) and ``pip install``.

In a ROS 2 workspace colcon builds this package with CMake (package.xml says
ament_cmake), which generates the interfaces and installs these sources beside
them; this file is then not used. Pinned third-party versions live in
requirements.txt.
"""

from pathlib import Path
import runpy

from setuptools import find_packages
from setuptools import setup

package_name = 'anyrecon_ros'
# The one list of nodes, read without importing the package (it needs what this installs).
NODES = runpy.run_path(str(Path(__file__).resolve().parent / package_name / 'ros' /
                           'nodes.py'))['NODES']

setup(
    name=package_name,
    version='0.1.0',
    packages=find_packages(include=[package_name, package_name + '.*']),
    # The shipped default generator (safetensors and JSON configs).
    package_data={package_name: ['checkpoints/default/*.json', 'checkpoints/default/*/*',
                                 'model/models/TAEF2_LICENSE']},
    python_requires='>=3.10',
    install_requires=['numpy', 'transforms3d', 'opencv-python-headless', 'pillow', 'open3d-cpu'],
    extras_require={'test': ['pytest', 'hypothesis']},
    zip_safe=True,
    maintainer='anyrecon_ros maintainers',
    maintainer_email='maintainers@anyrecon-ros.org',
    description='AnyRecon for ROS 2: arbitrary-view 3D reconstruction from sparse keyframes',
    license='Apache-2.0',
    entry_points={
        'console_scripts': ['anyrecon = anyrecon_ros.cli.main:main'] + [
            f'{name} = {package_name}.ros.{name}:main' for name in NODES],
    },
)
