#!/usr/bin/env bash
# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
#
# Install the Debian/Ubuntu packages the venv set-up needs, only those missing:
# a C/C++ toolchain and CMake (the interfaces are generated and compiled with
# rosidl), Python headers and venv for the interpreter given as $1, and
# libusb (open3d loads it). With cv_bridge as $2: Boost.Python and OpenCV's
# core, imgproc and imgcodecs headers, for cv_bridge's extension (the tests'
# ROS 2 Python packages, tools/ros2_python).
set -euo pipefail
python=${1:-python3.11}
missing=()

if [ "${2:-}" = cv_bridge ]; then
  [ -e /usr/include/boost/python.hpp ] || missing+=(libboost-python-dev)
  for module in core imgproc imgcodecs; do
    [ -e "/usr/include/opencv4/opencv2/$module.hpp" ] || missing+=("libopencv-$module-dev")
  done
fi

command -v cmake >/dev/null || missing+=(cmake)
command -v g++ >/dev/null || missing+=(g++)
command -v gcc >/dev/null || missing+=(gcc)
ldconfig -p | grep -q 'libusb-1.0.so.0' || missing+=(libusb-1.0-0)
if ! "$python" -c 'import sysconfig, os, sys; sys.exit(not os.path.exists(
        os.path.join(sysconfig.get_paths()["include"], "Python.h")))'; then
  missing+=("$(basename "$python")-dev")
fi
if ! "$python" -c 'import ensurepip' 2>/dev/null; then
  missing+=("$(basename "$python")-venv")
fi

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "Installing Debian packages: ${missing[*]}"
sudo=""
[ "$(id -u)" = 0 ] || sudo=sudo
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
