# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``anyrecon eval``: splits, metrics, and the command on procedural and real scenes."""

from dataclasses import replace
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from anyrecon_ros.cli.main import build_parser
from anyrecon_ros.cli.main import main
from anyrecon_ros.core.geometry_memory import CAPTURED
from anyrecon_ros.core.geometry_memory import GENERATED
from anyrecon_ros.core.geometry_memory import GeometryMemory
from anyrecon_ros.core.inpainting import TeleaGenerator
from anyrecon_ros.core.procedural_scene import default_camera
from anyrecon_ros.core.procedural_scene import ProceduralScene
from anyrecon_ros.core.scene_io import open_scene
from anyrecon_ros.core.scene_io import write_posed_scene
from anyrecon_ros.core.scene_io import write_transforms_json
from anyrecon_ros.core.scene_io.units import METRIC_UNITS
from anyrecon_ros.core.scene_io.units import scaled_scene
from anyrecon_ros.core.scene_io.units import SceneUnits
from anyrecon_ros.core.scene_io.working_scene import WorkingScene
from anyrecon_ros.core.transforms import look_at
from anyrecon_ros.loop.evaluation import accuracy
from anyrecon_ros.loop.evaluation import chamfer_distance
from anyrecon_ros.loop.evaluation import completeness
from anyrecon_ros.loop.evaluation import depth_errors
from anyrecon_ros.loop.evaluation import LOOP_METHODS
from anyrecon_ros.loop.evaluation import loop_path
from anyrecon_ros.loop.evaluation import LOOP_PATHS
from anyrecon_ros.loop.evaluation import map_quality
from anyrecon_ros.loop.evaluation import METHODS
from anyrecon_ros.loop.evaluation import psnr
from anyrecon_ros.loop.evaluation import seen_by_captures
from anyrecon_ros.loop.evaluation import seen_by_views
from anyrecon_ros.loop.evaluation import split_frames
from anyrecon_ros.loop.evaluation import ssim
from anyrecon_ros.loop.evaluation import ssim_map
from anyrecon_ros.loop.evaluation import unseen_depth_accuracy

REDKITCHEN = Path(__file__).resolve().parents[3] / 'shared' / 'data' / 'redkitchen'
# An RGB-only scene (a plaster temple on a ring of calibrated cameras, metres).
TEMPLE = REDKITCHEN.parent / 'train' / 'mb_temple'
METRIC_KEYS = {'psnr', 'ssim', 'psnr_unseen', 'coverage', 'psnr_unseen_captured',
               'psnr_unseen_never', 'share_unseen_captured', 'share_unseen_never',
               'share_unseen_no_depth'}
SHARES = ('share_unseen_captured', 'share_unseen_never', 'share_unseen_no_depth')


def test_unseen_depth_accuracy_judges_only_what_the_render_lacked():
    truth = np.full((2, 3), 2.0)
    covered = np.array([[True, False, False], [True, False, False]])
    prediction = np.array([[9.0, 2.01, 2.2], [9.0, np.nan, 2.04]])
    # The covered pixels (wrong here) do not count; the NaN gives no depth.
    assert unseen_depth_accuracy(prediction, truth, covered, 0.05) == (pytest.approx(2 / 3), 3)
    assert np.isnan(unseen_depth_accuracy(prediction, truth, np.ones((2, 3), bool), 0.05)[0])


def test_default_splits():
    inputs, targets = split_frames(100, 'every:10', 'interpolate')
    assert inputs == list(range(0, 100, 10))
    assert targets == [5, 15, 25, 35, 45, 55, 65, 75, 85]
    inputs, targets = split_frames(100, '20,30,40,50', 'extrapolate')
    assert targets == [5, 15, 55, 65, 75, 85, 95]
    assert split_frames(30, '0,10,20', '3,10,12') == ([0, 10, 20], [3, 12])


@pytest.mark.parametrize('inputs, targets, message', [
    ('every:0', 'interpolate', 'every:N'),
    ('5', 'interpolate', 'at least 2'),
    ('0,10,200', 'interpolate', 'outside the scene'),
    ('0,1', 'interpolate', 'no target frames'),
    ('0,10', 'five', 'comma-separated'),
])
def test_bad_splits_are_refused(inputs, targets, message):
    with pytest.raises(ValueError, match=message):
        split_frames(100, inputs, targets)


