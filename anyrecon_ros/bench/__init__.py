# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``anyrecon bench``: speed and memory measured side by side with references."""
