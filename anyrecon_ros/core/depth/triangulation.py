# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Sparse points of posed RGB views: SIFT matches between neighbouring views, triangulated.

A scene without depth, sparse points or near/far bounds still shows how far
away its surfaces are: features matched between two posed views triangulate
to points whose depths, unlike the poses alone, say what the views see. Only
matches that the poses confirm are kept: in front of both cameras, seen at a
triangulation angle of at least ``MIN_ANGLE_DEG``, and reprojected within
``MAX_REPROJECTION_PX`` pixels in both views. Nothing here depends on the
scene's units: a scene scaled by any factor gives the same points, scaled.
"""

import math

import cv2
import numpy as np

# Lowe's ratio test of the nearest and second-nearest descriptor.
RATIO = 0.75
MIN_ANGLE_DEG = 1.0
MAX_REPROJECTION_PX = 2.0
# Images are matched at most this wide (SIFT's time grows with the pixels).
MATCH_WIDTH = 640


def triangulate_matches(views, pairs) -> tuple:
    """Return (xyz (N, 3), rgb (N, 3) uint8) of the matches of ``pairs`` of views, triangulated.

    ``views`` are CaptureViews (undistorted pinholes with poses); ``pairs``
    index them. Pairs without enough matches contribute nothing.
    """
    sift = cv2.SIFT_create()
    features = {}

    def detected(index):
        if index not in features:
            features[index] = _features(sift, views[index])
        return features[index]

    points, colours = [], []
    for first, second in pairs:
        xyz, rgb = _pair_points(views[first], views[second], detected(first), detected(second))
        points.append(xyz)
        colours.append(rgb)
    if not points:
        return np.empty((0, 3)), np.empty((0, 3), np.uint8)
    return np.concatenate(points), np.concatenate(colours)


def _features(sift, view):
    """Return (keypoints at full resolution (N, 2), descriptors) of a view."""
    scale = min(1.0, MATCH_WIDTH / view.camera.width)
    grey = cv2.cvtColor(view.rgb, cv2.COLOR_RGB2GRAY)
    if scale < 1.0:
        grey = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    keypoints, descriptors = sift.detectAndCompute(grey, None)
    if descriptors is None or not keypoints:
        return np.empty((0, 2)), None
    # Pixel centres stay put when the image shrinks: x_full = (x + 0.5) / scale - 0.5.
    where = (np.array([keypoint.pt for keypoint in keypoints]) + 0.5) / scale - 0.5
    return where, descriptors


def _pair_points(first, second, first_features, second_features):
    empty = np.empty((0, 3)), np.empty((0, 3), np.uint8)
    (first_pixels, first_descriptors), (second_pixels, second_descriptors) = (
        first_features, second_features)
    if first_descriptors is None or second_descriptors is None or len(second_pixels) < 2:
        return empty
    matcher = cv2.BFMatcher(cv2.NORM_L2)
    matches = [pair[0] for pair in matcher.knnMatch(first_descriptors, second_descriptors, k=2)
               if len(pair) == 2 and pair[0].distance < RATIO * pair[1].distance]
    if len(matches) < 8:
        return empty
    a = first_pixels[[match.queryIdx for match in matches]]
    b = second_pixels[[match.trainIdx for match in matches]]
    projections = [view.camera.K @ np.linalg.inv(view.camera_to_world)[:3]
                   for view in (first, second)]
    homogeneous = cv2.triangulatePoints(projections[0], projections[1], a.T, b.T)
    with np.errstate(divide='ignore', invalid='ignore'):
        xyz = (homogeneous[:3] / homogeneous[3]).T
    keep = np.all(np.isfinite(xyz), axis=1)
    for view, pixels, projection in ((first, a, projections[0]), (second, b, projections[1])):
        local = np.c_[xyz, np.ones(len(xyz))] @ projection.T
        depth = local[:, 2]
        ahead = depth > 0
        reprojected = local[:, :2] / np.where(ahead, depth, 1.0)[:, None]
        keep &= ahead & (np.linalg.norm(reprojected - pixels, axis=1) <= MAX_REPROJECTION_PX)
    to_first = first.camera_to_world[:3, 3] - xyz
    to_second = second.camera_to_world[:3, 3] - xyz
    with np.errstate(invalid='ignore'):
        cosine = np.einsum('ij,ij->i', to_first, to_second) / (
            np.linalg.norm(to_first, axis=1) * np.linalg.norm(to_second, axis=1))
    keep &= cosine <= math.cos(math.radians(MIN_ANGLE_DEG))
    pixel = np.clip(np.rint(a[keep]).astype(np.int64), 0,
                    [first.camera.width - 1, first.camera.height - 1])
    return xyz[keep], first.rgb[pixel[:, 1], pixel[:, 0]]
