# anyrecon_ros development environment, for a machine without a ROS 2 distro.
#
#   make demo   set up (once), then run the demo on the embedded default scene
#   make test   set up (once), then run every test
#
# Set-up is incremental: each step leaves a stamp in $(VENV)/.stamps and runs
# again only when its inputs change. With a sourced ROS 2 distro, use colcon
# instead (docs/nodes.md, "The ROS 2 way").

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := $(CURDIR)/.venv
BIN := $(VENV)/bin
STAMPS := $(VENV)/.stamps
# The generated interfaces are installed into the venv, the prefix that also
# holds the ROS 2 wheels (an overlay prefix inside the source folder would trip
# CMake's check on exported include paths, since the venv's numpy is there).
INTERFACES_PREFIX := $(VENV)
BUILD_DIR := $(CURDIR)/build/interfaces
TORCH_VERSION := 2.13.0
PYTEST_ARGS ?=

# The ROS 2 Python packages the tests use (ros2 launch/run/param/topic, launch_ros,
# sensor_msgs_py, cv_bridge, tf_transformations), from a shared folder beside the
# repository when it is there; a user's ROS 2 distro provides them.
ROS2_PYTHON := $(abspath $(CURDIR)/../shared/ros2_python)

INTERFACE_INPUTS := $(wildcard msg/*.msg) CMakeLists.txt package.xml $(wildcard cmake/*.cmake) \
	$(wildcard config/*) $(wildcard launch/*)

.PHONY: help setup demo test clean
help:
	@echo "make demo   set up, then run the demo on the embedded default scene"
	@echo "make test   set up, then run every test"
	@echo "make clean  remove the venv and build folders"

setup: $(STAMPS)/package
ifneq ($(wildcard $(ROS2_PYTHON)/SOURCES.txt),)
setup: $(STAMPS)/ros2_python
endif

demo: setup
	$(BIN)/anyrecon demo --out out/demo

test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) build log

# Debian packages: compilers and CMake for the interfaces, Python headers,
# libusb for open3d. Only missing ones are installed.
$(STAMPS)/debian: tools/install_system_deps.sh
	tools/install_system_deps.sh $(PYTHON)
	@mkdir -p $(STAMPS) && touch $@

$(BIN)/python: | $(STAMPS)/debian
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# torch goes first and alone: the pinned CPU build, before anything that could
# pull a CUDA build in as a dependency.
$(STAMPS)/torch: | $(BIN)/python
	$(BIN)/pip install -q torch==$(TORCH_VERSION)
	@touch $@

$(STAMPS)/requirements: requirements.txt $(STAMPS)/torch
	$(BIN)/pip install -q -r requirements.txt
	@touch $@

# Generate the interfaces with rosidl (plain CMake, as colcon would run it).
$(STAMPS)/interfaces: $(INTERFACE_INPUTS) $(STAMPS)/requirements
	mkdir -p $(BUILD_DIR)
	AMENT_PREFIX_PATH=$(VENV) PATH=$(BIN):$$PATH cmake -S . -B $(BUILD_DIR) \
	  -DCMAKE_INSTALL_PREFIX=$(INTERFACES_PREFIX) -DANYRECON_INSTALL_PYTHON_PACKAGE=OFF \
	  -DBUILD_TESTING=OFF -DPython3_EXECUTABLE=$(BIN)/python3 > $(BUILD_DIR).log 2>&1 \
	  || { cat $(BUILD_DIR).log; exit 1; }
	AMENT_PREFIX_PATH=$(VENV) PATH=$(BIN):$$PATH cmake --build $(BUILD_DIR) -j2 >> $(BUILD_DIR).log 2>&1 \
	  || { tail -50 $(BUILD_DIR).log; exit 1; }
	cmake --install $(BUILD_DIR) >> $(BUILD_DIR).log 2>&1 || { tail -20 $(BUILD_DIR).log; exit 1; }
	@touch $@

# The Python sources, editable (a path entry, so the sources' package spans
# the generated interfaces too), and the hook that makes every Python of the
# venv a ROS 2 environment (tools/venv_env_hook.py says how).
$(STAMPS)/package: setup.py tools/venv_env_hook.py $(STAMPS)/interfaces
	$(BIN)/pip install -q --no-deps --no-build-isolation -e . --config-settings editable_mode=compat
	site=$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))'); \
	cp tools/venv_env_hook.py $$site/_anyrecon_ros_env.py; \
	echo 'import _anyrecon_ros_env' > $$site/anyrecon_ros_env.pth
	@touch $@

# The ROS 2 Python packages of $(ROS2_PYTHON), composition_interfaces generated
# with rosidl and cv_bridge's extension built into the venv
# (tools/ros2_python/install.sh says how). It needs the ROS wheels installed,
# not reinstalled at every change of requirements.txt (they are pinned).
$(STAMPS)/ros2_python: $(ROS2_PYTHON)/SOURCES.txt tools/ros2_python/install.sh \
		tools/ros2_python/pypi_wheel_targets.cmake tools/ros2_python/cv_bridge/CMakeLists.txt \
		tools/install_system_deps.sh | $(STAMPS)/requirements
	tools/install_system_deps.sh $(PYTHON) cv_bridge
	tools/ros2_python/install.sh $(VENV) $(ROS2_PYTHON) $(CURDIR)/build/ros2_python
	@touch $@
