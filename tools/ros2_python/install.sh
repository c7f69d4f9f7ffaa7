#!/usr/bin/env bash
# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
#
# Install the ROS 2 Python packages of ../shared/ros2_python into the development
# venv, for the tests and developer tooling: ros2 launch/run/param/topic/node/pkg,
# launch_ros, sensor_msgs_py, cv_bridge and tf_transformations. A user's ROS 2
# distro provides the same packages; the package itself never needs this folder.
#
#   tools/ros2_python/install.sh VENV SHARED_ROS2_PYTHON BUILD_DIR
#
# The Python packages are copied into BUILD_DIR and installed from there (pip
# would build in the shared sources otherwise), osrf-pycommon comes from PyPI,
# composition_interfaces (which launch_ros imports) is generated with rosidl into
# the venv like the package's own interfaces, and cv_bridge's extension is built
# against Debian's Boost.Python and OpenCV (tools/ros2_python/cv_bridge).
set -euo pipefail
venv=$1
shared=$2
build=$3
here=$(cd "$(dirname "$0")" && pwd)
bin=$venv/bin
OSRF_PYCOMMON=osrf-pycommon==2.0.2
PACKAGES=(launch launch_xml launch_yaml launch_testing launch_ros launch_testing_ros
          ros2cli ros2pkg ros2run ros2topic ros2node ros2param ros2service ros2interface
          ros2launch rosidl_runtime_py sensor_msgs_py tf_transformations)

log() { echo "ros2_python: $*"; }
run_logged() {   # run_logged LOG COMMAND...: quiet unless it fails
  local log_file=$1
  shift
  "$@" >> "$log_file" 2>&1 || { tail -40 "$log_file"; exit 1; }
}

rm -rf "$build"
mkdir -p "$build/src"
log "Python packages: ${PACKAGES[*]}"
sources=()
for name in "${PACKAGES[@]}"; do
  cp -r "$shared/$name" "$build/src/$name"
  sources+=("$build/src/$name")
done
"$bin/pip" install -q "$OSRF_PYCOMMON"
run_logged "$build/pip.log" "$bin/pip" install --no-deps --no-build-isolation "${sources[@]}"

# Generated like the package's interfaces (Makefile, interfaces step); the
# project include fixes the PyPI wheels' CMake targets for this foreign build.
log "composition_interfaces (rosidl)"
export AMENT_PREFIX_PATH=$venv PATH=$bin:$PATH
run_logged "$build/composition_interfaces.log" cmake -S "$shared/composition_interfaces" \
  -B "$build/composition_interfaces" -DCMAKE_INSTALL_PREFIX="$venv" -DBUILD_TESTING=OFF \
  -DCMAKE_PROJECT_INCLUDE="$here/pypi_wheel_targets.cmake" -DPython3_EXECUTABLE="$bin/python3"
run_logged "$build/composition_interfaces.log" cmake --build "$build/composition_interfaces" -j2
run_logged "$build/composition_interfaces.log" cmake --install "$build/composition_interfaces"

log "cv_bridge and its extension (Boost.Python, OpenCV)"
run_logged "$build/cv_bridge.log" cmake -S "$here/cv_bridge" -B "$build/cv_bridge" \
  -DCMAKE_BUILD_TYPE=Release -DCV_BRIDGE_SOURCE="$shared/cv_bridge" -DROS_PREFIX="$venv" \
  -DPython3_EXECUTABLE="$bin/python3"
run_logged "$build/cv_bridge.log" cmake --build "$build/cv_bridge" -j2
run_logged "$build/cv_bridge.log" cmake --install "$build/cv_bridge"

"$bin/python" -c 'import cv_bridge.boost.cv_bridge_boost, composition_interfaces.srv, launch_ros'
log "done"
