# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The sampling pipeline, its schedules and the generator facade."""
