# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The networks: the AnyRecon transformer with its attention, the frame autoencoders."""
