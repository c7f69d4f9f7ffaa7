# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Does a scene in other units map alike? ``anyrecon eval`` on a scene and on a scaled copy.

Writes a copy of an RGB-only scene with every length multiplied by a factor
(camera translations, near/far bounds, and sparse points: a scene with points
is written as a COLMAP model, one without as a posed-scene folder; images are
copied), runs ``anyrecon eval`` on both and compares the coverage of the
held-out views the memory renders. A scene in its own units is measured in
nominal metres (``core.scene_io.units``), so the two should agree; exit 1
when they differ by more than the tolerance (relative), or when either map is
empty.

Usage: .venv/bin/python tools/units_check.py SCENE [--factor 20] [--out DIR]
       [--inputs every:10] [--targets interpolate] [--width 128] [eval options]
"""

import argparse
import contextlib
import io
import json
from pathlib import Path
import shutil
import sys

from anyrecon_ros.cli.main import main as anyrecon
from anyrecon_ros.core.scene_io import open_scene
from anyrecon_ros.core.scene_io import write_posed_scene
from anyrecon_ros.core.scene_io.colmap import write_colmap_text
from anyrecon_ros.core.scene_io.units import scaled_scene


def write_scaled_copy(source, folder, factor: float) -> Path:
    """Write ``source`` (an RGB-only scene) with every length times ``factor``; return the copy."""
    scene = scaled_scene(open_scene(Path(source)), factor)
    folder = Path(folder)
    if folder.exists():
        shutil.rmtree(folder)
    if scene.points is None or scene.recorded_camera.has_distortion:
        write_posed_scene(folder, scene)
        return folder
    (folder / 'images').mkdir(parents=True)
    images = []
    for index, frame in enumerate(scene.frames):
        name = f'{index:05d}_{frame.image_path.name}'
        shutil.copyfile(frame.image_path, folder / 'images' / name)
        images.append((name, scene.camera, frame.camera_to_world))
    write_colmap_text(folder, images, scene.points.xyz, scene.points.rgb)
    return folder


def coverage(scene, out: Path, options: list) -> dict:
    """Run ``anyrecon eval`` on ``scene``; return its metrics (SystemExit when it fails)."""
    # The report goes to report.md; only the comparison is printed.
    with contextlib.redirect_stdout(io.StringIO()):
        code = anyrecon(['eval', '--scene', str(scene), '--out', str(out), *options])
    if code:
        raise SystemExit(f'anyrecon eval failed on {scene} (exit {code})')
    return json.loads((out / 'metrics.json').read_text())


def main(argv=None) -> int:
    """Write the scaled copy, evaluate both, print the comparison; 0 when they agree."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('scene', help='an RGB-only scene (posed folder, COLMAP, transforms.json)')
    parser.add_argument('--factor', type=float, default=20.0, help='length factor (default 20)')
    parser.add_argument('--out', default='out/units_check', help='output folder')
    parser.add_argument('--tolerance', type=float, default=0.05,
                        help='largest relative coverage difference (default 0.05)')
    args, options = parser.parse_known_args(argv)
    if '--checkpoint' not in options:
        # Coverage is the memory's: the classical generator is enough, and fast.
        options += ['--checkpoint', 'inpaint']
    out = Path(args.out)
    copy = write_scaled_copy(args.scene, out / f'scene_x{args.factor:g}', args.factor)
    original = coverage(args.scene, out / 'eval_original', options)
    scaled = coverage(copy, out / f'eval_x{args.factor:g}', options)
    rows = []
    for name, metrics in (('original', original), (f'x{args.factor:g}', scaled)):
        units, render = metrics['units'], metrics['methods']['render']
        rows.append((name, units['scale'], units['source'], metrics['memory_points'],
                     render['coverage'], render['psnr']))
    print('| scene | scale (units per nominal m) | from | memory points | coverage | '
          'render PSNR |\n|---|---|---|---|---|---|')
    for name, scale, source, points, covered, quality in rows:
        print(f'| {name} | {scale:.4g} | {source} | {points} | {covered:.4f} | {quality:.2f} |')
    first, second = rows[0][4], rows[1][4]
    difference = abs(second - first) / max(first, 1e-12)
    agree = first > 0 and second > 0 and difference <= args.tolerance
    print(f'coverage differs by {100 * difference:.2f} % '
          f'({"within" if agree else "beyond"} {100 * args.tolerance:g} %)')
    return 0 if agree else 1


if __name__ == '__main__':
    sys.exit(main())
