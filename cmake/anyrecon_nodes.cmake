# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
#
# Sets ANYRECON_NODES to the node executables, read from anyrecon_ros/ros/nodes.py:
# the one list that setup.py, the CLI and the launch files use too. Included by
# CMakeLists.txt; in script mode it prints the list (test/ros/test_launch_config.py):
#   cmake -DPython3_EXECUTABLE=python3 -P cmake/anyrecon_nodes.cmake

set(_anyrecon_nodes_file "${CMAKE_CURRENT_LIST_DIR}/../anyrecon_ros/ros/nodes.py")
get_filename_component(_anyrecon_nodes_file "${_anyrecon_nodes_file}" ABSOLUTE)
if(NOT Python3_EXECUTABLE)
  find_package(Python3 REQUIRED COMPONENTS Interpreter)
endif()
# nodes.py imports nothing, so it runs without the package or ROS.
execute_process(
  COMMAND "${Python3_EXECUTABLE}" -S -c
    "import runpy, sys; print(';'.join(runpy.run_path(sys.argv[1])['NODES']))"
    "${_anyrecon_nodes_file}"
  OUTPUT_VARIABLE ANYRECON_NODES
  ERROR_VARIABLE _anyrecon_nodes_error
  RESULT_VARIABLE _anyrecon_nodes_result
  OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT _anyrecon_nodes_result EQUAL 0 OR NOT ANYRECON_NODES)
  message(FATAL_ERROR "cannot read the nodes from ${_anyrecon_nodes_file}: "
    "${_anyrecon_nodes_error}")
endif()
if(CMAKE_SCRIPT_MODE_FILE)
  message("${ANYRECON_NODES}")
else()
  # Configure again when the list changes.
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${_anyrecon_nodes_file}")
endif()
