# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Classical inpainting of memory renders, and a generator that is only Telea's.

``telea_fill`` is OpenCV's Telea inpainting of the render's holes.
``background_fill`` is the depth-aware variant the default generator's
condition uses: most holes in a render are disocclusions, the strip of
background a nearer object hid from every input view, so their colour comes
from the far side of the hole. Telea, blind to depth, smears the object's
edge into them; this fill first hides the near pixels around each hole and
inpaints from what is left (the classic hole filling of depth-image-based
rendering).

``TeleaGenerator`` has what the reconstruction loop uses of a view generator
(``generate``, ``size_multiple``, ``working_width``, ``trained``), so the
whole loop can run with the classical fill in place of the diffusion model:
the baseline every generated view must beat (``anyrecon eval``'s
``inpaint_loop``), and ``checkpoint: inpaint`` for a node that should fill
the map without a learned model.
"""

import cv2
import numpy as np

INPAINT_RADIUS = 3
# Around a hole, a covered pixel nearer than (1 - margin) times the farthest
# depth within the window is foreground (hidden before inpainting). The
# window is a share of the image width (9 px at 128). Both were chosen on
# training scenes (procedural seeds >= 1000 and ../shared/data/train),
# docs/training.md "Sampling the default".
FOREGROUND_MARGIN = 0.3
BACKGROUND_WINDOW = 0.07
# The diffusion generator's grid, so both run at the same size.
SIZE_MULTIPLE = 16
DEFAULT_WORKING_WIDTH = 128


def telea_fill(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Return uint8 ``rgb`` with the pixels outside ``mask`` filled by Telea inpainting."""
    return cv2.inpaint(rgb, (~mask).astype(np.uint8), INPAINT_RADIUS, cv2.INPAINT_TELEA)


def telea_depth(depth: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Return float32 ``depth`` with the pixels outside ``mask`` filled by Telea inpainting.

    OpenCV 5.0's Telea on float32 images oscillates inside a hole (a ramp
    from 1.9 to 2.6 filled with 1.1-3.4); on 16-bit images it does not, so
    depth is inpainted in 16-bit steps of its largest value / 65000 (a 6 m
    room: 0.1 mm). NaN where nothing was known.
    """
    known = mask & np.isfinite(depth) & (depth > 0)
    if not known.any():
        return np.full(depth.shape, np.nan, np.float32)
    step = float(depth[known].max()) / 65000.0
    levels = np.round(np.where(known, depth, 0.0) / step).astype(np.uint16)
    filled = cv2.inpaint(levels, (~known).astype(np.uint8), INPAINT_RADIUS, cv2.INPAINT_TELEA)
    return np.where(filled > 0, filled * step, np.nan).astype(np.float32)


def background_fill(rgb: np.ndarray, mask: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """Return uint8 ``rgb`` with the pixels outside ``mask`` filled from the background.

    ``depth`` (H, W) is the render's depth (NaN or anything where ``mask`` is
    False). Covered pixels near a hole that are clearly nearer than the
    farthest surface around it are treated as unknown while Telea fills, so
    a hole takes the colour of the surface behind it; only the hole's pixels
    change. Without any depth (all NaN) this is ``telea_fill``.
    """
    holes = ~mask
    if not holes.any():
        return rgb.copy()
    known = np.where(mask & np.isfinite(depth), depth, 0).astype(np.float32)
    radius = max(1, round(BACKGROUND_WINDOW * rgb.shape[1]))
    window = np.ones((2 * radius + 1, 2 * radius + 1), np.uint8)
    near_hole = cv2.dilate(holes.astype(np.uint8), window) > 0
    farthest = cv2.dilate(known, window)
    foreground = mask & near_hole & (known < farthest * (1 - FOREGROUND_MARGIN))
    filled = telea_fill(rgb, mask & ~foreground)
    out = rgb.copy()
    out[holes] = filled[holes]
    return out


class TeleaGenerator:
    """Fill each render's holes by Telea inpainting; the capture views are not used."""

    # Its views are real fills, not an untrained model's noise.
    trained = True
    backend = 'telea'

    def __init__(self, working_width: int = DEFAULT_WORKING_WIDTH,
                 size_multiple: int = SIZE_MULTIPLE):
        self.working_width = working_width
        self.size_multiple = size_multiple

    def generate(self, capture_images: np.ndarray, renders: np.ndarray, masks: np.ndarray,
                 progress=None, render_depths=None) -> np.ndarray:
        """Return (T, H, W, 3) uint8: each render with its unmasked pixels inpainted.

        ``render_depths`` is accepted as the diffusion generator takes it, and
        not used: this is the depth-blind baseline.
        """
        images = np.stack([telea_fill(render, mask) for render, mask in zip(renders, masks)])
        if progress:
            progress(0, 1, 1, 1)
        return images
