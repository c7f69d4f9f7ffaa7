# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Camera frustums of keyframes and generated views as visualization_msgs/MarkerArray.

Each frustum is one LINE_LIST marker: four edges from the optical centre to
the image corners at ``depth`` metres, and the rectangle joining the
corners. Captured keyframes and generated views use different namespaces and
colours, so RViz can show or hide each kind.
"""

from geometry_msgs.msg import Point
import numpy as np
from std_msgs.msg import ColorRGBA
from visualization_msgs.msg import Marker
from visualization_msgs.msg import MarkerArray

from anyrecon_ros.core.camera import PinholeCamera
from anyrecon_ros.core.transforms import transform_points

CAPTURED_NAMESPACE = 'keyframes'
GENERATED_NAMESPACE = 'generated_views'
CAPTURED_COLOUR = (0.1, 0.8, 0.2, 1.0)    # green: what the robot saw
GENERATED_COLOUR = (0.9, 0.4, 0.1, 1.0)   # orange: what the generator made up
FRUSTUM_DEPTH = 0.25                      # metres from the centre to the drawn image plane
LINE_WIDTH = 0.01                         # metres


def frustum_corners(camera: PinholeCamera, camera_to_world, depth: float = FRUSTUM_DEPTH):
    """Return (5, 3) world points: the optical centre, then the image corners at ``depth``."""
    right, bottom = camera.width - 0.5, camera.height - 0.5
    pixels = np.array([[-0.5, -0.5], [right, -0.5], [right, bottom], [-0.5, bottom]])
    rays = np.column_stack([(pixels[:, 0] - camera.cx) / camera.fx,
                            (pixels[:, 1] - camera.cy) / camera.fy, np.ones(4)])
    in_camera = np.vstack([np.zeros(3), rays * depth])
    return transform_points(np.asarray(camera_to_world, np.float64), in_camera)


def frustum_marker(camera: PinholeCamera, camera_to_world, marker_id: int, namespace: str,
                   colour, frame_id: str, stamp=None, depth: float = FRUSTUM_DEPTH) -> Marker:
    """Return one LINE_LIST marker drawing a camera's frustum in ``frame_id``."""
    corners = frustum_corners(camera, camera_to_world, depth)
    # Pairs of corner indices: centre to each corner, then the image rectangle.
    edges = [(0, 1), (0, 2), (0, 3), (0, 4), (1, 2), (2, 3), (3, 4), (4, 1)]
    marker = Marker(ns=namespace, id=int(marker_id), type=Marker.LINE_LIST, action=Marker.ADD)
    marker.header.frame_id = frame_id
    if stamp is not None:
        marker.header.stamp = stamp
    marker.pose.orientation.w = 1.0
    marker.scale.x = LINE_WIDTH
    marker.color = ColorRGBA(r=colour[0], g=colour[1], b=colour[2], a=colour[3])
    marker.points = [Point(x=float(x), y=float(y), z=float(z))
                     for start, end in edges for x, y, z in (corners[start], corners[end])]
    return marker


def frustum_markers(captured, generated, frame_id: str, stamp=None) -> MarkerArray:
    """Return the frustums of every captured keyframe and generated view.

    ``captured`` holds CaptureView-like objects (``view_id``, ``camera``,
    ``camera_to_world``); the keyframe id is the marker id. ``generated``
    holds GeneratedFrame-like objects, numbered in order.
    """
    markers = [frustum_marker(view.camera, view.camera_to_world, view.view_id,
                              CAPTURED_NAMESPACE, CAPTURED_COLOUR, frame_id, stamp)
               for view in captured]
    markers += [frustum_marker(frame.camera, frame.camera_to_world, index,
                               GENERATED_NAMESPACE, GENERATED_COLOUR, frame_id, stamp)
                for index, frame in enumerate(generated)]
    return MarkerArray(markers=markers)


def delete_all_markers(frame_id: str) -> MarkerArray:
    """Return a MarkerArray that clears every marker of its publisher in RViz."""
    marker = Marker(action=Marker.DELETEALL)
    marker.header.frame_id = frame_id
    return MarkerArray(markers=[marker])