def test_psnr_and_ssim_follow_their_definitions():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
    shifted = np.clip(image.astype(int) + 1, 0, 255).astype(np.uint8)
    mse = np.mean((shifted.astype(float) - image) ** 2)
    assert psnr(shifted, image) == pytest.approx(10 * np.log10(255 ** 2 / mse))
    assert psnr(image, image) == float('inf')
    assert np.isnan(psnr(image, shifted, np.zeros((24, 32), bool)))
    assert ssim(image, image) == pytest.approx(1.0)
    noisy = np.clip(image + rng.normal(0, 40, image.shape), 0, 255).astype(np.uint8)
    assert ssim(noisy, image) < ssim(shifted, image) < 1.0
    assert ssim(noisy, image) == pytest.approx(ssim(image, noisy))
    # The Gaussian-window formula written out for the pixel (5, 5), whose
    # window lies inside the image.
    window = cv2.getGaussianKernel(11, 1.5) @ cv2.getGaussianKernel(11, 1.5).T
    x = noisy[:11, :11, 0].astype(float)
    y = image[:11, :11, 0].astype(float)
    mx, my = (window * x).sum(), (window * y).sum()
    vx, vy = (window * x * x).sum() - mx ** 2, (window * y * y).sum() - my ** 2
    cov = (window * x * y).sum() - mx * my
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    expected = ((2 * mx * my + c1) * (2 * cov + c2)
                / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2)))
    assert ssim_map(noisy, image)[5, 5, 0] == pytest.approx(expected)
    assert ssim(noisy, image) == pytest.approx(ssim_map(noisy, image).mean())


def test_depth_errors_and_chamfer():
    truth = np.full((4, 4), 2.0, np.float32)
    prediction = truth.copy()
    prediction[0] = 2.2           # 10 % off: inside delta < 1.25
    prediction[1] = 3.0           # 50 % off: outside
    prediction[2, 0] = np.nan     # not counted
    abs_rel, delta = depth_errors(prediction, truth)
    assert abs_rel == pytest.approx((4 * 0.1 + 4 * 0.5) / 15)
    assert delta == pytest.approx(11 / 15)
    mesh = ProceduralScene(seed=0).mesh()
    on_surface = np.asarray(mesh.sample_points_uniformly(200_000).points)
    # Two samplings of one surface differ by about their spacing (~1.5 cm here).
    assert chamfer_distance(on_surface, mesh) < 0.025
    assert chamfer_distance(on_surface + [0.0, 0.0, 0.5], mesh) > 0.2


def test_accuracy_and_completeness_against_the_mesh():
    scene = ProceduralScene(seed=0)
    mesh = scene.mesh()
    # Dense enough that every mesh sample has a point within 5 cm (~3 cm apart).
    on_surface = np.asarray(mesh.sample_points_uniformly(300_000).points)
    off_surface = on_surface + [0.2, 0.2, 0.2]
    assert accuracy(on_surface, mesh) == 1.0
    assert accuracy(off_surface, mesh) < 0.3
    assert np.isnan(accuracy(np.empty((0, 3)), mesh))
    assert completeness(on_surface, mesh) > 0.95
    assert completeness(on_surface[:1000], mesh) < 0.2
    # What one view sees: a small part of the whole mesh, all of the viewed part.
    view = scene.capture_view(default_camera().scaled(64, 48), scene.camera_path(4)[0], 0)
    visible = on_surface[seen_by_views(on_surface, [view])]
    assert 0 < len(visible) < 0.2 * len(on_surface)
    assert completeness(visible, mesh) < 0.3
    assert completeness(visible, mesh, views=[view]) > 0.95
    assert completeness(np.empty((0, 3)), mesh) == 0.0
    memory = GeometryMemory()
    grey = np.full((len(on_surface), 3), 128.0)
    memory.fuse_points(on_surface, grey, np.ones(len(on_surface)), origin=CAPTURED)
    quality = map_quality(memory, mesh)
    assert quality['generated_points'] == 0 and np.isnan(quality['generated_accuracy'])
    assert quality['completeness'] > 0.95 and quality['points'] == len(memory)
    memory.fuse_points(off_surface, grey, np.ones(len(on_surface)), origin=GENERATED)
    quality = map_quality(memory, mesh)
    assert quality['generated_points'] == memory.count(GENERATED) > 0
    assert quality['generated_accuracy'] < 0.3


