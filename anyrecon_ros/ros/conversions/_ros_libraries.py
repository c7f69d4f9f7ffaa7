# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The ROS 2 Python libraries the conversions use where they are installed and faster.

A ROS 2 distro provides cv_bridge, sensor_msgs_py and tf_transformations; the
package runs without them. ``anyrecon bench --sections conversions`` measures
each conversion beside its equivalent in them: cv_bridge converts colour
encodings to rgb8 faster (``image.image_to_rgb8`` uses it there), while the
package's own numpy code is the faster one for PointCloud2 (sensor_msgs_py),
poses (tf_transformations) and the other image conversions (docs/development.md).
"""

import functools


@functools.cache
def cv_bridge():
    """Return a ``cv_bridge.CvBridge`` where cv_bridge and its C++ extension import, else None."""
    try:
        from cv_bridge import CvBridge
        # The conversions need the extension, which a source install may lack.
        from cv_bridge.boost import cv_bridge_boost  # noqa: F401
    except ImportError:
        return None
    return CvBridge()
