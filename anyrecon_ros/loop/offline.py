# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Offline runs: the closed loop on a sequence of capture views, without DDS.

The same steps as the nodes, in one call each: map the frames into keyframes
and the memory (``core.mapping.Mapper``), plan a coverage trajectory from the
last keyframe (``core.planning.plan_coverage``), run ``loop.ReconstructionLoop``
along it, and write the same outputs as ``anyrecon demo``. The views come from
a scene folder (``scene_frames``) or, in the ROS layer, from a rosbag2
(``ros.bag.bag_frames``).
"""

from collections import Counter
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

from anyrecon_ros.core.geometry_memory import GeometryMemory
from anyrecon_ros.core.geometry_memory import MemoryConfig
from anyrecon_ros.core.map_store import MapStore
from anyrecon_ros.core.mapping import Mapper
from anyrecon_ros.core.mapping import MappingConfig
from anyrecon_ros.core.planning import CoverageConfig
from anyrecon_ros.core.planning import plan_coverage
from anyrecon_ros.core.scene_io import open_scene
from anyrecon_ros.core.stamp_pairing import PairingConfig
from anyrecon_ros.core.view_bank import ViewBank
from anyrecon_ros.loop.outputs import loop_summary
from anyrecon_ros.loop.outputs import ProgressPrinter
from anyrecon_ros.loop.outputs import write_generated_images
from anyrecon_ros.loop.outputs import write_loop_sheet
from anyrecon_ros.loop.outputs import write_memory
from anyrecon_ros.loop.outputs import write_summary
from anyrecon_ros.loop.reconstruction import LoopConfig
from anyrecon_ros.loop.reconstruction import ReconstructionLoop
from anyrecon_ros.model.pipelines.generator import GeneratorSettings
from anyrecon_ros.model.pipelines.generator import ViewGenerator


@dataclass
class OfflineSettings:
    """Everything the offline loop needs besides its input."""

    # The core defaults, as the memory node's: a bag replayed offline maps like
    # the same stream live (it was 0.03, the demo's voxel, unlike the node's 0.02).
    memory: MemoryConfig = field(default_factory=MemoryConfig)
    mapping: MappingConfig = field(default_factory=MappingConfig)
    coverage: CoverageConfig = field(default_factory=CoverageConfig)
    loop: LoopConfig = field(default_factory=LoopConfig)
    generator: GeneratorSettings = field(default_factory=GeneratorSettings)
    views: int = 3         # coverage viewpoints to plan
    max_frames: int = 0    # read at most this many frames (0: all)
    slop: float = PairingConfig.slop   # seconds between an image and its pose


def scene_frames(path, max_frames: int = 0):
    """Yield the capture views of a scene folder (posed folder, COLMAP, transforms.json)."""
    scene = open_scene(Path(path))
    count = len(scene) if not max_frames else min(max_frames, len(scene))
    for index in range(count):
        yield scene.view(index)


def run_offline(frames, out, settings: OfflineSettings = OfflineSettings(),
                topic_counts: Counter = None, show_progress: bool = True,
                input_drops: Counter = None) -> dict:
    """Map ``frames`` (capture views), plan, run the loop, write the outputs; return a summary."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    memory, bank = GeometryMemory(settings.memory), ViewBank()
    # Inputs the reader dropped (``input_drops``, filled while ``frames`` is read)
    # and frames the mapper dropped, by reason, as the nodes count them.
    drops = Counter() if input_drops is None else input_drops
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
    # The map holds what was fused; generated/ shows every view the generator made.
    _save_map(out / 'map.db', memory, keyframes,
              [frame for frame in frames_out if frame.depth is not None])
    write_generated_images(out, frames_out)
    write_memory(out, memory)
    write_loop_sheet(out / 'contact_sheet.png', before, bank, frames_out)
    fused = sum(frame.depth is not None for frame in frames_out)
    summary = loop_summary(before, memory, camera, trajectory.poses, len(keyframes),
                           generator.trained, fused, len(frames_out) - fused,
                           loop.gate_counts['pixels_rejected'])
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
