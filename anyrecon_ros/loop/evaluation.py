# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``anyrecon eval``: measure how well views the system was not given are reproduced.

Input views of a scene build the memory (their depth where the scene has it,
multi-view stereo where it does not). Each held-out target view is then
produced three ways: ``render`` (the memory rendered into it), ``inpaint``
(that render with its holes filled by OpenCV's Telea inpainting) and
``anyrecon`` (the closed loop along the targets, with the configured
generator). Everything happens at the generator's working resolution: larger
images are resized (distorted ones were undistorted on load) first.
"""

from dataclasses import dataclass
from dataclasses import field
import json
from pathlib import Path

import cv2
import numpy as np

from anyrecon_ros.core.geometry_memory import GeometryMemory
from anyrecon_ros.core.geometry_memory import MemoryConfig
from anyrecon_ros.core.image_grid import image_row
from anyrecon_ros.core.image_grid import stack_rows
from anyrecon_ros.core.image_grid import tint_holes
from anyrecon_ros.core.image_grid import write_rgb
from anyrecon_ros.core.mapping import Mapper
from anyrecon_ros.core.scene_io.working_scene import SYNTHETIC_FRAMES
from anyrecon_ros.core.scene_io.working_scene import WorkingScene
from anyrecon_ros.core.view_bank import ViewBank
from anyrecon_ros.loop.outputs import ProgressPrinter
from anyrecon_ros.loop.reconstruction import LoopConfig
from anyrecon_ros.loop.reconstruction import ReconstructionLoop
from anyrecon_ros.model.pipelines.generator import GeneratorSettings
from anyrecon_ros.model.pipelines.generator import ViewGenerator

METHODS = ('render', 'inpaint', 'anyrecon')
INPAINT_RADIUS = 3
# Chamfer distance: points sampled on the ground-truth mesh.
MESH_SAMPLES = 200_000


@dataclass
class EvalSettings:
    """What to evaluate and how."""

    inputs: str = 'every:10'      # every:N, or a comma-separated list of frame indices
    targets: str = 'interpolate'  # interpolate, extrapolate, or a list of frame indices
    width: int = 0                # working resolution (0: the generator's); larger is resized
    frames: int = SYNTHETIC_FRAMES  # frames of a synthetic:SEED scene's camera loop
    memory: MemoryConfig = field(default_factory=lambda: MemoryConfig(voxel_size=0.02))
    generator: GeneratorSettings = field(default_factory=GeneratorSettings)


# ---- splits ----------------------------------------------------------------------------


def split_frames(count: int, inputs: str, targets: str):
    """Return (input indices, target indices) of a ``count``-frame scene."""
    input_indices = _parse_inputs(count, inputs)
    if targets == 'interpolate':
        target_indices = [(a + b) // 2 for a, b in zip(input_indices, input_indices[1:])
                          if b - a > 1]
    elif targets == 'extrapolate':
        step = max(1, (input_indices[-1] - input_indices[0]) // max(1, len(input_indices) - 1))
        before = range(input_indices[0] - step // 2, -1, -step)
        after = range(input_indices[-1] + max(1, step // 2), count, step)
        target_indices = sorted(set(before) | set(after))
    else:
        target_indices = _index_list(count, targets, 'targets')
    target_indices = [index for index in target_indices if index not in set(input_indices)]
    if not target_indices:
        raise ValueError(f'no target frames: targets {targets!r} with inputs {input_indices}')
    return input_indices, target_indices


def _parse_inputs(count, spec):
    if spec.startswith('every:'):
        step = spec[len('every:'):]
        if not step.isdigit() or int(step) < 1:
            raise ValueError(f'inputs {spec!r}: use every:N with N >= 1')
        indices = list(range(0, count, int(step)))
    else:
        indices = _index_list(count, spec, 'inputs')
    if len(indices) < 2:
        raise ValueError(f'inputs {spec!r} give {len(indices)} frame(s); need at least 2')
    return indices


def _index_list(count, spec, name):
    try:
        indices = sorted({int(item) for item in spec.split(',') if item.strip()})
    except ValueError:
        raise ValueError(f'{name} {spec!r}: expected a comma-separated list of frame indices')
    bad = [index for index in indices if not 0 <= index < count]
    if bad:
        raise ValueError(f'{name}: frames {bad} are outside the scene (0..{count - 1})')
    return indices


# ---- metrics ---------------------------------------------------------------------------


def psnr(prediction: np.ndarray, truth: np.ndarray, mask: np.ndarray = None) -> float:
    """Return the PSNR (dB) of uint8 images, over ``mask`` pixels (all when None); NaN if none."""
    error = (prediction.astype(np.float64) - truth.astype(np.float64)) ** 2
    if mask is not None:
        error = error[mask]
    if not error.size:
        return float('nan')
    mse = error.mean()
    return float('inf') if mse == 0 else float(10.0 * np.log10(255.0 ** 2 / mse))


def ssim(prediction: np.ndarray, truth: np.ndarray) -> float:
    """Return the mean SSIM of two uint8 images (Wang et al. 2004; see :func:`ssim_map`)."""
    return float(ssim_map(prediction, truth).mean())


def ssim_map(prediction: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Return the per-pixel, per-channel SSIM: 11x11 Gaussian window (sigma 1.5).

    The usual constants C1 = (0.01 * 255)^2 and C2 = (0.03 * 255)^2; borders
    are reflected.
    """
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def blur(image):
        return cv2.GaussianBlur(image, (11, 11), 1.5, borderType=cv2.BORDER_REFLECT)
    x, y = prediction.astype(np.float64), truth.astype(np.float64)
    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x ** 2
    var_y = blur(y * y) - mu_y ** 2
    cov = blur(x * y) - mu_x * mu_y
    return ((2 * mu_x * mu_y + c1) * (2 * cov + c2)
            / ((mu_x ** 2 + mu_y ** 2 + c1) * (var_x + var_y + c2)))


def depth_errors(prediction: np.ndarray, truth: np.ndarray):
    """Return (AbsRel, share with max ratio < 1.25) where both depths are valid; NaNs if none."""
    valid = np.isfinite(prediction) & np.isfinite(truth) & (prediction > 0) & (truth > 0)
    if not valid.any():
        return float('nan'), float('nan')
    p, t = prediction[valid], truth[valid]
    ratio = np.maximum(p / t, t / p)
    return float(np.mean(np.abs(p - t) / t)), float(np.mean(ratio < 1.25))


def chamfer_distance(points: np.ndarray, mesh, samples: int = MESH_SAMPLES) -> float:
    """Return the symmetric mean nearest-neighbour distance (m) between points and a mesh."""
    import open3d as o3d
    if not len(points):
        return float('nan')
    o3d.utility.random.seed(0)
    surface = mesh.sample_points_uniformly(number_of_points=samples)
    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points.astype(np.float64)))
    to_mesh = np.asarray(cloud.compute_point_cloud_distance(surface))
    to_points = np.asarray(surface.compute_point_cloud_distance(cloud))
    return float(0.5 * (to_mesh.mean() + to_points.mean()))