def test_seen_by_captures_on_constructed_views():
    camera, scene = default_camera().scaled(32, 24), ProceduralScene(seed=0)
    poses = scene.camera_path(8)
    target = scene.capture_view(camera, poses[0], 0)
    assert np.isfinite(target.depth).all()
    # An input view identical to the target sees every pixel of it.
    assert seen_by_captures(target, [target]).all()
    # Behind an occluder (the input's depth half the surface's), nothing is seen.
    occluded = replace(target, depth=target.depth / 2)
    assert not seen_by_captures(target, [occluded]).any()
    # A view looking the other way sees nothing of it; with both, all is seen.
    turned = poses[0].copy()
    turned[:3, :3] = turned[:3, :3] @ np.diag([-1.0, 1.0, -1.0])
    away = scene.capture_view(camera, turned, 1)
    assert not seen_by_captures(target, [away]).any()
    assert seen_by_captures(target, [away, target]).all()
    # Without depth (an RGB-only scene) nobody knows.
    assert seen_by_captures(replace(target, depth=None), [target]) is None
    assert seen_by_captures(target, [replace(target, depth=None)]) is None


def test_the_inpaint_generator_fills_only_the_holes():
    rng = np.random.default_rng(0)
    renders = rng.integers(0, 256, (3, 32, 48, 3), dtype=np.uint8)
    masks = rng.random((3, 32, 48)) > 0.3
    steps = []
    generator = TeleaGenerator(working_width=48)
    images = generator.generate(renders[:1], renders, masks, lambda *step: steps.append(step))
    assert images.shape == renders.shape and images.dtype == np.uint8
    assert (images[masks] == renders[masks]).all() and steps
    assert generator.trained and generator.size_multiple == 16


def test_large_images_are_resized_to_the_working_width():
    scene = WorkingScene(str(REDKITCHEN), width=256)
    assert (scene.camera.width, scene.camera.height) == (256, 192)
    view = scene.view(3)
    assert view.rgb.shape == (192, 256, 3) and view.depth.shape == (192, 256)
    assert view.camera == scene.camera and view.view_id == 3
    assert scene.camera.fx == pytest.approx(585.0 * 256 / 640)


def _check(out: Path, targets: int, chamfer: bool, depth: bool):
    metrics = json.loads((out / 'metrics.json').read_text())
    assert {'scene', 'inputs', 'targets', 'methods', 'per_view', 'fusion_gate'} <= set(metrics)
    assert set(metrics['methods']) == set(METHODS)
    assert set(metrics['fusion_gate']) == set(LOOP_METHODS)
    for method in METHODS:
        keys = set(metrics['methods'][method])
        assert METRIC_KEYS <= keys
        assert ('depth_abs_rel' in keys) == depth
        assert ('depth_unseen_accuracy' in keys) == depth
    assert len(metrics['targets']) == len(metrics['per_view']) == targets
    for row in metrics['per_view']:
        # The uncovered pixels: seen by an input view, by none, or without depth.
        assert sum(row[share] for share in SHARES) == pytest.approx(1.0 - row['coverage'])
        for method in METHODS:
            assert all(row[method][share] == row[share] for share in SHARES)
    means = metrics['methods']['render']
    assert sum(means[share] for share in SHARES) == pytest.approx(1.0 - means['coverage'])
    assert ('chamfer' in metrics) == chamfer == ('map' in metrics)
    if chamfer:
        assert set(metrics['chamfer']) == set(METHODS)
        quality = metrics['map']
        assert quality['before']['generated_points'] == 0
        for name in ('before',) + LOOP_METHODS:
            accurate = quality[name]['generated_accuracy']
            assert (accurate is None) == (quality[name]['generated_points'] == 0)
            assert accurate is None or 0.0 <= accurate <= 1.0
            assert 0.0 <= quality[name]['completeness'] <= 1.0
        for name in LOOP_METHODS:
            # The loop only adds points.
            assert quality[name]['completeness'] >= quality['before']['completeness']
            assert quality[name]['points'] >= quality['before']['points']
    compare = cv2.imread(str(out / 'compare.png'))
    assert compare.shape[0] >= targets * 120
    report = (out / 'report.md').read_text()
    assert '| anyrecon |' in report and '| inpaint_loop |' in report
    assert '![compare](compare.png)' in report and 'PSNR unseen, never seen' in report
    assert ('completeness' in report) == chamfer
    assert ('depth within tolerance' in report) == depth
    return metrics


