# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Classical fills of a render's holes: Telea, and the depth-aware background fill."""

import numpy as np

from anyrecon_ros.core.inpainting import background_fill
from anyrecon_ros.core.inpainting import telea_depth
from anyrecon_ros.core.inpainting import telea_fill

RED, BLUE = (200, 30, 30), (30, 30, 200)


def disocclusion(height=32, width=128):
    """Return (rgb, mask, depth): a near red box hiding a strip of a far blue wall.

    Columns 40-71 are the box (depth 1 m); the wall (4 m) is everywhere else,
    and the 4 columns right of the box are the hole no input view saw (the
    shipped proportions: a 128-pixel view, a strip a few pixels wide).
    """
    rgb = np.empty((height, width, 3), np.uint8)
    rgb[:] = BLUE
    depth = np.full((height, width), 4.0, np.float32)
    rgb[:, 40:72] = RED
    depth[:, 40:72] = 1.0
    mask = np.ones((height, width), bool)
    mask[:, 72:76] = False
    rgb[~mask] = 0
    depth[~mask] = np.nan
    return rgb, mask, depth


def distance_to(pixels, colour):
    return float(np.abs(pixels.astype(float) - colour).mean())


def test_a_disocclusion_takes_the_colour_of_the_surface_behind_it():
    rgb, mask, depth = disocclusion()
    hole = ~mask
    filled = background_fill(rgb, mask, depth)
    telea = telea_fill(rgb, mask)
    # Telea, blind to depth, smears the box's red into the strip; the
    # background fill takes the wall's blue.
    assert distance_to(filled[hole], BLUE) < 15
    assert distance_to(telea[hole], BLUE) > 30
    # Only the hole changes.
    assert np.array_equal(filled[mask], rgb[mask])


def test_without_depth_it_is_telea():
    rgb, mask, depth = disocclusion()
    nothing = np.full_like(depth, np.nan)
    assert np.array_equal(background_fill(rgb, mask, nothing), telea_fill(rgb, mask))
    # One depth everywhere: nothing is in front, the same as Telea.
    flat = np.where(mask, 2.0, np.nan).astype(np.float32)
    assert np.array_equal(background_fill(rgb, mask, flat), telea_fill(rgb, mask))


def test_a_render_without_holes_is_returned_unchanged():
    rgb, mask, depth = disocclusion()
    full = np.ones_like(mask)
    filled = background_fill(rgb, full, depth)
    assert np.array_equal(filled, rgb) and filled is not rgb


def test_depth_is_inpainted_smoothly_across_a_hole():
    """A ramp of depth with a hole: filled between its sides (float Telea oscillated 1.1-3.4)."""
    depth = np.tile(np.linspace(1.5, 3.5, 40, dtype=np.float32), (40, 1))
    known = np.ones(depth.shape, bool)
    known[10:20, 10:20] = False
    filled = telea_depth(np.where(known, depth, np.nan), known)
    assert np.all(np.abs(filled[known] - depth[known]) < 1e-3)
    hole = filled[~known]
    assert hole.min() > depth[0, 9] - 0.05 and hole.max() < depth[0, 20] + 0.05
    assert np.all(np.abs(np.diff(filled[15, 8:22])) < 0.2)
    assert np.isnan(telea_depth(depth, np.zeros(depth.shape, bool))).all()
