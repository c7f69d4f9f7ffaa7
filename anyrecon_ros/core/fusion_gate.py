# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The fusion gate: which pixels of a generated view are trustworthy enough to become geometry.

A generated view is fused only where it can be checked, so a generator that
draws noise (or a good one that fails on one view) never damages the map:

1. **The view reproduces its render.** Where the memory render covered the
   view, the generator was given those pixels; a view whose PSNR against
   the render there is below ``min_render_psnr`` is rejected whole
   (``render_mismatch``); where real keyframes themselves reproduce the
   memory's renders worse than that (a real scene: exposure, RGB-depth
   misregistration, pose error), the bar is lowered to
   ``render_psnr_margin`` below them (:class:`RenderFidelity`): a view
   closer to its render than a real camera's image must not be refused for
   it. The view must also correlate with its render
   (``min_render_correlation``), which noise or a flat image never does,
   whatever its PSNR. For a generator that blends its output with the
   render (the shipped default's ``condition_blend``), the model's own
   output before the blend is what is checked: the blend would pass a model
   that draws a colour cast or invented texture. Both are low-passed first
   (a 1.5-pixel Gaussian, inside the covered area): the render's own splat
   aliasing costs even the ground truth 22-26 dB unblurred, 30-36 dB
   blurred, while invented texture and colour casts stay (the first CPU
   default: 21-26 dB blurred). A view
   the render barely covers cannot be checked this way and is rejected too
   (``unverifiable``).
2. **Its new pixels lie in thin holes and agree with other views.** Only
   holes of the render at most ``max_hole_half_width`` pixels from its
   covered pixels may be filled (a thin disocclusion continues surfaces the
   memory holds; a wider hole shows a surface it never saw, and depth
   completed from the memory extends the wrong one there). Each such pixel
   is carried, with its completed depth, into every generated view of
   the segment seen with between ``min_parallax`` and ``max_parallax`` (see
   :func:`confirming_views`); it is kept where one of them shows the same
   surface (depth within ``max_depth_disagreement``) in the same colour
   (mean difference at most ``max_colour_difference``). Pixels no such view
   confirms are rejected.

Rejected pixels get no depth (NaN), so nothing downstream fuses them; the
verdicts are counted by the loop, the nodes and the evaluation.
"""

from collections import deque
from dataclasses import dataclass
import math
from typing import Optional

import cv2
import numpy as np
import scipy.ndimage

from anyrecon_ros.core.camera import PinholeCamera
from anyrecon_ros.core.config_fields import check_ranges
from anyrecon_ros.core.config_fields import setting

ACCEPTED, RENDER_MISMATCH, UNVERIFIABLE = 'accepted', 'render_mismatch', 'unverifiable'
# Low-pass (pixels) before comparing a view with its render: removes splat aliasing.
BLUR_SIGMA = 1.5
# Keyframes are compared with the memory's render at this width (pixels): the
# generator's working width; the low-pass removes the detail beyond it anyway.
FIDELITY_WIDTH = 128
# A keyframe the memory covers less than this is not compared: too few pixels.
FIDELITY_MIN_COVERED = 0.3


@dataclass(frozen=True)
class GateConfig:
    """Thresholds of the fusion gate."""

    # Measured on held-out procedural views at 128 px (blurred PSNR against the
    # render): the ground truth 30-36 dB, the first CPU default 21-26 dB.
    min_render_psnr: float = setting(
        28.0, 'dB (after a 1.5-pixel blur) a generated view must reproduce the memory render '
        'by, over the pixels the render covered; views below are not fused.', (0.0, 100.0))
    # Real keyframes reproduce the renders of a real scene's memory far worse
    # (redkitchen 17-20 dB): the bar follows them there (RenderFidelity).
    render_psnr_margin: float = setting(
        3.0, 'dB below the median keyframe-to-render PSNR a generated view may reproduce its '
        'render by, where that median is below min_render_psnr + this margin (real scenes).',
        (0.0, 100.0))
    # Noise and flat images correlate about 0, the real redkitchen frames 0.79-0.89,
    # the shipped default's views 0.93-0.99: the check that does not depend on
    # how far the render is from reality, where the PSNR bar is lowered.
    min_render_correlation: float = setting(
        0.7, 'Least correlation (after the same blur) of a generated view with the memory '
        'render over the covered pixels; views below are not fused.', (-1.0, 1.0))
    min_covered_share: float = setting(
        0.05, 'Least share of a generated view the memory render must cover for the view to '
        'be checked (and fused) at all.', (0.0, 1.0))
    max_colour_difference: float = setting(
        24.0, 'Largest mean colour difference (0-255) between a new generated pixel and the '
        'same surface in a neighbouring generated view; pixels beyond are not fused.',
        (0.0, 255.0))
    # 3 %: most wrong depths the gate let through at 5 % were 2.4-5.3 % off
    # (5-13 cm at 2.5 m, beyond the map's 5 cm), on slanted surfaces next to the render.
    max_depth_disagreement: float = setting(
        0.03, 'Largest relative depth difference at which a neighbouring generated view shows '
        'the same surface.', (0.0, 1.0))
    min_parallax: float = setting(
        math.radians(5.0), "Least angle (at the view's median depth) between a generated view "
        'and a neighbour that confirms its new pixels; nearer views are passed over.',
        (0.0, math.radians(45.0)), in_degrees=True)
    # Measured on procedural scenes (completed depth within 5 cm of the truth): holes up
    # to 2 px across from the render 76-80 % right, thicker ones 6-47 % (the memory's
    # surfaces extended over an object it never saw). Along the demo's coverage path
    # 71 % of the generated points were off the mesh without this bound.
    max_hole_half_width: float = setting(
        2.0, 'Widest hole of the memory render (pixels from its covered pixels, at the '
        'generation width) whose pixels a generated view may add to the memory: a thin '
        'disocclusion continues surfaces the memory holds, a wider hole is a surface it '
        'never saw, whose depth cannot be completed.', (0.0, 4096.0))
    # More judges confirm more of the right pixels; wider ones see less of the same surface.
    max_parallax: float = setting(
        math.radians(20.0), 'Largest angle (at the median depth) between a generated view and '
        'a neighbour that confirms its new pixels.', (0.0, math.radians(90.0)), in_degrees=True)

    def __post_init__(self):
        check_ranges(self)
        if self.max_parallax < self.min_parallax:
            raise ValueError(f'max_parallax ({math.degrees(self.max_parallax):.1f} deg) must be '
                             f'at least min_parallax ({math.degrees(self.min_parallax):.1f} deg)')


@dataclass
class GateVerdict:
    """What the gate decided for one generated view."""

    verdict: str             # ACCEPTED, RENDER_MISMATCH or UNVERIFIABLE
    render_psnr: float       # over the covered pixels (nan where none)
    fused: np.ndarray        # (H, W) bool: pixels that may be fused
    rejected_pixels: int     # pixels with depth the gate refused
    render_correlation: float = float('nan')   # with the render, where covered

    @property
    def accepted(self) -> bool:
        """Return whether any of the view may be fused."""
        return self.verdict == ACCEPTED


def required_render_psnr(config: GateConfig, render_fidelity: Optional[float]) -> float:
    """Return the PSNR a generated view must reproduce its render by.

    ``render_fidelity``: the median PSNR of real keyframes against the memory
    rendered at their poses (:class:`RenderFidelity`; None: not measured).
    """
    if render_fidelity is None or not np.isfinite(render_fidelity):
        return config.min_render_psnr
    return min(config.min_render_psnr, render_fidelity - config.render_psnr_margin)


class RenderFidelity:
    """How closely real views reproduce the memory's renders: the render check's yardstick.

    Each keyframe, before it is fused, is a real image of what the memory
    predicts at its pose; its :func:`render_psnr` against that render
    (judged at ``FIDELITY_WIDTH``) is what a faithful view can score. On
    procedural scenes it is 30-37 dB; on the real redkitchen frames 17-20 dB,
    below which the fixed 28 dB bar refused views closer to their renders
    than the real images. The median of the last ``history`` keyframes the
    memory covers by at least ``FIDELITY_MIN_COVERED`` is kept.
    """

    def __init__(self, history: int = 32):
        self.samples = deque(maxlen=history)

    def measure(self, memory, view) -> Optional[float]:
        """Compare ``view`` (a CaptureView not yet fused) with ``memory``'s render; return it."""
        if not len(memory):
            return None
        camera = view.camera.bounded(FIDELITY_WIDTH)
        render = memory.render(camera, view.camera_to_world)
        if render.mask.mean() < FIDELITY_MIN_COVERED:
            return None
        rgb = cv2.resize(view.rgb, (camera.width, camera.height), interpolation=cv2.INTER_AREA)
        psnr = render_psnr(rgb, render)
        if np.isnan(psnr):   # no pixel inside the covered area
            return None
        self.samples.append(psnr)
        return psnr

    def value(self) -> Optional[float]:
        """Return the median measured PSNR (dB), or None before any keyframe was measured."""
        return float(np.median(self.samples)) if self.samples else None


def masked_psnr(image, reference, mask) -> float:
    """Return the 8-bit PSNR (dB) of ``image`` against ``reference`` over ``mask`` (nan: none)."""
    if not np.any(mask):
        return float('nan')
    difference = np.asarray(image, np.float64)[mask] - np.asarray(reference, np.float64)[mask]
    error = np.mean(difference ** 2)
    return float('inf') if error == 0 else float(10.0 * np.log10(255.0 ** 2 / error))


def render_psnr(image, render) -> float:
    """Return the PSNR of ``image`` against ``render.rgb`` over the covered pixels, low-passed.

    A normalised Gaussian blur inside ``render.mask`` (holes do not bleed in),
    compared away from the mask's edge.
    """
    low_image, low_render, inner = _low_passed_inside(image, render)
    return masked_psnr(low_image, low_render, inner)


def render_correlation(image, render) -> float:
    """Return the correlation of ``image`` with ``render.rgb`` where covered, low-passed as PSNR.

    Zero-mean per channel, normalised: 1 for the render itself (or any
    brightness and contrast change of it), about 0 for noise or a flat
    image, whatever their PSNR; nan where the render covers no inner pixel.
    """
    low_image, low_render, inner = _low_passed_inside(image, render)
    if not np.any(inner):
        return float('nan')
    first = low_image[inner].astype(np.float64)
    second = low_render[inner].astype(np.float64)
    first -= first.mean(axis=0)
    second -= second.mean(axis=0)
    energy = np.sqrt(np.sum(first ** 2) * np.sum(second ** 2))
    return float(np.sum(first * second) / energy) if energy > 0 else 0.0


def _low_passed_inside(image, render):
    """Return ``image`` and the render blurred inside the covered area, and its inner pixels."""
    mask = render.mask.astype(np.float32)
    weight = cv2.GaussianBlur(mask, (0, 0), BLUR_SIGMA)[..., None]

    def low_passed(rgb):
        blurred = cv2.GaussianBlur(rgb.astype(np.float32) * mask[..., None], (0, 0), BLUR_SIGMA)
        return blurred / np.maximum(weight, 1e-6)
    inner = cv2.erode(render.mask.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    return low_passed(image), low_passed(render.rgb), inner


def gate_segment(camera: PinholeCamera, poses, images, depths, renders,
                 config: GateConfig = GateConfig(), model_images=None,
                 render_fidelity: Optional[float] = None) -> list:
    """Return a GateVerdict for each generated view of one segment.

    ``poses`` (N, 4, 4) camera-to-world, ``images`` (N, H, W, 3) uint8,
    ``depths`` (N, H, W) completed depth (NaN unknown), ``renders`` the
    memory renders the views were conditioned on (``rgb``, ``mask``).
    ``model_images``: the generator's output before it was blended with the
    render, checked against the render instead of ``images`` (None: no blend).
    ``render_fidelity``: the keyframes' PSNR against the memory's renders,
    which may lower the render check's bar (:func:`required_render_psnr`).
    """
    required = required_render_psnr(config, render_fidelity)
    # Depth completed into a wide hole is a guess: never fused, and no judge of a
    # neighbour's new pixels either.
    judged = [np.where(render.mask | thin_holes(render.mask, config.max_hole_half_width),
                       depth, np.nan) for depth, render in zip(depths, renders)]
    verdicts = []
    checked = images if model_images is None else model_images
    for index, (image, depth, render) in enumerate(zip(images, depths, renders)):
        psnr = render_psnr(checked[index], render)
        correlation = render_correlation(checked[index], render)
        has_depth = np.isfinite(depth)
        if render.mask.mean() < config.min_covered_share:
            verdict = UNVERIFIABLE
        elif not (psnr >= required and correlation >= config.min_render_correlation):
            verdict = RENDER_MISMATCH
        else:
            verdict = ACCEPTED
        fused = np.zeros(depth.shape, bool)
        if verdict == ACCEPTED:
            # New pixels: only those of thin holes may be fused, once confirmed.
            candidates = np.isfinite(judged[index]) & ~render.mask
            unconfirmed = candidates.copy()
            for other in confirming_views(poses, index, judged[index], config.min_parallax,
                                          config.max_parallax):
                unconfirmed &= ~_confirmed_by(camera, poses[index], image, judged[index],
                                              unconfirmed, poses[other], images[other],
                                              judged[other], config)
            fused = has_depth & render.mask | (candidates & ~unconfirmed)
        verdicts.append(GateVerdict(verdict, psnr, fused, int(np.sum(has_depth & ~fused)),
                                    correlation))
    return verdicts


def thin_holes(covered: np.ndarray, max_half_width: float) -> np.ndarray:
    """Return the pixels of the holes in ``covered`` no wider than ``max_half_width`` pixels.

    A hole (an 8-connected region of uncovered pixels) is kept whole when
    none of its pixels is farther than ``max_half_width`` from a covered one.
    """
    holes = ~covered
    count, labels = cv2.connectedComponents(holes.astype(np.uint8), connectivity=8)
    if count <= 1:
        return np.zeros(covered.shape, bool)
    distance = scipy.ndimage.distance_transform_edt(holes)
    half_width = np.asarray(scipy.ndimage.maximum(distance, labels, index=np.arange(count)))
    thin = half_width <= max_half_width
    thin[0] = False   # label 0: the covered pixels
    return thin[labels]


def confirming_views(poses, index: int, depth, min_parallax: float,
                     max_parallax: float = None) -> list:
    """Return the views of a segment that may confirm view ``index``'s new pixels.

    On each side of the view along the segment: the nearest view whose camera
    centre is far enough for ``min_parallax`` (radians) at the view's median
    depth, and the views after it up to ``max_parallax`` (None: only that
    nearest one). Views closer than ``min_parallax`` see a wrong depth almost
    where the right one would be, so their agreement proves nothing; a view
    that only turned (no baseline) is never one.
    """
    finite = depth[np.isfinite(depth)]
    if not finite.size:
        return []
    centre = poses[index][:3, 3]
    median = float(np.median(finite))
    nearest = max(median * np.tan(min_parallax), 1e-9)
    farthest = nearest if max_parallax is None else median * np.tan(max_parallax)
    chosen = []
    for step in (-1, 1):
        side = []
        other = index + step
        while 0 <= other < len(poses):
            distance = np.linalg.norm(poses[other][:3, 3] - centre)
            if side and (max_parallax is None or distance > farthest):
                break
            if distance >= nearest:
                side.append(other)
            other += step
        chosen += side
    return chosen


def _confirmed_by(camera, pose, image, depth, candidates, other_pose, other_image, other_depth,
                  config) -> np.ndarray:
    """Return the ``candidates`` pixels of a view that another view shows alike.

    Alike: at the same depth and in the same colour.
    """
    v, u = np.nonzero(candidates & np.isfinite(depth))
    z = depth[v, u].astype(np.float64)
    rays = np.stack([(u - camera.cx) / camera.fx, (v - camera.cy) / camera.fy, np.ones_like(z)])
    world = pose[:3, :3] @ (rays * z) + pose[:3, 3:4]
    world_to_other = np.linalg.inv(other_pose)
    local = world_to_other[:3, :3] @ world + world_to_other[:3, 3:4]
    in_front = local[2] > 1e-6
    with np.errstate(divide='ignore', invalid='ignore'):
        u2 = np.rint(camera.fx * local[0] / local[2] + camera.cx)
        v2 = np.rint(camera.fy * local[1] / local[2] + camera.cy)
    inside = in_front & (u2 >= 0) & (u2 < camera.width) & (v2 >= 0) & (v2 < camera.height)
    confirmed = np.zeros(depth.shape, bool)
    if not np.any(inside):
        return confirmed
    u, v, z2 = u[inside], v[inside], local[2][inside]
    u2, v2 = u2[inside].astype(int), v2[inside].astype(int)
    seen = other_depth[v2, u2]
    same_surface = np.abs(seen - z2) <= config.max_depth_disagreement * z2
    colour = np.abs(image[v, u].astype(np.float64)
                    - other_image[v2, u2].astype(np.float64)).mean(axis=1)
    agree = same_surface & (colour <= config.max_colour_difference)
    confirmed[v[agree], u[agree]] = True
    return confirmed
