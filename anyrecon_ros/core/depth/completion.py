# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Depth for generated views: keep what the memory saw, propagate into what it did not.

A generated view has depth rendered from the geometry memory where the memory
saw the scene, and pixels the generator invented elsewhere. Those are filled
by colour-guided diffusion of inverse depth: every unknown pixel becomes the
weighted mean of its four neighbours, with weights that fall across colour
edges, and the known pixels are fixed (a Laplace equation, solved exactly).
Inverse depth is affine in the pixel coordinates on any plane and affine
functions are harmonic, so a hole inside one planar surface is filled with
that plane, not with a flat patch. A multi-view stereo estimate, when given,
pulls the fill towards its confident pixels.
"""

from dataclasses import dataclass
from typing import Optional

import cv2
import numpy as np
import scipy.ndimage
import scipy.sparse
import scipy.sparse.linalg

from anyrecon_ros.core.depth.mvs import DepthEstimate

# Where each output depth came from (CompletedDepth.source).
NO_DEPTH, RENDERED, STEREO, PROPAGATED = range(4)
# Neighbours across a colour edge still share a little, so that a region
# enclosed by edges is filled from its surroundings instead of left singular.
MIN_WEIGHT = 1e-4
# Free pixels up to which the system is solved directly; above it, conjugate
# gradients from a half-resolution solution.
DIRECT_SOLVE_LIMIT = 100_000
CG_TOLERANCE = 1e-6
CG_ITERATIONS = 500


@dataclass
class CompletedDepth:
    """Completed depth of a generated view."""

    depth: np.ndarray        # (H, W) float32 metres, NaN where nothing could be inferred
    confidence: np.ndarray   # (H, W) float32 in [0, 1]
    source: np.ndarray       # (H, W) uint8: NO_DEPTH, RENDERED, STEREO or PROPAGATED


def complete_depth(rgb: np.ndarray, rendered_depth: np.ndarray, rendered_mask: np.ndarray,
                   stereo: Optional[DepthEstimate] = None, *,
                   min_stereo_confidence: float = 0.2, stereo_weight: float = 0.1,
                   colour_sigma: float = 3.0, propagated_confidence: float = 0.5,
                   confidence_falloff: float = 32.0) -> CompletedDepth:
    """Return depth for every pixel of a generated view that can be inferred.

    ``rendered_depth`` (metres, NaN where empty) is kept unchanged where
    ``rendered_mask`` is True and finite. The other pixels are propagated from
    those, guided by ``rgb``: neighbours whose colours differ by much more
    than ``colour_sigma`` (0-255 units) barely share depth. Where a
    ``stereo`` estimate reaches ``min_stereo_confidence`` it pulls the
    propagated depth towards itself, with a strength of ``stereo_weight``
    times its confidence relative to the neighbours' pull (a soft constraint,
    so stereo noise is smoothed, not copied). Confidence: 1 for rendered
    pixels, the stereo confidence where stereo was used, and elsewhere
    ``propagated_confidence`` decaying over ``confidence_falloff`` pixels of
    distance from the nearest rendered or stereo pixel.
    """
    rgb, rendered_depth, rendered_mask = _checked(rgb, rendered_depth, rendered_mask, stereo)
    rendered = rendered_mask & np.isfinite(rendered_depth) & (rendered_depth > 0)
    inverse = np.zeros(rendered_depth.shape, dtype=np.float64)
    inverse[rendered] = 1.0 / rendered_depth[rendered]
    pull = np.zeros(rendered_depth.shape, dtype=np.float64)
    trusted = np.zeros(rendered_depth.shape, dtype=bool)
    if stereo is not None:
        trusted = (~rendered & stereo.valid & (stereo.confidence >= min_stereo_confidence)
                   & (stereo.depth > 0))
        inverse[trusted] = 1.0 / stereo.depth[trusted]
        pull[trusted] = stereo_weight * stereo.confidence[trusted]
    filled = _diffuse(rgb.astype(np.float64), inverse, rendered, pull, colour_sigma)
    found = np.isfinite(filled) & (filled > 0)
    source = np.full(rendered_depth.shape, NO_DEPTH, dtype=np.uint8)
    source[found & ~rendered] = PROPAGATED
    source[found & trusted] = STEREO
    source[rendered] = RENDERED
    confidence = np.zeros(rendered_depth.shape, dtype=np.float32)
    confidence[rendered] = 1.0
    if stereo is not None:
        confidence[source == STEREO] = stereo.confidence[source == STEREO]
    propagated = source == PROPAGATED
    if propagated.any():
        distance = scipy.ndimage.distance_transform_edt(~(rendered | trusted))
        confidence[propagated] = propagated_confidence * np.exp(
            -distance[propagated] / confidence_falloff)
    depth = np.full(rendered_depth.shape, np.nan, dtype=np.float32)
    depth[found] = 1.0 / filled[found]
    # Exactly the rendered values, not their round trip through 1 / (1 / d).
    depth[rendered] = rendered_depth[rendered]
    return CompletedDepth(depth=depth, confidence=confidence, source=source)


def _checked(rgb, rendered_depth, rendered_mask, stereo):
    rgb = np.asarray(rgb)
    rendered_depth = np.asarray(rendered_depth, dtype=np.float32)
    rendered_mask = np.asarray(rendered_mask, dtype=bool)
    size = rendered_depth.shape
    if rendered_depth.ndim != 2 or rgb.shape != size + (3,) or rendered_mask.shape != size:
        raise ValueError(f'rgb {rgb.shape}, rendered depth {rendered_depth.shape} and mask '
                         f'{rendered_mask.shape} must be (H, W, 3), (H, W) and (H, W)')
    if stereo is not None and stereo.depth.shape != size:
        raise ValueError(f'stereo depth {stereo.depth.shape} does not match {size}')
    return rgb, rendered_depth, rendered_mask


def _diffuse(rgb, targets, fixed, pull, colour_sigma):
    """Return values that equal ``targets`` where ``fixed`` and are smooth elsewhere.

    Each free pixel minimises the colour-weighted squared differences to its
    four neighbours plus ``pull`` times its squared difference to its target:
    a sparse symmetric positive definite system, solved directly. Free
    regions that touch no fixed pixel and have no pull stay NaN: nothing
    constrains them.
    """
    result = np.where(fixed, targets, np.nan)
    free = _constrained(~fixed, fixed | (pull > 0))
    if not free.any():
        return result
    index = np.full(fixed.shape, -1, dtype=np.int64)
    index[free] = np.arange(np.count_nonzero(free))
    size = np.count_nonzero(free)
    diagonal = pull[free].copy()
    right_hand = (pull * targets)[free]
    rows, columns, weights = [], [], []
    for first, second, weight in _neighbour_pairs(rgb, colour_sigma):
        for pixel, neighbour in ((first, second), (second, first)):
            _add_pair(pixel, neighbour, weight, index, fixed, targets, diagonal, right_hand,
                      (rows, columns, weights))
    matrix = scipy.sparse.csr_matrix(
        (np.concatenate(weights + [diagonal]),
         (np.concatenate(rows + [np.arange(size)]), np.concatenate(columns + [np.arange(size)]))),
        shape=(size, size))
    if size <= DIRECT_SOLVE_LIMIT:
        result[free] = scipy.sparse.linalg.spsolve(matrix, right_hand)
        return result
    # A direct solve grows much faster than linearly with the image, so large
    # problems start conjugate gradients from the half-resolution solution,
    # which leaves only fine detail for the iterations to settle.
    guess = _coarse_guess(rgb, targets, fixed, pull, colour_sigma)[free]
    preconditioner = scipy.sparse.diags(1.0 / diagonal)
    solution, _ = scipy.sparse.linalg.cg(matrix, right_hand, x0=guess, rtol=CG_TOLERANCE,
                                         maxiter=CG_ITERATIONS, M=preconditioner)
    result[free] = solution
    return result


def _coarse_guess(rgb, targets, fixed, pull, colour_sigma):
    """Return the diffusion solved at half resolution, brought back to full resolution."""
    height, width = fixed.shape
    half = ((width + 1) // 2, (height + 1) // 2)

    def shrink(image):
        return cv2.resize(np.asarray(image, dtype=np.float64), half,
                          interpolation=cv2.INTER_AREA)

    fixed_share = shrink(fixed)
    coarse_fixed = fixed_share > 0
    fixed_values = shrink(np.where(fixed, targets, 0.0)) / np.maximum(fixed_share, 1e-12)
    pull_share = shrink(pull)
    pulled_values = shrink(pull * targets) / np.maximum(pull_share, 1e-12)
    coarse_targets = np.where(coarse_fixed, fixed_values, pulled_values)
    coarse = _diffuse(shrink(rgb), coarse_targets, coarse_fixed, pull_share, colour_sigma)
    # Unconstrained coarse pixels start from the mean; the iterations decide.
    coarse = np.where(np.isfinite(coarse), coarse, np.nanmean(coarse))
    return cv2.resize(coarse, (width, height), interpolation=cv2.INTER_LINEAR)


def _constrained(free, anchors):
    """Return the free pixels whose 4-connected free region holds or borders an anchor."""
    count, labels = cv2.connectedComponents(free.astype(np.uint8), connectivity=4)
    cross = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], dtype=np.uint8)
    reach = cv2.dilate(anchors.astype(np.uint8), cross) > 0
    anchored = np.zeros(count, dtype=bool)
    anchored[np.unique(labels[reach & free])] = True
    anchored[0] = False     # label 0 is the fixed pixels themselves
    return anchored[labels] & free


def _neighbour_pairs(rgb, colour_sigma):
    """Yield (first, second, weight) for horizontal and vertical neighbours, as flat indices."""
    height, width = rgb.shape[:2]
    flat = np.arange(height * width).reshape(height, width)
    colours = rgb.reshape(-1, 3)
    for first, second in ((flat[:, :-1], flat[:, 1:]), (flat[:-1, :], flat[1:, :])):
        first, second = first.ravel(), second.ravel()
        difference = np.sum((colours[first] - colours[second]) ** 2, axis=1)
        weight = np.exp(-difference / (2.0 * colour_sigma ** 2)) + MIN_WEIGHT
        yield first, second, weight


def _add_pair(pixel, neighbour, weight, index, fixed, targets, diagonal, right_hand, entries):
    """Add the terms that ``neighbour`` contributes to the equation of each free ``pixel``."""
    rows, columns, weights = entries
    pixel_index = index.ravel()[pixel]
    neighbour_index = index.ravel()[neighbour]
    equation = pixel_index >= 0
    size = len(diagonal)
    diagonal += np.bincount(pixel_index[equation], weight[equation], minlength=size)
    held = equation & fixed.ravel()[neighbour]
    right_hand += np.bincount(pixel_index[held], weight[held] * targets.ravel()[neighbour[held]],
                              minlength=size)
    both_free = equation & (neighbour_index >= 0)
    rows.append(pixel_index[both_free])
    columns.append(neighbour_index[both_free])
    weights.append(-weight[both_free])
