# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``anyrecon eval``: measure how well views the system was not given are reproduced.

Input views of a scene build the memory (their depth where the scene has it,
multi-view stereo where it does not). Each held-out target view is then
produced five ways: ``render`` (the memory rendered into it), ``inpaint``
(that render with its holes filled by OpenCV's Telea inpainting),
``background_fill`` (its holes filled from the surface behind them, the
depth-aware classical fill the default generator is conditioned on and
blended with: what the model adds over it is the difference to
``anyrecon``), ``anyrecon`` (the closed loop along the path through the
targets, see :func:`loop_path`, with the configured generator) and
``inpaint_loop`` (the same loop, from the same starting memory, with Telea
inpainting as its generator: the classical baseline of the whole system).
Images are compared at the generator's working resolution (larger images
are resized first; distorted ones were undistorted on load),
while the input views are mapped (multi-view stereo, the memory) at their
own resolution up to ``mapping_width``. A scene without depth is in its own
units and is measured in nominal metres (``core.scene_io.units``); an input
that gives no geometry at all is an error that says what the units were,
never an empty memory.

The pixels the memory's render leaves uncovered are split by whether some
input view saw their ground-truth surface (:func:`seen_by_captures`), and on
procedural scenes the maps themselves are measured against the ground-truth
mesh (:func:`map_quality`).
"""

from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
import json
from pathlib import Path

import cv2
import numpy as np

from anyrecon_ros.core.geometry_memory import GENERATED
from anyrecon_ros.core.geometry_memory import GeometryMemory
from anyrecon_ros.core.geometry_memory import MemoryConfig
from anyrecon_ros.core.image_grid import image_row
from anyrecon_ros.core.image_grid import stack_rows
from anyrecon_ros.core.image_grid import tint_holes
from anyrecon_ros.core.image_grid import write_rgb
from anyrecon_ros.core.inpainting import background_fill
from anyrecon_ros.core.inpainting import telea_depth
from anyrecon_ros.core.inpainting import telea_fill
from anyrecon_ros.core.inpainting import TeleaGenerator
from anyrecon_ros.core.mapping import Mapper
from anyrecon_ros.core.mapping import MappingConfig
from anyrecon_ros.core.planning import CoverageConfig
from anyrecon_ros.core.planning import densify_path
from anyrecon_ros.core.scene_io.working_scene import MAPPING_WIDTH
from anyrecon_ros.core.scene_io.working_scene import SYNTHETIC_FRAMES
from anyrecon_ros.core.scene_io.working_scene import WorkingScene
from anyrecon_ros.core.view_bank import ViewBank
from anyrecon_ros.loop.outputs import ProgressPrinter
from anyrecon_ros.loop.reconstruction import LoopConfig
from anyrecon_ros.loop.reconstruction import ReconstructionLoop
from anyrecon_ros.model.pipelines.generator import GeneratorSettings
from anyrecon_ros.model.pipelines.generator import ViewGenerator

METHODS = ('render', 'inpaint', 'background_fill', 'anyrecon', 'inpaint_loop')
# The methods that ran the loop, each on its own copy of the starting memory.
LOOP_METHODS = ('anyrecon', 'inpaint_loop')
# What the loops generate along (see loop_path).
LOOP_PATHS = ('planner', 'targets')
# Chamfer distance: points sampled on the ground-truth mesh.
MESH_SAMPLES = 200_000
# A target pixel is seen by a capture view when its ground-truth point lands in
# the view with the view's depth there within this share of it (occlusion test).
SEEN_DEPTH_TOLERANCE = 0.05
# Map accuracy and completeness: a point within this distance (m) of the mesh
# is right; a mesh sample within it of a memory point is covered.
MAP_TOLERANCE = 0.05
COMPLETENESS_SAMPLES = 50_000


@dataclass
class EvalSettings:
    """What to evaluate and how."""

    inputs: str = 'every:10'      # every:N, or a comma-separated list of frame indices
    targets: str = 'interpolate'  # interpolate, extrapolate, or a list of frame indices
    width: int = 0                # working resolution (0: the generator's); larger is resized
    # Input views are mapped (stereo, memory) at their own width up to this.
    mapping_width: int = MAPPING_WIDTH
    # Multi-view stereo matches input views at most this wide (the memory node's
    # default; wider matched worse on every RGB-only scene measured, docs/evaluation.md).
    stereo_width: int = MappingConfig.depth_estimation_width
    frames: int = SYNTHETIC_FRAMES  # frames of a synthetic:SEED scene's camera loop
    loop_path: str = 'planner'    # what the loops generate along: one of LOOP_PATHS
    memory: MemoryConfig = field(default_factory=lambda: MemoryConfig(voxel_size=0.02))
    generator: GeneratorSettings = field(default_factory=GeneratorSettings)


# ---- splits ----------------------------------------------------------------------------


def loop_path(target_poses, kind: str, units) -> tuple:
    """Return the poses the loops generate along, and the index of each target among them.

    ``'targets'``: the targets alone, in order. ``'planner'``: the path
    through them in order, sampled as densely as the planner samples the
    generator's trajectories (``CoverageConfig``'s largest step and turn; the
    step in the scene's ``units``). That is how the generator node runs: its
    neighbouring views overlap, which the fusion gate needs to confirm the
    pixels the memory did not cover; targets far apart see such pixels from
    no other view, so no new pixel is fused (docs/evaluation.md).
    """
    poses = np.asarray(target_poses, np.float64)
    if kind == 'targets':
        return poses, np.arange(len(poses))
    if kind != 'planner':
        raise ValueError(f'loop path must be one of {", ".join(LOOP_PATHS)}, got {kind!r}')
    planner = CoverageConfig()
    return densify_path(poses, planner.max_translation_step * units.scale,
                        planner.max_rotation_step)


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


def unseen_depth_accuracy(prediction, truth, render_mask, tolerance: float):
    """Return (share within ``tolerance``, count) of the predicted depths the render lacked.

    Where the memory render was empty, the depth a method gives (for a loop,
    what the fusion gate let into the memory) against the ground truth:
    the geometry the method adds, judged on a scene with depth but no mesh.
    Share NaN where the method gives no such depth.
    """
    new = (~render_mask & np.isfinite(prediction) & (prediction > 0) & np.isfinite(truth)
           & (truth > 0))
    if not new.any():
        return float('nan'), 0
    return float(np.mean(np.abs(prediction[new] - truth[new]) < tolerance)), int(new.sum())


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


def accuracy(points: np.ndarray, mesh, tolerance: float = MAP_TOLERANCE) -> float:
    """Return the share of points within ``tolerance`` (m) of the mesh's surface; NaN if none.

    The distance is the exact point-to-triangle distance (open3d ray casting).
    """
    import open3d as o3d
    if not len(points):
        return float('nan')
    caster = o3d.t.geometry.RaycastingScene()
    caster.add_triangles(o3d.t.geometry.TriangleMesh.from_legacy(mesh))
    distance = caster.compute_distance(
        o3d.core.Tensor(np.asarray(points, np.float32))).numpy()
    return float(np.mean(distance < tolerance))


def completeness(points: np.ndarray, mesh, tolerance: float = MAP_TOLERANCE,
                 samples: int = COMPLETENESS_SAMPLES, views=()) -> float:
    """Return the share of the mesh's surface within ``tolerance`` (m) of some point.

    Measured on ``samples`` points drawn uniformly on the surface (seeded, so
    every memory is measured on the same ones); 0 for no points. With
    ``views`` (CaptureViews with depth), only the samples some view sees
    count (see :func:`seen_by_views`; the mesh's triangles must face
    outwards, as boxes' do); NaN if they see none.
    """
    import open3d as o3d
    o3d.utility.random.seed(0)
    if len(views):
        mesh = o3d.geometry.TriangleMesh(mesh).compute_triangle_normals()
    surface = mesh.sample_points_uniformly(number_of_points=samples,
                                           use_triangle_normal=bool(len(views)))
    if len(views):
        surface = surface.select_by_index(np.flatnonzero(seen_by_views(
            np.asarray(surface.points), views, normals=np.asarray(surface.normals))).tolist())
        if not len(surface.points):
            return float('nan')
    if not len(points):
        return 0.0
    return float(np.mean(np.asarray(surface.compute_point_cloud_distance(_cloud(points)))
                         < tolerance))


def map_quality(memory: GeometryMemory, mesh, views=(), start: GeometryMemory = None) -> dict:
    """Return a memory's points, generated points, their accuracy, and its completeness.

    ``generated_accuracy`` is the share of GENERATED points within
    ``MAP_TOLERANCE`` of the mesh (NaN without any); ``completeness`` the
    share of the mesh within it of any memory point; ``completeness_viewed``
    the same over the part of the mesh ``views`` see (the evaluation's input
    and target views: what it could hope to reconstruct; NaN without views).
    With the ``start`` memory the loop began from, ``generated_new_*`` count
    and judge only the generated points farther than ``MAP_TOLERANCE`` from
    every starting point: new geometry, not the render's re-fused.
    """
    positions = memory.positions
    generated = positions[memory.origins == GENERATED]
    quality = {'points': int(len(positions)), 'generated_points': int(len(generated)),
               'generated_accuracy': accuracy(generated, mesh)}
    if start is not None:
        new = generated
        if len(generated) and len(start):
            distance = np.asarray(_cloud(generated).compute_point_cloud_distance(
                _cloud(start.positions)))
            new = generated[distance > MAP_TOLERANCE]
        quality.update({'generated_new_points': int(len(new)),
                        'generated_new_accuracy': accuracy(new, mesh)})
    quality['completeness'] = completeness(positions, mesh)
    quality['completeness_viewed'] = (completeness(positions, mesh, views=views) if len(views)
                                      else float('nan'))
    return quality


def _cloud(points: np.ndarray):
    import open3d as o3d
    return o3d.geometry.PointCloud(o3d.utility.Vector3dVector(np.asarray(points, np.float64)))


def seen_by_captures(target, captures, tolerance: float = SEEN_DEPTH_TOLERANCE):
    """Return (H, W) bool: target pixels whose ground-truth surface some capture view saw.

    Each target pixel with a valid ground-truth depth is lifted to its 3D
    point and projected into every capture view (CaptureViews, with depth);
    it counts as seen when it lands inside one's image, in front of it, at a
    depth within ``tolerance`` (relative) of that view's depth at the
    (nearest) pixel, so points hidden behind something nearer are not seen.
    Pixels without ground-truth depth are False. Returns None when the
    target or every capture view lacks depth (an RGB-only scene): nothing is
    known then.
    """
    captures = [view for view in captures if view.depth is not None]
    if target.depth is None or not captures:
        return None
    depth = target.depth
    rows, cols = np.nonzero(np.isfinite(depth) & (depth > 0))
    z = depth[rows, cols].astype(np.float64)
    camera = target.camera
    local = np.stack([(cols - camera.cx) / camera.fx * z, (rows - camera.cy) / camera.fy * z,
                      z], axis=1)
    pose = np.asarray(target.camera_to_world, np.float64)
    mask = np.zeros(depth.shape, bool)
    mask[rows, cols] = seen_by_views(local @ pose[:3, :3].T + pose[:3, 3], captures, tolerance)
    return mask


def seen_by_views(world: np.ndarray, views, tolerance: float = SEEN_DEPTH_TOLERANCE,
                  normals: np.ndarray = None):
    """Return (N,) bool: which world points (N, 3) some view (with depth) sees.

    A point is seen when it projects inside the view's image, in front of
    it, at a depth within ``tolerance`` (relative) of the view's depth at
    that (nearest) pixel: a point behind a nearer surface is hidden. With
    the points' outward ``normals`` (N, 3), a point must also face the view,
    so the back of a thin wall, within the tolerance of its front, is not seen.
    """
    world = np.asarray(world, np.float64)
    seen = np.zeros(len(world), bool)
    for view in views:
        if view.depth is None:
            continue
        pose, camera = np.asarray(view.camera_to_world, np.float64), view.camera
        # World to camera: R^T (X - t), written for row vectors.
        points = (world - pose[:3, 3]) @ pose[:3, :3]
        in_front = points[:, 2] > 1e-6
        if normals is not None:
            in_front &= np.einsum('ij,ij->i', normals, pose[:3, 3] - world) > 0
        along = np.where(in_front, points[:, 2], 1.0)
        u = np.rint(camera.fx * points[:, 0] / along + camera.cx)
        v = np.rint(camera.fy * points[:, 1] / along + camera.cy)
        candidates = np.flatnonzero(~seen & in_front & (u >= 0) & (u < camera.width)
                                    & (v >= 0) & (v < camera.height))
        observed = view.depth[v[candidates].astype(np.int64), u[candidates].astype(np.int64)]
        with np.errstate(invalid='ignore'):
            agree = (np.isfinite(observed) & (observed > 0)
                     & (np.abs(along[candidates] - observed) < tolerance * observed))
        seen[candidates[agree]] = True
    return seen


def unseen_split(target, render_mask: np.ndarray, captured) -> dict:
    """Return the masks of the render's uncovered pixels, split by the capture views.

    ``captured``: a ``seen_by_captures`` mask, or None (no depth: no split).
    ``unseen_captured``: some input view saw the pixel's surface;
    ``unseen_never``: none did; ``unseen_no_depth``: the target has no
    ground-truth depth there, so nobody can tell. The three make up the
    uncovered pixels.
    """
    unseen = ~render_mask
    if captured is None:
        return {'unseen_captured': None, 'unseen_never': None, 'unseen_no_depth': None}
    known = np.isfinite(target.depth) & (target.depth > 0)
    return {'unseen_captured': unseen & captured, 'unseen_never': unseen & known & ~captured,
            'unseen_no_depth': unseen & ~known}


# ---- the classical baseline as a generator ----------------------------------------------


# ---- the evaluation --------------------------------------------------------------------


def evaluate(spec: str, out, settings: EvalSettings = EvalSettings(), progress=print) -> dict:
    """Evaluate a scene; write metrics.json, compare.png and report.md into ``out``."""
    out = Path(out)
    generator = ViewGenerator.load(settings.generator)
    scene = WorkingScene(spec, settings.width or generator.working_width, settings.frames,
                         settings.mapping_width)
    inputs, targets = split_frames(len(scene), settings.inputs, settings.targets)
    mapping = scene.mapping_camera
    progress(f'anyrecon eval: {spec}: {len(inputs)} inputs mapped at {mapping.width}x'
             f'{mapping.height}, {len(targets)} targets at '
             f'{scene.camera.width}x{scene.camera.height}; {scene.units.describe()}')
    # Lengths are nominal metres in a scene of its own units: no stereo depth is cut off.
    near, far = scene.units.fusion_limits(settings.memory.min_depth, settings.memory.max_depth)
    memory = GeometryMemory(replace(settings.memory, min_depth=near, max_depth=far))
    bank, drops = ViewBank(), {}
    mapper = Mapper(memory, bank, MappingConfig(depth_estimation_width=settings.stereo_width),
                    on_drop=lambda reason, text: drops.update({reason: text}),
                    depth_range=scene.depth_range)
    captures = []
    for done, index in enumerate(inputs, 1):
        # The scene's own view: its depth (None in an RGB-only scene), not stereo's.
        captures.append(scene.mapping_view(index))
        mapper.add_keyframe(captures[-1])
        progress(f'anyrecon eval: inputs {done}/{len(inputs)}')
    mapper.match_again()
    if not len(memory):
        raise ValueError(f'{spec}: the {len(inputs)} input views gave no geometry '
                         f'({scene.units.describe()}; {"; ".join(drops.values()) or "no depth"})'
                         ': the memory would be empty')
    truths = [scene.view(index) for index in targets]
    before = GeometryMemory.from_state_dict(memory.state_dict())
    renders = [before.render(scene.camera, truth.camera_to_world) for truth in truths]
    inpainted = [inpaint_render(render) for render in renders]
    path, target_at = loop_path([truth.camera_to_world for truth in truths], settings.loop_path,
                                scene.units)
    config = LoopConfig(generation_width=scene.camera.width)
    # Each loop fills its own copy of the starting memory; the bank is only read.
    memories = {'anyrecon': memory,
                'inpaint_loop': GeometryMemory.from_state_dict(before.state_dict())}
    generators = {'anyrecon': generator,
                  'inpaint_loop': TeleaGenerator(generator.working_width,
                                                 generator.size_multiple)}
    predictions = {'render': [(r.rgb, r.depth) for r in renders], 'inpaint': inpainted,
                   'background_fill': [(background_fill(r.rgb, r.mask, r.depth), depth)
                                       for r, (_, depth) in zip(renders, inpainted)]}
    gate = {}
    fidelity = mapper.render_fidelity.value()
    for name in LOOP_METHODS:
        progress(f'anyrecon eval: the {name} loop')
        loop = ReconstructionLoop(memories[name], bank, generators[name], config,
                                  render_fidelity=fidelity)
        generated = loop.run(scene.camera, path, progress=ProgressPrinter())
        predictions[name] = [_at_size(generated[index], scene.camera) for index in target_at]
        gate[name] = {key: int(value) for key, value in
                      sorted(getattr(loop, 'gate_counts', {}).items())}
    per_view = [_view_metrics(index, truth, render, {name: predictions[name][i]
                                                     for name in METHODS},
                              seen_by_captures(truth, captures),
                              MAP_TOLERANCE * scene.units.scale)
                for i, (index, truth, render) in enumerate(zip(targets, truths, renders))]
    metrics = {'scene': spec, 'inputs': inputs, 'targets': targets,
               'resolution': [scene.camera.width, scene.camera.height],
               'mapping_resolution': [mapping.width, mapping.height],
               'units': _units_record(scene.units), 'memory_points': len(before),
               'loop_path': settings.loop_path, 'loop_views': len(path),
               'generator_trained': generator.trained,
               'seen_depth_tolerance': SEEN_DEPTH_TOLERANCE,
               'methods': {name: _means(per_view, name) for name in METHODS},
               'per_view': per_view, 'fusion_gate': gate,
               # The keyframes' median PSNR against the memory's render, and the
               # bar generated views had to reach (fusion_gate.required_render_psnr).
               'render_check': {'keyframe_render_psnr': fidelity,
                                'required_render_psnr': loop.required_render_psnr}}
    if scene.procedural is not None:
        mesh = scene.procedural.mesh()
        # render and the fills add nothing to the starting memory.
        initial = chamfer_distance(before.positions, mesh)
        metrics['chamfer'] = {'render': initial, 'inpaint': initial, 'background_fill': initial}
        metrics['chamfer'].update({name: chamfer_distance(memories[name].positions, mesh)
                                   for name in LOOP_METHODS})
        metrics['map'] = {'tolerance_m': MAP_TOLERANCE, 'mesh_samples': COMPLETENESS_SAMPLES,
                          'before': map_quality(before, mesh, captures + truths)}
        metrics['map'].update({name: map_quality(memories[name], mesh, captures + truths,
                                                 start=before)
                               for name in LOOP_METHODS})
    _write(out, metrics, truths, renders, predictions)
    return metrics


def _units_record(units) -> dict:
    """Return the scene's units for metrics.json: the scale and the stereo range (scene units)."""
    record = {'metric': units.metric, 'scale': units.scale, 'source': units.source}
    if not units.metric:
        record['stereo_range'] = [units.near * units.scale, units.far * units.scale]
    return record


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
    return telea_fill(render.rgb, render.mask), telea_depth(render.depth, render.mask)


def _view_metrics(index, truth, render, predictions, captured=None,
                  tolerance: float = MAP_TOLERANCE) -> dict:
    split = unseen_split(truth, render.mask, captured)
    row = {'frame': int(index), 'coverage': float(render.mask.mean())}
    # Shares of all the target's pixels; None where the scene has no depth.
    row.update({f'share_{part}': None if mask is None else float(mask.mean())
                for part, mask in split.items()})
    for name, (rgb, depth) in predictions.items():
        figures = {'psnr': psnr(rgb, truth.rgb), 'ssim': ssim(rgb, truth.rgb),
                   'psnr_unseen': psnr(rgb, truth.rgb, ~render.mask),
                   'coverage': row['coverage']}
        for part in ('unseen_captured', 'unseen_never'):
            figures[f'psnr_{part}'] = (float('nan') if split[part] is None
                                       else psnr(rgb, truth.rgb, split[part]))
        figures.update({key: value for key, value in row.items() if key.startswith('share_')})
        if truth.depth is not None:
            # A loop view the fusion gate refused has no depth: no figures (null).
            figures['depth_abs_rel'], figures['depth_delta_1_25'] = (
                (float('nan'), float('nan')) if depth is None else depth_errors(depth,
                                                                                truth.depth))
            figures['depth_unseen_accuracy'], figures['depth_unseen_pixels'] = (
                (float('nan'), 0) if depth is None else
                unseen_depth_accuracy(depth, truth.depth, render.mask, tolerance))
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
                               predictions['inpaint'][i][0],
                               predictions['background_fill'][i][0],
                               predictions['anyrecon'][i][0],
                               predictions['inpaint_loop'][i][0]]))
    write_rgb(out / 'compare.png', stack_rows(rows))
    (out / 'report.md').write_text(report_markdown(metrics))


