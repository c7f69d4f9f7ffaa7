# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Classical inpainting of memory renders (Telea), and a generator that is only that.

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
# The diffusion generator's grid, so both run at the same size.
SIZE_MULTIPLE = 16
DEFAULT_WORKING_WIDTH = 128


def telea_fill(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Return uint8 ``rgb`` with the pixels outside ``mask`` filled by Telea inpainting."""
    return cv2.inpaint(rgb, (~mask).astype(np.uint8), INPAINT_RADIUS, cv2.INPAINT_TELEA)


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
                 progress=None) -> np.ndarray:
        """Return (T, H, W, 3) uint8: each render with its unmasked pixels inpainted."""
        images = np.stack([telea_fill(render, mask) for render, mask in zip(renders, masks)])
        if progress:
            progress(0, 1, 1, 1)
        return images