def test_eval_on_a_small_procedural_scene(tmp_path):
    assert main(['eval', '--scene', 'synthetic:1', '--frames', '30', '--out',
                 str(tmp_path), '--width', '128']) == 0
    metrics = _check(tmp_path, targets=2, chamfer=True, depth=True)
    # The loops ran along the path between the two targets, one view per 5 cm or 3 degrees.
    assert metrics['loop_path'] == 'planner' and metrics['loop_views'] > 2
    for counts in metrics['fusion_gate'].values():
        assert sum(value for key, value in counts.items()
                   if key.startswith('views_')) == metrics['loop_views']
    render, inpaint = metrics['methods']['render'], metrics['methods']['inpaint']
    # Exact input depth: the memory's render is metrically right where it covers.
    assert render['depth_abs_rel'] < 0.05
    # Filling the holes beats leaving them black, where the memory saw nothing.
    assert inpaint['psnr_unseen'] > render['psnr_unseen']
    # The render has no depth where it is empty; the fill completes it there.
    assert render['depth_unseen_pixels'] == 0 and render['depth_unseen_accuracy'] is None
    assert inpaint['depth_unseen_pixels'] > 0 and 0.0 <= inpaint['depth_unseen_accuracy'] <= 1.0
    assert metrics['resolution'] == [128, 96]
    assert 0 < metrics['chamfer']['anyrecon'] < 1.0
    # Exact depth everywhere: every uncovered pixel is either seen by an input or not.
    assert render['share_unseen_no_depth'] == 0.0
    assert render['share_unseen_never'] > 0.0


def test_eval_on_redkitchen_frames(tmp_path):
    assert main(['eval', '--scene', str(REDKITCHEN), '--inputs', '0,10,20', '--targets', '5,15',
                 '--out', str(tmp_path), '--width', '128']) == 0
    metrics = _check(tmp_path, targets=2, chamfer=False, depth=True)
    assert metrics['inputs'] == [0, 10, 20] and metrics['targets'] == [5, 15]
    assert metrics['methods']['render']['coverage'] > 0.5


def test_the_commands_mapping_defaults_are_the_librarys():
    from anyrecon_ros.cli import options
    from anyrecon_ros.core.mapping import MappingConfig
    from anyrecon_ros.core.scene_io import working_scene
    from anyrecon_ros.loop.evaluation import EvalSettings
    from anyrecon_ros.loop.offline import OfflineSettings
    assert options.MAPPING_WIDTH == working_scene.MAPPING_WIDTH == EvalSettings().mapping_width
    assert options.MAPPING_WIDTH == OfflineSettings().mapping_width
    assert options.STEREO_WIDTH == MappingConfig().depth_estimation_width
    assert options.STEREO_WIDTH == EvalSettings().stereo_width
    parsed = build_parser().parse_args(['eval', '--scene', 'synthetic:0'])
    assert parsed.loop_path == EvalSettings().loop_path and EvalSettings().loop_path in LOOP_PATHS


def test_the_loop_path_runs_through_the_targets_at_the_planners_density():
    """0.5 m and a 10 degree turn apart, the planner's 5 cm steps: 10 steps a gap."""
    first = look_at([0.0, 0.0, 1.0], [0.0, 2.0, 1.0])
    second = look_at([0.5, 0.0, 1.0], [0.0, 2.0, 1.0])
    third = look_at([1.0, 0.0, 1.0], [0.9, 2.0, 1.0])
    targets = np.stack([first, second, third])
    path, at = loop_path(targets, 'planner', METRIC_UNITS)
    assert at.tolist() == [0, 10, 20] and len(path) == 21
    assert np.allclose(path[at], targets)
    steps = np.linalg.norm(np.diff(path[:, :3, 3], axis=0), axis=1)
    assert steps.max() <= 0.05 + 1e-9
    # In a scene 20 times smaller (20 units a nominal metre), the same path.
    scaled = targets.copy()
    scaled[:, :3, 3] *= 20
    assert loop_path(scaled, 'planner', SceneUnits(metric=False, scale=20.0))[1].tolist() == [
        0, 10, 20]
    alone, at = loop_path(targets, 'targets', METRIC_UNITS)
    assert np.array_equal(alone, targets) and at.tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match='loop path must be one of planner, targets'):
        loop_path(targets, 'sparse', METRIC_UNITS)


def test_eval_refuses_a_bad_scene(tmp_path, capsys):
    assert main(['eval', '--scene', 'synthetic:x', '--out', str(tmp_path)]) == 1
    assert 'synthetic:SEED' in capsys.readouterr().err


