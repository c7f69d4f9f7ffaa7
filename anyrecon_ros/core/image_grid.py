# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Picture grids of views: rows of images at one height, holes tinted, written as PNG.

The demo's contact sheet, the evaluation's compare.png and training's
validation grids are all built from these.
"""

from pathlib import Path

import cv2
import numpy as np

# Pixels of a cell's height.
CELL_HEIGHT = 120
# Gap between cells and between rows, pixels.
GAP = 4
# Render pixels the memory did not cover are tinted so holes stand out.
HOLE_TINT = np.array([255, 0, 255], np.float32)
# Views the fusion gate refused are crossed out in this colour.
REFUSED_RED = (255, 0, 0)


def image_row(images) -> np.ndarray:
    """Return RGB images side by side, each scaled to the cell height."""
    if not images:
        return np.zeros((CELL_HEIGHT, CELL_HEIGHT, 3), np.uint8)
    cells = []
    for image in images:
        height, width = image.shape[:2]
        size = (max(1, round(width * CELL_HEIGHT / height)), CELL_HEIGHT)
        cells.append(np.pad(cv2.resize(image, size, interpolation=cv2.INTER_AREA),
                            ((0, 0), (0, GAP), (0, 0))))
    return np.concatenate(cells, axis=1)


def stack_rows(rows) -> np.ndarray:
    """Return rows of :func:`image_row` one above the other, padded to the widest."""
    width = max(row.shape[1] for row in rows)
    return np.concatenate([np.pad(row, ((0, GAP), (0, width - row.shape[1]), (0, 0)))
                           for row in rows])


def tint_holes(render: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Return ``render`` with the pixels outside ``mask`` tinted magenta."""
    tinted = render.astype(np.float32)
    tinted[~mask] = 0.5 * tinted[~mask] + 0.5 * HOLE_TINT
    return tinted.astype(np.uint8)


def mark_refused(image: np.ndarray) -> np.ndarray:
    """Return ``image`` dimmed, framed and crossed in red: a view the fusion gate refused.

    Marked on the picture itself so a contact sheet never passes off a view
    the map did not take in as part of it.
    """
    marked = np.ascontiguousarray(image.astype(np.float32) * 0.5, dtype=np.uint8)
    height, width = marked.shape[:2]
    thickness = max(1, round(min(height, width) / 32))
    cv2.rectangle(marked, (0, 0), (width - 1, height - 1), REFUSED_RED, thickness)
    cv2.line(marked, (0, 0), (width - 1, height - 1), REFUSED_RED, thickness)
    cv2.line(marked, (0, height - 1), (width - 1, 0), REFUSED_RED, thickness)
    return marked


def write_rgb(path, image: np.ndarray) -> Path:
    """Write an RGB uint8 image (PNG by the path's suffix); OSError if it cannot."""
    path = Path(path)
    if not cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR)):
        raise OSError(f'could not write {path}')
    return path
