# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Where the package's installed files are, and the DDS settings its nodes need."""

import os
from pathlib import Path

PACKAGE_NAME = 'anyrecon_ros'
FASTDDS_PROFILE_VARIABLE = 'FASTDDS_DEFAULT_PROFILES_FILE'


def package_share() -> Path:
    """Return the package's share folder (config/, launch/), as installed.

    colcon and the development venv both install it into an ament prefix;
    the source tree is the fallback for a checkout that was never built.
    """
    try:
        from ament_index_python.packages import get_package_share_directory
        return Path(get_package_share_directory(PACKAGE_NAME))
    except (ImportError, LookupError, ValueError):
        return Path(__file__).resolve().parents[2]


def config_path(name: str) -> Path:
    """Return the path of an installed config file, failing clearly if it is missing."""
    path = package_share() / 'config' / name
    if not path.is_file():
        raise FileNotFoundError(f'{PACKAGE_NAME} config file not found: {path}')
    return path


def configure_dds_environment(environ=os.environ) -> None:
    """Use the package's shared-memory Fast DDS profile unless the user chose one.

    Must run before ``rclpy.init``: Fast DDS reads the variable when the first
    participant is created. Other RMW implementations ignore it.
    """
    if not environ.get(FASTDDS_PROFILE_VARIABLE):
        environ[FASTDDS_PROFILE_VARIABLE] = str(config_path('fastdds_shm.xml'))
