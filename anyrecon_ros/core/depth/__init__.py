# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Depth for captured and generated views.

- ``mvs``: CPU multi-view stereo for a posed reference view and a few sources.
- ``completion``: depth for generated views, from the memory's rendered depth
  and colour-guided propagation (optionally with stereo).
- ``feedforward``: the plug-in interface for learned point-map estimators.
"""

from anyrecon_ros.core.depth.completion import complete_depth
from anyrecon_ros.core.depth.completion import CompletedDepth
from anyrecon_ros.core.depth.completion import NO_DEPTH
from anyrecon_ros.core.depth.completion import PROPAGATED
from anyrecon_ros.core.depth.completion import RENDERED
from anyrecon_ros.core.depth.completion import STEREO
from anyrecon_ros.core.depth.feedforward import FIRST_CAMERA
from anyrecon_ros.core.depth.feedforward import load_checkpoint_directory
from anyrecon_ros.core.depth.feedforward import load_point_map_estimator
from anyrecon_ros.core.depth.feedforward import point_map_estimators
from anyrecon_ros.core.depth.feedforward import PointMap
from anyrecon_ros.core.depth.feedforward import PointMapEstimator
from anyrecon_ros.core.depth.feedforward import register_point_map_estimator
from anyrecon_ros.core.depth.feedforward import unregister_point_map_estimator
from anyrecon_ros.core.depth.feedforward import WORLD
from anyrecon_ros.core.depth.mvs import DepthEstimate
from anyrecon_ros.core.depth.mvs import estimate_depth
from anyrecon_ros.core.depth.mvs import MvsParameters
from anyrecon_ros.core.depth.mvs import select_sources

__all__ = [
    'complete_depth', 'CompletedDepth', 'NO_DEPTH', 'PROPAGATED', 'RENDERED', 'STEREO',
    'FIRST_CAMERA', 'WORLD', 'load_checkpoint_directory', 'load_point_map_estimator',
    'point_map_estimators', 'PointMap', 'PointMapEstimator', 'register_point_map_estimator',
    'unregister_point_map_estimator',
    'DepthEstimate', 'estimate_depth', 'MvsParameters', 'select_sources',
]
