# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``anyrecon offline``: the closed loop on a scene folder or a ROS 2 bag, without DDS.

The same steps as the nodes, in one call each: map the frames into keyframes
and the memory (``core.mapping.Mapper``), plan a coverage trajectory from the
last keyframe (``core.planning.plan_coverage``), run ``loop.ReconstructionLoop``
along it, and write the same outputs as ``anyrecon demo``. Bags (rosbag2,
mcap or sqlite3) are read with rosbags; poses come from a PoseStamped or an
Odometry topic and are paired with the images by stamp
(``core.stamp_pairing.StampPairer``), as the memory node pairs them.
"""

from collections import Counter
from dataclasses import dataclass
from dataclasses import field
import math
from pathlib import Path
import sys

from anyrecon_ros.core.geometry_memory import GeometryMemory
from anyrecon_ros.core.geometry_memory import MemoryConfig
from anyrecon_ros.core.map_store import MapStore
from anyrecon_ros.core.mapping import Mapper
from anyrecon_ros.core.mapping import MappingConfig
from anyrecon_ros.core.planning import CoverageConfig
from anyrecon_ros.core.planning import plan_coverage
from anyrecon_ros.core.scene_io import open_scene
from anyrecon_ros.core.stamp_pairing import DEFAULT_PART_SLOP
from anyrecon_ros.core.stamp_pairing import StampPairer
from anyrecon_ros.core.view_bank import ViewBank
from anyrecon_ros.loop import LoopConfig
from anyrecon_ros.loop import ReconstructionLoop
from anyrecon_ros.model.generator import GeneratorSettings
from anyrecon_ros.model.generator import ViewGenerator
from anyrecon_ros.outputs import loop_summary
from anyrecon_ros.outputs import ProgressPrinter
from anyrecon_ros.outputs import write_generated_images
from anyrecon_ros.outputs import write_loop_sheet
from anyrecon_ros.outputs import write_memory
from anyrecon_ros.outputs import write_summary

POSE_TYPES = ('geometry_msgs/msg/PoseStamped', 'nav_msgs/msg/Odometry')


@dataclass
class BagTopics:
    """Topics of a bag the offline command reads."""

    image: str = '/image'
    camera_info: str = '/camera_info'
    depth: str = ''        # '' = no depth topic: depth is estimated by stereo
    pose: str = '/pose'    # geometry_msgs/PoseStamped or nav_msgs/Odometry


@dataclass
class OfflineSettings:
    """Everything the offline loop needs besides its input."""

    memory: MemoryConfig = field(default_factory=lambda: MemoryConfig(voxel_size=0.03))
    mapping: MappingConfig = field(default_factory=MappingConfig)
    coverage: CoverageConfig = field(default_factory=CoverageConfig)
    loop: LoopConfig = field(default_factory=LoopConfig)
    generator: GeneratorSettings = field(default_factory=GeneratorSettings)
    views: int = 3         # coverage viewpoints to plan
    max_frames: int = 0    # read at most this many frames (0: all)
    slop: float = 0.05     # seconds between an image and its pose


def scene_frames(path, max_frames: int = 0):
    """Yield the capture views of a scene folder (posed folder, COLMAP, transforms.json)."""
    scene = open_scene(Path(path))
    count = len(scene) if not max_frames else min(max_frames, len(scene))
    for index in range(count):
        yield scene.view(index)


def bag_frames(path, topics: BagTopics = BagTopics(), slop: float = 0.05, max_frames: int = 0,
               counts: Counter = None):
    """Yield capture views paired from a rosbag2 (mcap or sqlite3) by stamp.

    ``counts`` (a Counter), when given, receives the messages read per topic.
    """
    from rosbags.highlevel import AnyReader
    from rosbags.typesys import get_typestore
    from rosbags.typesys import Stores
    from anyrecon_ros.ros.conversions.frame import frame_to_view
    from anyrecon_ros.ros.conversions.pose import odometry_to_matrix
    from anyrecon_ros.ros.conversions.pose import pose_stamped_to_matrix

    counts = Counter() if counts is None else counts
    parts = ('image', 'camera_info') + (('depth',) if topics.depth else ())
    pairer = StampPairer(parts, slop=slop, queue_size=100,
                         part_slop=min(slop, DEFAULT_PART_SLOP))
    wanted = {topics.image: 'image', topics.camera_info: 'camera_info', topics.pose: 'pose'}
    if topics.depth:
        wanted[topics.depth] = 'depth'
    produced = 0
    with AnyReader([Path(path)], default_typestore=get_typestore(Stores.ROS2_KILTED)) as reader:
        connections = [c for c in reader.connections if c.topic in wanted]
        _check_topics(path, reader.connections, wanted)
        for connection, _, raw in reader.messages(connections=connections):
            msg = reader.deserialize(raw, connection.msgtype)
            counts[connection.topic] += 1
            part = wanted[connection.topic]
            stamp_ns = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
            if part == 'pose':
                to_matrix = (odometry_to_matrix if connection.msgtype.endswith('Odometry')
                             else pose_stamped_to_matrix)
                ready = pairer.add_pose(stamp_ns, to_matrix(msg))
            else:
                ready = pairer.add_part(part, stamp_ns, msg)
            for frame in ready:
                yield frame_to_view(frame.parts, frame.camera_to_world, frame.stamp_ns, produced)
                produced += 1
                if max_frames and produced >= max_frames:
                    return


def _check_topics(path, connections, wanted):
    present = {c.topic: c.msgtype for c in connections}
    missing = [topic for topic in wanted if topic not in present]
    if missing:
        listing = ', '.join(f'{topic} ({kind})' for topic, kind in sorted(present.items()))
        raise ValueError(f'bag {path} has no topic {", ".join(missing)}; it has {listing}')
    pose_topic = next(topic for topic, part in wanted.items() if part == 'pose')
    if present[pose_topic] not in POSE_TYPES:
        raise ValueError(f'pose topic {pose_topic} is {present[pose_topic]}; expected one of '
                         + ', '.join(POSE_TYPES))


def run_offline(frames, out, settings: OfflineSettings = OfflineSettings(),
                topic_counts: Counter = None, show_progress: bool = True) -> dict:
    """Map ``frames`` (capture views), plan, run the loop, write the outputs; return a summary."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    memory, bank = GeometryMemory(settings.memory), ViewBank()
    drops = Counter()
    mapper = Mapper(memory, bank, settings.mapping,
                    on_drop=lambda reason, text: drops.update([reason]))
    for view in frames:
        mapper.consider(view)
    if not len(memory):
        raise ValueError('no keyframe gave any geometry: the input has too few frames, or '
                         'none with depth and no stereo partner')
    keyframes = bank.views()
    camera = keyframes[-1].camera
    trajectory = plan_coverage(memory, camera, keyframes[-1].camera_to_world, settings.views,
                               settings.coverage)
    before = GeometryMemory.from_state_dict(memory.state_dict())
    generator = ViewGenerator.load(settings.generator)
    loop = ReconstructionLoop(memory, bank, generator, settings.loop)
    frames_out = loop.run(camera, trajectory.poses,
                          progress=ProgressPrinter() if show_progress else None)
    _save_map(out / 'map.db', memory, keyframes, frames_out)
    write_generated_images(out, frames_out)
    write_memory(out, memory)
    write_loop_sheet(out / 'contact_sheet.png', before, bank, frames_out)
    summary = loop_summary(before, memory, camera, trajectory.poses, len(keyframes), frames_out,
                           generator.trained)
    summary['topics'] = {topic: {'read': count} for topic, count in sorted(
        (topic_counts or {}).items())}
    summary['dropped'] = dict(drops)
    write_summary(out / 'summary.json', summary)
    return summary


