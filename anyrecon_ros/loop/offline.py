# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Offline runs: the closed loop on a sequence of capture views, without DDS.

The same steps as the nodes, in one call each: map the frames into keyframes
and the memory (``core.mapping.Mapper``), plan a coverage trajectory from the
last keyframe (``core.planning.plan_coverage``), run ``loop.ReconstructionLoop``
along it, and write the same outputs as ``anyrecon demo``. The views come from
a scene folder (``scene_input``) or, in the ROS layer, from a rosbag2
(``ros.bag.bag_frames``).

A bag's poses (odometry) and an RGB-D scene are metric. A scene without depth
is in its own units: it is mapped in nominal metres (``core.scene_io.units``),
stereo searches each view's depth range from the scene, and the map file
records the scale (``units`` metadata) so that its exports come back in the
scene's units. Frames that give no geometry at all are an error that says
what the units were, never an empty map.
"""

from collections import Counter
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
import json
from pathlib import Path
from typing import Callable, Iterable, Optional

from anyrecon_ros.core.geometry_memory import GeometryMemory
from anyrecon_ros.core.geometry_memory import MemoryConfig
from anyrecon_ros.core.map_store import MapStore
from anyrecon_ros.core.mapping import Mapper
from anyrecon_ros.core.mapping import MappingConfig
from anyrecon_ros.core.planning import CoverageConfig
from anyrecon_ros.core.planning import plan_coverage
from anyrecon_ros.core.scene_io.units import METRIC_UNITS
from anyrecon_ros.core.scene_io.units import SceneUnits
from anyrecon_ros.core.scene_io.working_scene import MAPPING_WIDTH
from anyrecon_ros.core.scene_io.working_scene import WorkingScene
from anyrecon_ros.core.stamp_pairing import PairingConfig
from anyrecon_ros.core.view_bank import ViewBank
from anyrecon_ros.loop.map_export import UNITS_KEY
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
    mapping_width: int = MAPPING_WIDTH  # scene frames wider than this are mapped at it


@dataclass
class FrameSource:
    """Capture views to map, in the units of their poses, and how stereo searches them."""

    frames: Iterable                 # CaptureViews
    units: SceneUnits = METRIC_UNITS
    # (near, far) stereo searches for a view, in the poses' units; None: metric.
    depth_range: Optional[Callable] = None


def scene_input(path, max_frames: int = 0, mapping_width: int = MAPPING_WIDTH) -> FrameSource:
    """Return the views of a scene (posed folder, COLMAP, transforms.json or synthetic:SEED).

    A scene without depth comes in nominal metres with its units and depth
    ranges; frames wider than ``mapping_width`` are resized to it.
    """
    scene = WorkingScene(str(path), mapping_width, mapping_width=mapping_width)
    count = len(scene) if not max_frames else min(max_frames, len(scene))
    frames = (scene.mapping_view(index) for index in range(count))
    return FrameSource(frames, scene.units, scene.depth_range)


def run_offline(frames, out, settings: OfflineSettings = OfflineSettings(),
                topic_counts: Counter = None, show_progress: bool = True,
                input_drops: Counter = None) -> dict:
    """Map ``frames``, plan, run the loop, write the outputs; return a summary.

    ``frames`` is a FrameSource, or capture views with metric poses.
    """
    source = frames if isinstance(frames, FrameSource) else FrameSource(frames)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    near, far = source.units.fusion_limits(settings.memory.min_depth, settings.memory.max_depth)
    memory = GeometryMemory(replace(settings.memory, min_depth=near, max_depth=far))
    bank = ViewBank()
    # Inputs the reader dropped (``input_drops``, filled while ``frames`` is read)
    # and frames the mapper dropped, by reason, as the nodes count them.
    drops = Counter() if input_drops is None else input_drops
    mapper = Mapper(memory, bank, settings.mapping,
                    on_drop=lambda reason, text: drops.update([reason]),
                    depth_range=source.depth_range)
    for view in source.frames:
        mapper.consider(view)
    # Every frame is in: the first keyframe without depth can now be matched.
    mapper.match_again()
    if not len(memory):
        raise ValueError(f'no keyframe gave any geometry ({source.units.describe()}; '
                         f'{len(bank)} keyframes; dropped: {dict(drops) or "nothing"}): the '
                         'input has too few frames, or none with depth and no stereo partner; '
                         'the map would be empty')
    keyframes = bank.views()
    camera = keyframes[-1].camera
    trajectory = plan_coverage(memory, camera, keyframes[-1].camera_to_world, settings.views,
                               settings.coverage)
    before = GeometryMemory.from_state_dict(memory.state_dict())
    generator = ViewGenerator.load(settings.generator)
    loop = ReconstructionLoop(memory, bank, generator, settings.loop,
                              render_fidelity=mapper.render_fidelity.value())
    frames_out = loop.run(camera, trajectory.poses,
                          progress=ProgressPrinter() if show_progress else None)
    # The map holds what was fused; generated/ shows every view the generator made.
    _save_map(out / 'map.db', memory, keyframes,
              [frame for frame in frames_out if frame.depth is not None], source.units)
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
    summary['units'] = json.loads(source.units.to_json())
    summary['keyframes_without_geometry'] = len(mapper.without_geometry)
    write_summary(out / 'summary.json', summary)
    return summary


def _save_map(path: Path, memory, keyframes, generated, units: SceneUnits):
    if path.exists():
        path.unlink()
    store = MapStore(path, create=True)
    try:
        # A map in nominal metres says so: its exports scale back to the scene's units.
        store.set_meta(UNITS_KEY, units.to_json())
        for view in keyframes:
            store.add_keyframe(view)
        for frame in generated:
            store.add_generated(frame)
        store.save_memory(memory)
    finally:
        store.close()
