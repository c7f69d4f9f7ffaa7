# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The closed loop of AnyRecon along one trajectory, without ROS.

For each segment of the trajectory: render the memory into every view
(colour, depth, visibility), retrieve the capture views that see what those
renders show, run the generator, complete the depth of each generated view
from the rendered depth, pass it through the fusion gate
(``core.fusion_gate``: the view must reproduce its render, its new pixels,
in thin holes of the render only, must agree with views of the segment seen
with parallax), and fuse the new
pixels that passed into the memory as GENERATED geometry (lower weight than
captured data; what the render covered stays as the memory held it) before
the next segment, so later segments render, and are conditioned on, what earlier
ones filled in. A rejected view is returned without depth, and counted.

The offline command, the demo, the evaluation and the generator node all run
this one class. Progress goes to a callback as :class:`LoopProgress`.
"""

from collections import Counter
from dataclasses import dataclass
from typing import Callable, Optional

import cv2
import numpy as np

from anyrecon_ros.core.camera import PinholeCamera
from anyrecon_ros.core.config_fields import check_ranges
from anyrecon_ros.core.config_fields import setting
from anyrecon_ros.core.depth.completion import complete_depth
from anyrecon_ros.core.fusion_gate import gate_segment
from anyrecon_ros.core.fusion_gate import GateConfig
from anyrecon_ros.core.fusion_gate import required_render_psnr
from anyrecon_ros.core.geometry_memory import GeometryMemory
from anyrecon_ros.core.planning import cut_segments
from anyrecon_ros.core.planning import segment_length_setting
from anyrecon_ros.core.planning import SEGMENT_OVERLAP
from anyrecon_ros.core.retrieval import retrieve_views
from anyrecon_ros.core.retrieval import retrieve_views_for_renders
from anyrecon_ros.core.transforms import validate_rigid
from anyrecon_ros.core.view_bank import GeneratedFrame
from anyrecon_ros.core.view_bank import ViewBank

# 'fuse' covers completing a generated view's depth and fusing it, once per view.
STAGES = ('render', 'retrieve', 'generate', 'fuse', 'done')


@dataclass(frozen=True)
class LoopConfig:
    """Parameters of the loop."""

    segment_length: int = segment_length_setting()
    segment_overlap: int = setting(SEGMENT_OVERLAP, 'Views shared by consecutive segments '
                                   '(generated once).', (0, 999))
    capture_views: int = setting(4, 'Capture views retrieved per segment.', (1, 64))
    generation_width: int = setting(0, 'Width of generated views in pixels (a multiple of 16); '
                                    "0: the checkpoint's working width.", (0, 4096))
    # Far from anything the memory saw, propagated depth is a guess.
    min_depth_confidence: float = setting(0.2, 'Completed depth below this confidence is not '
                                          'fused.', (0.0, 1.0))

    def __post_init__(self):
        check_ranges(self)
        if self.segment_length < 2 or not 0 <= self.segment_overlap < self.segment_length:
            raise ValueError('need segment_length >= 2 and 0 <= segment_overlap < '
                             f'segment_length, got {self.segment_length}, '
                             f'{self.segment_overlap}')
        if self.capture_views < 1 or not (self.generation_width == 0
                                          or self.generation_width >= 16):
            raise ValueError('need capture_views >= 1 and generation_width 0 or >= 16')
        if not 0.0 <= self.min_depth_confidence <= 1.0:
            raise ValueError(f'min_depth_confidence must be in [0, 1], got '
                             f'{self.min_depth_confidence}')


@dataclass(frozen=True)
class LoopProgress:
    """Where the loop stands: a stage of a segment, and denoising steps while generating."""

    segment: int        # 0-based
    segments: int
    stage: str          # one of STAGES
    step: int = 0
    steps: int = 0
    generated_views: int = 0
    rejected_views: int = 0   # generated views the fusion gate refused (not fused)


class ReconstructionLoop:
    """Fill a geometry memory along trajectories with generated views.

    ``memory`` and ``bank`` are shared, not copied: the loop reads the capture
    views from ``bank`` and fuses into ``memory``. ``generator`` is a
    :class:`anyrecon_ros.model.pipelines.generator.ViewGenerator` (or anything with its
    ``generate`` and ``size_multiple``). ``gate_counts`` counts the fusion
    gate's verdicts over every run: views by verdict, and the pixels fused and
    rejected. ``render_fidelity``: how closely the keyframes reproduced the
    memory's renders (``Mapper.render_fidelity.value()``; None: not
    measured), which lowers the gate's render check on real scenes
    (``required_render_psnr``, the bar used).
    """

    def __init__(self, memory: GeometryMemory, bank: ViewBank, generator,
                 config: LoopConfig = LoopConfig(), gate: GateConfig = GateConfig(),
                 render_fidelity: Optional[float] = None):
        self.memory = memory
        self.bank = bank
        self.generator = generator
        self.config = config
        self.gate = gate
        self.render_fidelity = render_fidelity
        self.required_render_psnr = required_render_psnr(gate, render_fidelity)
        self.gate_counts = Counter()

    def generation_camera(self, camera: PinholeCamera) -> PinholeCamera:
        """Return ``camera`` scaled to the generation width, both sides on the model's grid."""
        multiple = self.generator.size_multiple
        wanted = self.config.generation_width or self.generator.working_width
        width = max(multiple, wanted // multiple * multiple)
        height = max(multiple, round(camera.height * width / camera.width / multiple) * multiple)
        return camera.scaled(width, height)

    def run(self, camera: PinholeCamera, poses, progress: Optional[Callable] = None,
            on_frame: Optional[Callable] = None) -> list:
        """Generate and fuse a view at every pose; return the GeneratedFrames in order.

        ``camera`` gives the intrinsics (scaled to the generation size);
        ``poses`` are (N, 4, 4) camera-to-world. ``on_frame(frame)`` is called
        for each view once it is fused, so a node can publish while the loop
        goes on.
        """
        poses = _checked_poses(poses)
        if not len(self.bank):
            raise ValueError('the loop needs at least one capture view in the bank')
        camera = self.generation_camera(camera)
        segments = cut_segments(poses, self.config.segment_length, self.config.segment_overlap)
        frames = []
        report = progress or (lambda update: None)
        for segment_id, (start, end) in enumerate(segments):
            # Frames shared with the previous segment were generated and fused there.
            first_new = start if segment_id == 0 else start + self.config.segment_overlap

            def stage(name, step=0, steps=0, segment_id=segment_id):
                report(LoopProgress(segment_id, len(segments), name, step, steps, len(frames),
                                    self._rejected_views()))
            for frame in self._run_segment(camera, poses, start, end, first_new, segment_id,
                                           stage):
                frames.append(frame)
                if on_frame:
                    on_frame(frame)
        report(LoopProgress(len(segments) - 1, len(segments), 'done',
                            generated_views=len(frames), rejected_views=self._rejected_views()))
        return frames

    def _rejected_views(self) -> int:
        return sum(count for verdict, count in self.gate_counts.items()
                   if verdict.startswith('views_') and verdict != 'views_accepted')

    def _run_segment(self, camera, poses, start, end, first_new, segment_id, report):
        """Generate a segment; yield its new frames, each once fused."""
        segment_poses = poses[start:end]
        report('render')
        renders = [self.memory.render(camera, pose) for pose in segment_poses]
        report('retrieve')
        reference_ids = self.references(camera, segment_poses, renders)
        report('generate')
        capture = np.stack([_resized(self.bank[view_id].rgb, camera)
                            for view_id in reference_ids])
        images, model_images = self._generate(capture, renders, report)
        completions = [complete_depth(image, render.depth, render.mask)
                       for image, render in zip(images, renders)]
        depths = [np.where(completed.confidence >= self.config.min_depth_confidence,
                           completed.depth, np.nan).astype(np.float32)
                  for completed in completions]
        verdicts = gate_segment(camera, segment_poses, images, depths, renders, self.gate,
                                model_images, self.render_fidelity)
        for offset in range(first_new - start, end - start):
            report('fuse')
            verdict = verdicts[offset]
            self.gate_counts[f'views_{verdict.verdict}'] += 1
            # Accepted pixels with depth, the covered ones included (the frame
            # keeps their depth) ...
            self.gate_counts['pixels_accepted'] += int(verdict.fused.sum())
            # ... of which the memory takes in only those it did not cover.
            self.gate_counts['new_pixels_fused'] += int(
                (verdict.fused & ~renders[offset].mask).sum())
            self.gate_counts['pixels_rejected'] += verdict.rejected_pixels
            frame = GeneratedFrame(
                segment_id=segment_id, index=start + offset, rgb=images[offset],
                mask=renders[offset].mask, camera=camera, camera_to_world=segment_poses[offset],
                reference_ids=tuple(int(view_id) for view_id in reference_ids),
                depth=(np.where(verdict.fused, depths[offset], np.nan).astype(np.float32)
                       if verdict.accepted else None))
            # Generated geometry goes in at the memory's lower generated weight,
            # scaled by how sure the completion is (1 where the memory was seen).
            self.memory.insert_view(frame, confidence=completions[offset].confidence)
            yield frame

    def _generate(self, capture, renders, report):
        """Return the segment's views and the model's own output before any blend (or None).

        A generator that blends its output with the render (``generate_views``)
        is gated on what the model drew, not on the blend.
        """
        arguments = (capture, np.stack([render.rgb for render in renders]),
                     np.stack([render.mask for render in renders]),
                     lambda chunk, chunks, step, steps: report('generate', step=step,
                                                               steps=steps))
        depths = np.stack([render.depth for render in renders])
        if hasattr(self.generator, 'generate_views'):
            output = self.generator.generate_views(*arguments, render_depths=depths)
            return output.images, output.model_images
        return self.generator.generate(*arguments, render_depths=depths), None

    def references(self, camera: PinholeCamera, segment_poses, renders=None) -> list:
        """Return the capture view ids for a segment: retrieved, else the nearest views.

        Retrieval needs memory points seen by the segment; where it sees
        nothing the memory knows (a view into the void), the capture views
        nearest the segment's centre stand in, so the generator always has
        context. ``renders``: the memory already rendered at the segment's
        poses (the loop's own renders), read instead of rendering again.
        """
        chosen = (retrieve_views(self.memory, camera, segment_poses, self.config.capture_views)
                  if renders is None else
                  retrieve_views_for_renders(self.memory, renders, self.config.capture_views))
        retrieved = [view_id for view_id in chosen if view_id in self.bank]
        if retrieved:
            return retrieved
        centre = np.mean([pose[:3, 3] for pose in segment_poses], axis=0)
        views = self.bank.placements()   # poses only: no image is read back for this
        distances = [np.linalg.norm(view.centre - centre) for view in views]
        order = np.argsort(distances)[:self.config.capture_views]
        return [views[index].view_id for index in order]


def trajectory_coverage(memory: GeometryMemory, camera: PinholeCamera, poses,
                        width: int = 160) -> float:
    """Return the mean share of pixels where the memory is visible, over the trajectory's views.

    Judged at ``width`` pixels across (visibility does not need more).
    """
    poses = _checked_poses(poses)
    camera = camera.bounded(width)
    return float(np.mean([memory.coverage(camera, pose).mean() for pose in poses]))


def _checked_poses(poses) -> np.ndarray:
    poses = np.asarray(poses, np.float64)
    if poses.ndim != 3 or poses.shape[1:] != (4, 4) or not len(poses):
        raise ValueError(f'poses must be (N >= 1, 4, 4), got {poses.shape}')
    for pose in poses:
        validate_rigid(pose)
    return poses


def _resized(rgb: np.ndarray, camera: PinholeCamera) -> np.ndarray:
    if rgb.shape[:2] == (camera.height, camera.width):
        return rgb
    return cv2.resize(rgb, (camera.width, camera.height), interpolation=cv2.INTER_AREA)