# ---- the evaluation --------------------------------------------------------------------


def evaluate(spec: str, out, settings: EvalSettings = EvalSettings(), progress=print) -> dict:
    """Evaluate a scene; write metrics.json, compare.png and report.md into ``out``."""
    out = Path(out)
    generator = ViewGenerator.load(settings.generator)
    scene = WorkingScene(spec, settings.width or generator.working_width, settings.frames)
    inputs, targets = split_frames(len(scene), settings.inputs, settings.targets)
    progress(f'anyrecon eval: {spec}: {len(inputs)} inputs, {len(targets)} targets at '
             f'{scene.camera.width}x{scene.camera.height}')
    memory, bank = GeometryMemory(settings.memory), ViewBank()
    mapper = Mapper(memory, bank)
    for done, index in enumerate(inputs, 1):
        mapper.add_keyframe(scene.view(index))
        progress(f'anyrecon eval: inputs {done}/{len(inputs)}')
    truths = [scene.view(index) for index in targets]
    before = GeometryMemory.from_state_dict(memory.state_dict())
    renders = [before.render(scene.camera, truth.camera_to_world) for truth in truths]
    inpainted = [inpaint_render(render) for render in renders]
    loop = ReconstructionLoop(memory, bank, generator,
                              LoopConfig(generation_width=scene.camera.width))
    generated = loop.run(scene.camera, [truth.camera_to_world for truth in truths],
                         progress=ProgressPrinter())
    predictions = {'render': [(r.rgb, r.depth) for r in renders],
                   'inpaint': inpainted,
                   'anyrecon': [_at_size(frame, scene.camera) for frame in generated]}
    per_view = [_view_metrics(index, truth, render, {name: predictions[name][i]
                                                     for name in METHODS})
                for i, (index, truth, render) in enumerate(zip(targets, truths, renders))]
    metrics = {'scene': spec, 'inputs': inputs, 'targets': targets,
               'resolution': [scene.camera.width, scene.camera.height],
               'generator_trained': generator.trained,
               'methods': {name: _means(per_view, name) for name in METHODS},
               'per_view': per_view}
    if scene.procedural is not None:
        mesh = scene.procedural.mesh()
        metrics['chamfer'] = {'render': chamfer_distance(before.positions, mesh),
                              'inpaint': chamfer_distance(before.positions, mesh),
                              'anyrecon': chamfer_distance(memory.positions, mesh)}
    _write(out, metrics, truths, renders, predictions)
    return metrics


