# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``anyrecon offline``: the closed loop on a scene folder or a ROS 2 bag, without DDS."""

from collections import Counter
import math
import sys

from anyrecon_ros.loop.offline import OfflineSettings
from anyrecon_ros.loop.offline import run_offline
from anyrecon_ros.loop.offline import scene_frames
from anyrecon_ros.loop.reconstruction import LoopConfig
from anyrecon_ros.model.pipelines.generator import GeneratorSettings


def main_offline(args, generator: GeneratorSettings) -> int:
    """Run ``anyrecon offline`` from parsed arguments."""
    settings = OfflineSettings(views=args.views, max_frames=args.max_frames,
                               loop=LoopConfig(generation_width=args.generation_width))
    settings.generator = generator
    counts = Counter()
    if args.scene:
        frames = scene_frames(args.scene, args.max_frames)
    else:
        from anyrecon_ros.ros.bag import bag_frames  # rosbags and ROS conversions: only for bags
        from anyrecon_ros.ros.bag import BagTopics

        topics = BagTopics(args.image_topic, args.camera_info_topic, args.depth_topic or '',
                           args.pose_topic)
        frames = bag_frames(args.bag, topics, args.slop, args.max_frames, counts)
    summary = run_offline(frames, args.out, settings, counts)
    print(f'anyrecon offline: {summary["keyframes"]} keyframes, {summary["generated_views"]} '
          f'generated views, coverage {summary["coverage_before"]:.2f} -> '
          f'{summary["coverage_after"]:.2f}; wrote {args.out}/', file=sys.stderr)
    return 0 if math.isfinite(summary['coverage_after']) else 1
