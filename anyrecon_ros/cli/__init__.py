# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The ``anyrecon`` command: the parser and one module per subcommand."""