def test_eval_where_the_height_is_off_the_generators_grid(tmp_path):
    # 160x120: the generator works at 160x128 and its views are compared at 160x120.
    camera, scene = default_camera().scaled(160, 120), ProceduralScene(seed=3)
    write_transforms_json(tmp_path / 'scene', camera, [
        scene.capture_view(camera, pose, index)
        for index, pose in enumerate(scene.camera_path(21))])
    out = tmp_path / 'out'
    assert main(['eval', '--scene', str(tmp_path / 'scene'), '--width', '160',
                 '--out', str(out)]) == 0
    metrics = json.loads((out / 'metrics.json').read_text())
    assert metrics['resolution'] == [160, 120]
    assert np.isfinite(metrics['methods']['anyrecon']['psnr_unseen'])


@pytest.fixture(scope='module')
def temple_in_two_units(tmp_path_factory):
    """Return (the temple's first 13 frames, the same with every length times 20)."""
    if not (TEMPLE / 'scene.json').is_file():
        pytest.skip(f'shared test data not found at {TEMPLE}')
    scene = open_scene(TEMPLE)
    subset = replace(scene, frames=scene.frames[:13])
    folder = tmp_path_factory.mktemp('units')
    write_posed_scene(folder / 'metres', subset)
    write_posed_scene(folder / 'x20', scaled_scene(subset, 20.0))
    return folder / 'metres', folder / 'x20'


def test_eval_gives_the_same_coverage_in_any_units(temple_in_two_units, tmp_path):
    """RGB only: the scene and its copy in units 20 times smaller map alike (issue 17)."""
    metrics = []
    for scene in temple_in_two_units:
        out = tmp_path / scene.name
        assert main(['eval', '--scene', str(scene), '--inputs', '0,3,6,9,12', '--width', '64',
                     '--mapping-width', '192', '--checkpoint', 'inpaint', '--out',
                     str(out)]) == 0
        metrics.append(json.loads((out / 'metrics.json').read_text()))
    original, scaled = metrics
    assert original['mapping_resolution'] == [192, 144] and original['resolution'] == [64, 48]
    assert not original['units']['metric'] and original['memory_points'] > 500
    assert scaled['units']['scale'] == pytest.approx(20 * original['units']['scale'], rel=0.02)
    covered = original['methods']['render']['coverage']
    assert covered > 0.3
    assert scaled['methods']['render']['coverage'] == pytest.approx(covered, rel=0.05)
    assert 'scene units' in (tmp_path / 'x20' / 'report.md').read_text()


def _write_rgb_only(folder, poses, rgb=None):
    camera, scene = default_camera().scaled(64, 48), ProceduralScene(seed=5)
    views = [scene.capture_view(camera, pose, index) for index, pose in enumerate(poses)]
    if rgb is not None:
        views = [replace(view, rgb=np.full_like(view.rgb, rgb)) for view in views]
    write_transforms_json(folder, camera, [replace(view, depth=None) for view in views])


def test_eval_of_a_scene_of_unknown_units_is_a_clear_error(tmp_path, capsys):
    # Turning on the spot, without depth: no baseline, no scale.
    turning = [look_at([2.0, 2.0, 1.4], [2.0 + np.cos(a), 2.0 + np.sin(a), 1.4])
               for a in np.linspace(0.0, 1.0, 5)]
    _write_rgb_only(tmp_path / 'turning', turning)
    assert main(['eval', '--scene', str(tmp_path / 'turning'), '--inputs', '0,2,4',
                 '--checkpoint', 'inpaint', '--out', str(tmp_path / 'out')]) == 1
    error = capsys.readouterr().err
    assert 'all at one place' in error and 'Traceback' not in error


def test_eval_of_views_that_give_no_geometry_is_an_error_not_an_empty_map(tmp_path, capsys):
    # Flat grey views: nothing to match, so stereo finds no depth anywhere.
    _write_rgb_only(tmp_path / 'grey', ProceduralScene(seed=5).camera_path(30)[:5], rgb=128)
    assert main(['eval', '--scene', str(tmp_path / 'grey'), '--inputs', '0,2,4',
                 '--checkpoint', 'inpaint', '--out', str(tmp_path / 'out')]) == 1
    error = capsys.readouterr().err
    assert 'gave no geometry' in error and 'scene units' in error
    assert not (tmp_path / 'out' / 'metrics.json').exists()
