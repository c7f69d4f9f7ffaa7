# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
#
# For another package's CMake build against the ROS 2 wheels of the venv (the
# shared composition_interfaces): given as -DCMAKE_PROJECT_INCLUDE=<this file>,
# it runs after that package's project() and fixes the wheels' imported targets
# (cmake/pypi_ros_wheels.cmake says why) at the end of its CMakeLists.txt,
# when every find_package() has run and before CMake checks the targets.

include("${CMAKE_CURRENT_LIST_DIR}/../../cmake/pypi_ros_wheels.cmake")
cmake_language(DEFER DIRECTORY "${CMAKE_SOURCE_DIR}" CALL anyrecon_fix_pypi_ros_wheel_targets)