def report_markdown(metrics: dict) -> str:
    """Return the report: the table of method means and the comparison picture."""
    width, height = metrics['resolution']
    lines = [f'# Evaluation of {metrics["scene"]}', '',
             f'{len(metrics["inputs"])} input views, {len(metrics["targets"])} held-out '
             f'targets, metrics at {width}x{height}'
             + _mapping_sentence(metrics) + '.'
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
    lines += ['', '`inpaint_loop` is the same loop as `anyrecon` with Telea inpainting as its '
              'generator.' + _path_sentence(metrics) + _gate_sentence(metrics), '']
    lines += _unseen_lines(metrics)
    lines += _map_lines(metrics)
    lines += ['Each row of `compare.png` is one target: ground truth, render (holes tinted), '
              'inpaint, background_fill, anyrecon, inpaint_loop.',
              '', '![compare](compare.png)', '']
    return '\n'.join(lines)


def _mapping_sentence(metrics: dict) -> str:
    """Return where the inputs were mapped and in what units ('' for older metrics)."""
    if 'mapping_resolution' not in metrics:
        return ''
    width, height = metrics['mapping_resolution']
    units = metrics['units']
    text = f', inputs mapped at {width}x{height} into {metrics["memory_points"]} memory points'
    if units['metric']:
        return text + ' (metric: the scene has depth)'
    near, far = units['stereo_range']
    return (text + f' (scene units, {units["scale"]:.4g} per nominal metre from its '
            f'{units["source"]}; stereo searched {near:.4g}-{far:.4g})')


def _path_sentence(metrics: dict) -> str:
    """Return what the loops generated along."""
    if metrics['loop_path'] == 'targets':
        return ' Both loops generate the targets alone.'
    return (f' Both loops generate {metrics["loop_views"]} views along the path through the '
            'targets, as densely as the planner samples trajectories; the views at the targets '
            'are the ones measured.')


def _gate_sentence(metrics: dict) -> str:
    """Return how many views each loop's fusion gate let into the memory ('' if not counted)."""
    parts = []
    for name, counts in metrics.get('fusion_gate', {}).items():
        views = {key[len('views_'):]: value for key, value in counts.items()
                 if key.startswith('views_') and value}
        if views:
            refused = ', '.join(f'{value} {verdict}' for verdict, value in views.items()
                                if verdict != 'accepted')
            parts.append(f'{name} {views.get("accepted", 0)} of {sum(views.values())}'
                         + (f' ({refused})' if refused else ''))
    if not parts:
        return ''
    check = metrics.get('render_check', {})
    bar = (f' (keyframes reproduced the memory\'s renders at {check["keyframe_render_psnr"]:.1f} '
           f'dB; generated views had to reach {check["required_render_psnr"]:.1f} dB)'
           if check.get('keyframe_render_psnr') is not None else '')
    return (' Views the fusion gate let into the memory: ' + '; '.join(parts) + '; a refused '
            'view has no depth' + bar + '.')


def _unseen_lines(metrics: dict) -> list:
    """Return the report's section on the uncovered pixels, split by the capture views."""
    means = metrics['methods']['render']
    unseen = 1.0 - means['coverage']
    lines = ['## Pixels the memory did not cover', '']
    if means.get('share_unseen_captured') is None:
        return lines + [f'{_percent(unseen)} of the target pixels; the scene has no depth, so '
                        'which of them an input view saw is unknown.', '']
    lines += [f'{_percent(unseen)} of the target pixels: '
              f'{_percent(means["share_unseen_captured"])} seen by some input view (the memory '
              'lost them), '
              f'{_percent(means["share_unseen_never"])} seen by none'
              + (f', {_percent(means["share_unseen_no_depth"])} without ground-truth depth'
                 if means['share_unseen_no_depth'] else '') + '.', '',
              '| method | PSNR unseen | PSNR unseen, captured | PSNR unseen, never seen |',
              '|---|---|---|---|']
    for name in METHODS:
        cells = [_cell(metrics['methods'][name].get(key))
                 for key in ('psnr_unseen', 'psnr_unseen_captured', 'psnr_unseen_never')]
        lines.append(f'| {name} | ' + ' | '.join(cells) + ' |')
    return lines + [''] + _unseen_depth_lines(metrics)


def _unseen_depth_lines(metrics: dict) -> list:
    """Return the table of the depth each method gives where the memory render was empty."""
    lines = ['The depth each method gives there (a loop: what its fusion gate fused), against '
             f'the ground truth: share within {MAP_TOLERANCE * 100:.0f} cm (nominal), and '
             'pixels per target.', '', '| method | depth within tolerance | pixels |',
             '|---|---|---|']
    for name in METHODS:
        means = metrics['methods'][name]
        pixels = means.get('depth_unseen_pixels')
        lines.append(f'| {name} | {_cell(means.get("depth_unseen_accuracy"))} | '
                     + ('–' if pixels is None else f'{pixels:.0f}') + ' |')
    return lines + ['']


def _map_lines(metrics: dict) -> list:
    """Return the report's section on the maps against the ground-truth mesh (procedural)."""
    if 'map' not in metrics:
        return []
    quality = metrics['map']
    tolerance = f'{quality["tolerance_m"] * 100:g} cm'
    lines = ['## The map against the ground-truth mesh', '',
             f'Generated accuracy: share of the generated points within {tolerance} of the '
             f'mesh (new: of those farther than {tolerance} from the starting memory); '
             f'completeness: share of the mesh within {tolerance} of a memory point, over the '
             'whole mesh and over the part the input and target views see.', '',
             '| memory | points | generated (new) | generated accuracy | new accuracy | '
             'completeness | completeness, viewed |',
             '|---|---|---|---|---|---|---|']
    for name in ('before',) + LOOP_METHODS:
        row = quality[name]
        lines.append(f'| {name} | {row["points"]} | {row["generated_points"]} '
                     f'({row.get("generated_new_points", 0)}) | '
                     f'{_cell(row["generated_accuracy"])} | '
                     f'{_cell(row.get("generated_new_accuracy"))} | '
                     f'{_cell(row["completeness"])} | {_cell(row["completeness_viewed"])} |')
    return lines + ['']


def _percent(share) -> str:
    return f'{100 * share:.3g} %'


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
