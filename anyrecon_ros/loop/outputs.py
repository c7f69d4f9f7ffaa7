# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""What a run of the loop leaves behind: images, the memory, a contact sheet, a summary.

Shared by ``anyrecon demo`` and ``anyrecon offline`` so both write the same
folder: ``memory.ply``, ``generated/*.png``, ``contact_sheet.png`` and
``summary.json`` (the map file, ``map.db``, is written by the map store).
"""

import json
from pathlib import Path
import sys

import numpy as np

from anyrecon_ros.core.geometry_memory import GeometryMemory
from anyrecon_ros.core.image_grid import image_row
from anyrecon_ros.core.image_grid import mark_refused
from anyrecon_ros.core.image_grid import stack_rows
from anyrecon_ros.core.image_grid import tint_holes
from anyrecon_ros.core.image_grid import write_rgb
from anyrecon_ros.loop.reconstruction import trajectory_coverage

SHEET_COLUMNS = 6


def write_generated_images(folder, frames) -> list:
    """Write each GeneratedFrame as ``generated/NNNNN.png``; return the paths."""
    folder = Path(folder) / 'generated'
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for frame in frames:
        paths.append(write_rgb(folder / f'{frame.index:05d}.png', frame.rgb))
    return paths


def contact_sheet(captures, renders, masks, generated) -> np.ndarray:
    """Return an RGB sheet: a row of capture views, memory renders (holes tinted), generated views.

    Each argument is a list of (H, W, 3) uint8 images (``masks``: (H, W)
    bool, True where the memory was visible); rows may differ in length and
    size, cells are scaled to one height.
    """
    return stack_rows([
        image_row(captures),
        image_row([tint_holes(render, mask) for render, mask in zip(renders, masks)]),
        image_row(generated)])


def write_contact_sheet(path, captures, renders, masks, generated) -> Path:
    """Write :func:`contact_sheet` as a PNG."""
    return write_rgb(path, contact_sheet(captures, renders, masks, generated))


def sample_indices(count: int, samples: int = SHEET_COLUMNS) -> list:
    """Return up to ``samples`` indices spread evenly over ``count`` items."""
    return sorted({int(round(i)) for i in np.linspace(0, count - 1, min(samples, count))})


def write_loop_sheet(path, memory_before: GeometryMemory, bank, frames, camera=None,
                     poses=None) -> Path:
    """Write the contact sheet of a loop run: a few views spread along the trajectory.

    Rows: the capture views they were conditioned on, the memory as it was
    before the loop rendered into them (holes tinted), and the generated views
    (those the fusion gate refused, without depth, dimmed and crossed out).
    With no generated view to show (the fusion gate rejected them all), the
    renders along ``poses`` at ``camera`` are shown over an empty third row.
    """
    if not frames and poses is not None and len(poses):
        chosen = [poses[index] for index in sample_indices(len(poses))]
        renders = [memory_before.render(camera, pose) for pose in chosen]
        captures = [view.rgb for view in bank.views()[:SHEET_COLUMNS]]
        return write_contact_sheet(path, captures, [render.rgb for render in renders],
                                   [render.mask for render in renders], [])
    chosen = [frames[index] for index in sample_indices(len(frames))]
    references = list(dict.fromkeys(view_id for frame in chosen
                                    for view_id in frame.reference_ids))
    renders = [memory_before.render(frame.camera, frame.camera_to_world) for frame in chosen]
    return write_contact_sheet(path, [bank[view_id].rgb for view_id in references],
                               [render.rgb for render in renders],
                               [render.mask for render in renders],
                               [frame.rgb if frame.depth is not None else mark_refused(frame.rgb)
                                for frame in chosen])


def loop_summary(memory_before: GeometryMemory, memory_after: GeometryMemory, camera, poses,
                 keyframes: int, generator_trained: bool, fused_views: int,
                 rejected_views: int, rejected_pixels: int) -> dict:
    """Return the figures every loop run reports (``summary.json``, without ``topics``).

    ``fused_views`` passed the fusion gate; ``rejected_views`` did not and
    added nothing to the memory; ``rejected_pixels`` are depth pixels of
    fused views the gate refused. Coverage counts only what was fused.
    """
    return {'keyframes': keyframes, 'generated_views': fused_views + rejected_views,
            'fused_views': fused_views, 'rejected_views': rejected_views,
            'rejected_pixels': rejected_pixels, 'trajectory_views': len(poses),
            'memory_points_before_generation': len(memory_before),
            'memory_points_after_generation': len(memory_after),
            'coverage_before': trajectory_coverage(memory_before, camera, poses),
            'coverage_after': trajectory_coverage(memory_after, camera, poses),
            'generator_trained': generator_trained}


def progress_line(segment: int, segments: int, stage: str, step: int, steps: int,
                  views: int) -> str:
    """Return one line describing where a loop run stands."""
    return (f'segment {min(segment + 1, segments)}/{segments} {stage}'
            + (f' step {step}/{steps}' if steps else '') + f' | {views} views')


class ProgressPrinter:
    """Print loop progress (LoopProgress or GenerationProgress) as one line per change.

    On a terminal the line is rewritten in place at every update; in a log,
    a line is written only when the segment, stage or step changes.
    """

    def __init__(self, stream=None):
        self.stream = stream or sys.stdout
        self._last = None

    def __call__(self, update) -> None:
        """Show ``update``."""
        terminal = self.stream.isatty()
        key = (update.segment, update.stage, update.step)
        if key == self._last and not terminal:
            return
        self._last = key
        line = progress_line(update.segment, update.segments, update.stage, update.step,
                             update.steps, update.generated_views)
        final = update.stage in ('done', 'failed')
        print(f'anyrecon: {line}'.ljust(79), end='\r' if terminal and not final else '\n',
              file=self.stream, flush=True)


def write_summary(path, summary: dict) -> Path:
    """Write ``summary`` as indented JSON."""
    path = Path(path)
    path.write_text(json.dumps(summary, indent=2, sort_keys=True) + '\n')
    return path


def write_memory(folder, memory: GeometryMemory) -> Path:
    """Write the memory as ``memory.ply``."""
    path = Path(folder) / 'memory.ply'
    memory.export_ply(path)
    return path
