# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""From posed frames to keyframes in the geometry memory: select, give depth, fuse.

The memory node and the offline command both map through :class:`Mapper`, so
a bag replayed offline and the same stream live give the same keyframes and
the same memory. Frames without depth get multi-view stereo depth from the
keyframes before them; the first such keyframe has no partner yet and is kept
without geometry (it still serves as a stereo source and a capture view).

Stereo searches the fixed metric range of ``MvsParameters`` (0.3-6 m) unless a
``depth_range`` says otherwise for each view: a scene in its own units
(``core.scene_io.units``) gives every view the range its sparse points,
near/far bounds or cameras tell.
"""

from dataclasses import dataclass
from dataclasses import replace
from typing import Callable, Optional

from anyrecon_ros.core.camera import undistort
from anyrecon_ros.core.config_fields import check_ranges
from anyrecon_ros.core.config_fields import setting
from anyrecon_ros.core.depth.mvs import estimate_depth
from anyrecon_ros.core.depth.mvs import MvsParameters
from anyrecon_ros.core.depth.mvs import select_sources
from anyrecon_ros.core.fusion_gate import RenderFidelity
from anyrecon_ros.core.geometry_memory import GeometryMemory
from anyrecon_ros.core.keyframe_selection import KeyframeSelector
from anyrecon_ros.core.view_bank import CaptureView
from anyrecon_ros.core.view_bank import ViewBank

# Metres at which select_sources judges overlap in a metric scene (a room).
SCENE_DEPTH = 2.0


@dataclass(frozen=True)
class MappingConfig:
    """Keyframe selection and stereo settings."""

    min_translation: float = setting(0.1, 'Metres a new keyframe must be from every keyframe '
                                     '(or rotated by min_rotation_deg).', (0.0, 100.0))
    min_rotation_deg: float = setting(10.0, 'Degrees a new keyframe must be rotated from every '
                                      'keyframe (or moved by min_translation).', (0.0, 180.0))
    max_overlap: float = setting(0.9, 'Largest share of a new keyframe one keyframe may '
                                 'already see.', (0.0, 1.0))
    mvs_sources: int = setting(4, 'Earlier keyframes multi-view stereo matches a keyframe '
                               'against.', (1, 16))
    depth_estimation_width: int = setting(160, 'Largest image width, pixels, multi-view stereo '
                                          'works at: wider frames are matched at this width, '
                                          'narrower ones at their own (bounds its time).',
                                          (32, 4096))

    def __post_init__(self):
        check_ranges(self)


class Mapper:
    """Turn posed frames into keyframes of ``bank`` fused into ``memory``.

    ``on_drop(reason, text)`` hears about frames that lose something (no
    stereo partner, stereo failure, a view that cannot be fused).
    ``depth_range(view)`` returns the (near, far) depths stereo searches for
    a view, in the poses' units; None: the metric MvsParameters range.
    ``render_fidelity`` measures each keyframe against the memory's render
    before the keyframe is fused (the fusion gate's yardstick).
    """

    def __init__(self, memory: GeometryMemory, bank: ViewBank,
                 config: MappingConfig = MappingConfig(),
                 on_drop: Optional[Callable[[str, str], None]] = None,
                 depth_range: Optional[Callable[[CaptureView], tuple]] = None):
        self.memory = memory
        self.bank = bank
        self.config = config
        self.depth_range = depth_range
        self.selector = KeyframeSelector(config.min_translation, config.min_rotation_deg,
                                         config.max_overlap)
        self.on_drop = on_drop or (lambda reason, text: None)
        self.next_id = max(bank.ids(), default=-1) + 1
        # Keyframes kept without geometry (no stereo partner yet, or stereo failed).
        self.without_geometry = []
        self.render_fidelity = RenderFidelity()

    def consider(self, view: CaptureView) -> Optional[CaptureView]:
        """Add ``view`` if it is a new keyframe; return the keyframe as stored, else None."""
        view = undistorted(view)
        if not self.selector.consider(view.camera_to_world, view.camera, view.depth):
            return None
        return self.add_keyframe(replace(view, view_id=self.next_id), selected=True)

    def add_keyframe(self, view: CaptureView, selected: bool = False) -> Optional[CaptureView]:
        """Add a keyframe chosen elsewhere (no selection); return it with its depth, or None.

        None means it could not be fused and was not added (``on_drop`` says why).
        """
        if view.view_id in self.bank:
            raise ValueError(f'keyframe id {view.view_id} is already in the bank')
        view = undistorted(view)
        self.render_fidelity.measure(self.memory, view)
        confidence = None
        if view.depth is None:
            view, confidence = self._with_stereo_depth(view)
        if view.depth is not None:
            try:
                self.memory.insert_view(view, confidence=confidence)
            except ValueError as error:
                self.on_drop('fusion_failed', f'keyframe {view.view_id}: {error}')
                return None
        if not selected:
            self.selector.add(view.camera_to_world, view.camera)
        self.bank.add(view)
        self.next_id = max(self.next_id, view.view_id + 1)
        if view.depth is None:
            self.without_geometry.append(view.view_id)
        return view

    def match_again(self) -> int:
        """Give stereo depth to the keyframes kept without geometry, matched against all others.

        For a run that has every frame (offline, evaluation): the first
        keyframe without depth had no earlier partner; now every later
        keyframe can be one. The depth is fused into the memory (the bank
        keeps the view as it was). Returns how many keyframes gained geometry.
        """
        gained, pending = 0, self.without_geometry
        self.without_geometry = []
        for view_id in pending:
            # Its drop was reported when it was added: failing again is no news.
            view, confidence = self._with_stereo_depth(self.bank[view_id], report=False)
            if view.depth is None:
                self.without_geometry.append(view_id)
                continue
            try:
                self.memory.insert_view(view, confidence=confidence)
                gained += 1
            except ValueError as error:
                self.on_drop('fusion_failed', f'keyframe {view_id}: {error}')
        return gained

    def _with_stereo_depth(self, view: CaptureView, report: bool = True):
        on_drop = self.on_drop if report else (lambda reason, text: None)
        parameters = MvsParameters(
            scale=min(1.0, self.config.depth_estimation_width / view.camera.width))
        scene_depth = SCENE_DEPTH
        if self.depth_range is not None:
            near, far = self.depth_range(view)
            parameters = replace(parameters, min_depth=near, max_depth=far)
            # Sources are judged where the view's surfaces are: midway in inverse depth.
            scene_depth = 2.0 / (1.0 / near + 1.0 / far)
        # Sources are chosen by pose; only the chosen ones are read (back) whole.
        chosen = select_sources(view, self.bank.placements(), self.config.mvs_sources,
                                scene_depth=scene_depth)
        if not chosen:
            on_drop('no_stereo_sources', f'keyframe {view.view_id} has no earlier keyframe '
                    'to match for depth; kept without geometry')
            return view, None
        try:
            sources = [self.bank[source.view_id] for source in chosen]
            estimate = estimate_depth(view, sources, parameters)
        except ValueError as error:
            on_drop('stereo_failed', f'keyframe {view.view_id}: {error}; kept without '
                    'geometry')
            return view, None
        return replace(view, depth=estimate.depth), estimate.confidence


def undistorted(view: CaptureView) -> CaptureView:
    """Return the view with lens distortion removed (same size and K): stereo needs pinholes."""
    if not view.camera.has_distortion:
        return view
    rgb, camera = undistort(view.camera, view.rgb)
    depth = None if view.depth is None else undistort(view.camera, view.depth)[0]
    return replace(view, rgb=rgb, camera=camera, depth=depth)