def _save_map(path: Path, memory, keyframes, generated):
    if path.exists():
        path.unlink()
    store = MapStore(path, create=True)
    try:
        for view in keyframes:
            store.add_keyframe(view)
        for frame in generated:
            store.add_generated(frame)
        store.save_memory(memory)
    finally:
        store.close()


def main_offline(args, generator: GeneratorSettings) -> int:
    """Run ``anyrecon offline`` from parsed arguments."""
    settings = OfflineSettings(views=args.views, max_frames=args.max_frames,
                               loop=LoopConfig(generation_width=args.generation_width))
    settings.generator = generator
    counts = Counter()
    if args.scene:
        frames = scene_frames(args.scene, args.max_frames)
    else:
        topics = BagTopics(args.image_topic, args.camera_info_topic, args.depth_topic or '',
                           args.pose_topic)
        frames = bag_frames(args.bag, topics, args.slop, args.max_frames, counts)
    summary = run_offline(frames, args.out, settings, counts)
    print(f'anyrecon offline: {summary["keyframes"]} keyframes, {summary["generated_views"]} '
          f'generated views, coverage {summary["coverage_before"]:.2f} -> '
          f'{summary["coverage_after"]:.2f}; wrote {args.out}/', file=sys.stderr)
    return 0 if math.isfinite(summary['coverage_after']) else 1
