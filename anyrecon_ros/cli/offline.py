# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``anyrecon offline``: the closed loop on a scene folder or a ROS 2 bag, without DDS.

The loop itself is ``loop.offline.run_offline`` (typed ``OfflineSettings``);
frames come from ``loop.offline.scene_input`` or, for a bag, from the ROS
layer's ``ros.bag.bag_frames``.
"""

from collections import Counter
import math
import sys

from anyrecon_ros.cli.options import add_generator_arguments
from anyrecon_ros.cli.options import add_mapping_arguments
from anyrecon_ros.cli.options import generator_settings
from anyrecon_ros.core.stamp_pairing import PairingConfig


def add_parser(commands) -> None:
    """Register ``anyrecon offline`` with the subcommands' ``add_subparsers`` object."""
    offline = commands.add_parser(
        'offline', help='run the closed loop on a scene folder or a ROS 2 bag, without DDS')
    source = offline.add_mutually_exclusive_group(required=True)
    source.add_argument('--scene', help='posed-scene folder (posed, COLMAP or transforms.json), '
                                        'or synthetic:SEED')
    source.add_argument('--bag', help='rosbag2 folder or file (mcap or sqlite3)')
    offline.add_argument('--out', default='out/offline', help='output folder')
    offline.add_argument('--image-topic', default='/image', help='bag: sensor_msgs/Image')
    offline.add_argument('--camera-info-topic', default='/camera_info',
                         help='bag: sensor_msgs/CameraInfo')
    offline.add_argument('--depth-topic', default='',
                         help='bag: depth image (16UC1 mm or 32FC1 m); none: stereo depth')
    offline.add_argument('--pose-topic', default='/pose',
                         help='bag: geometry_msgs/PoseStamped or nav_msgs/Odometry')
    slop = PairingConfig().slop
    offline.add_argument('--slop', type=float, default=slop,
                         help=f'bag: seconds between an image and its pose (default {slop})')
    offline.add_argument('--max-frames', type=int, default=0,
                         help='read at most this many frames (default: all)')
    add_mapping_arguments(offline, 'scene frames')
    offline.add_argument('--views', type=int, default=3,
                         help='coverage viewpoints to plan (default 3)')
    offline.add_argument('--generation-width', type=int, default=0,
                         help="width of generated views (default: the generator's)")
    add_generator_arguments(offline)
    offline.set_defaults(run=run)


def run(args) -> int:
    """Run ``anyrecon offline``: map the frames, plan, run the loop, write the outputs."""
    from anyrecon_ros.loop.offline import run_offline
    settings, counts, drops = offline_settings(args), Counter(), Counter()
    summary = run_offline(_frames(args, settings, counts, drops), args.out, settings, counts,
                          input_drops=drops)
    print(f'anyrecon offline: {summary["keyframes"]} keyframes, {summary["generated_views"]} '
          f'generated views, coverage {summary["coverage_before"]:.2f} -> '
          f'{summary["coverage_after"]:.2f}; wrote {args.out}/', file=sys.stderr)
    return 0 if math.isfinite(summary['coverage_after']) else 1


def offline_settings(args):
    """Return the ``OfflineSettings`` the options name."""
    from anyrecon_ros.core.mapping import MappingConfig
    from anyrecon_ros.loop.offline import OfflineSettings
    from anyrecon_ros.loop.reconstruction import LoopConfig
    return OfflineSettings(views=args.views, max_frames=args.max_frames, slop=args.slop,
                           mapping=MappingConfig(depth_estimation_width=args.stereo_width),
                           mapping_width=args.mapping_width,
                           loop=LoopConfig(generation_width=args.generation_width),
                           generator=generator_settings(args))


def _frames(args, settings, counts: Counter, drops: Counter):
    """Return the capture views of ``--scene`` or ``--bag`` (counting a bag's topics and drops)."""
    if args.scene:
        from anyrecon_ros.loop.offline import scene_input
        return scene_input(args.scene, settings.max_frames, settings.mapping_width)
    from anyrecon_ros.ros.bag import bag_frames  # rosbags and ROS conversions: only for bags
    from anyrecon_ros.ros.bag import BagTopics
    topics = BagTopics(args.image_topic, args.camera_info_topic, args.depth_topic or '',
                       args.pose_topic)
    return bag_frames(args.bag, topics, settings.slop, settings.max_frames, counts, drops)