def _at_size(frame, camera):
    """Return a generated frame's (rgb, depth) at ``camera``'s size, to compare with the truth.

    The generator works on a 16-pixel grid, so a scene whose height is off it
    (160x120) is generated a little larger (160x128) and resized back here.
    """
    size = (camera.width, camera.height)
    if frame.rgb.shape[1::-1] == size:
        return frame.rgb, frame.depth
    depth = None if frame.depth is None else cv2.resize(frame.depth, size,
                                                        interpolation=cv2.INTER_NEAREST)
    return cv2.resize(frame.rgb, size, interpolation=cv2.INTER_AREA), depth


def inpaint_render(render):
    """Return (rgb, depth): a memory render with its holes filled by Telea inpainting."""
    holes = (~render.mask).astype(np.uint8)
    rgb = cv2.inpaint(render.rgb, holes, INPAINT_RADIUS, cv2.INPAINT_TELEA)
    depth = cv2.inpaint(np.nan_to_num(render.depth).astype(np.float32), holes, INPAINT_RADIUS,
                        cv2.INPAINT_TELEA)
    return rgb, np.where(depth > 0, depth, np.nan).astype(np.float32)


def _view_metrics(index, truth, render, predictions) -> dict:
    row = {'frame': int(index), 'coverage': float(render.mask.mean())}
    for name, (rgb, depth) in predictions.items():
        figures = {'psnr': psnr(rgb, truth.rgb), 'ssim': ssim(rgb, truth.rgb),
                   'psnr_unseen': psnr(rgb, truth.rgb, ~render.mask),
                   'coverage': row['coverage']}
        if truth.depth is not None and depth is not None:
            figures['depth_abs_rel'], figures['depth_delta_1_25'] = depth_errors(depth,
                                                                                 truth.depth)
        row[name] = figures
    return row


def _means(per_view, method) -> dict:
    keys = per_view[0][method].keys()
    means = {}
    for key in keys:
        values = np.array([row[method][key] for row in per_view], np.float64)
        finite = values[np.isfinite(values)]
        means[key] = float(finite.mean()) if finite.size else None
    return means


def _write(out, metrics, truths, renders, predictions):
    out.mkdir(parents=True, exist_ok=True)
    (out / 'metrics.json').write_text(json.dumps(_json_safe(metrics), indent=2) + '\n')
    rows = []
    for i, (truth, render) in enumerate(zip(truths, renders)):
        rows.append(image_row([truth.rgb, tint_holes(render.rgb, render.mask),
                               predictions['inpaint'][i][0], predictions['anyrecon'][i][0]]))
    write_rgb(out / 'compare.png', stack_rows(rows))
    (out / 'report.md').write_text(report_markdown(metrics))


def report_markdown(metrics: dict) -> str:
    """Return the report: the table of method means and the comparison picture."""
    width, height = metrics['resolution']
    lines = [f'# Evaluation of {metrics["scene"]}', '',
             f'{len(metrics["inputs"])} input views, {len(metrics["targets"])} held-out '
             f'targets, metrics at {width}x{height}.'
             + ('' if metrics['generator_trained'] else
                ' The generator is untrained (no checkpoint): its views are noise.'), '',
             '| method | PSNR | SSIM | PSNR unseen | coverage | depth AbsRel | depth δ<1.25 |'
             + (' Chamfer (m) |' if 'chamfer' in metrics else ''),
             '|---|---|---|---|---|---|---|' + ('---|' if 'chamfer' in metrics else '')]
    for name in METHODS:
        means = metrics['methods'][name]
        cells = [_cell(means.get(key)) for key in ('psnr', 'ssim', 'psnr_unseen', 'coverage',
                                                   'depth_abs_rel', 'depth_delta_1_25')]
        if 'chamfer' in metrics:
            cells.append(_cell(metrics['chamfer'][name]))
        lines.append(f'| {name} | ' + ' | '.join(cells) + ' |')
    lines += ['', 'Each row of `compare.png` is one target: ground truth, render (holes tinted), '
              'inpaint, anyrecon.',
              '', '![compare](compare.png)', '']
    return '\n'.join(lines)


def _cell(value) -> str:
    if value is None or not np.isfinite(value):
        return '–'
    return f'{value:.3f}' if abs(value) < 10 else f'{value:.2f}'


def _json_safe(value):
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_safe(item) for item in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value
