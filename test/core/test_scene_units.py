# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""A scene's units and stereo depth ranges: from depth, points, bounds, matches or cameras."""

from dataclasses import replace
import json
import math

import numpy as np
from PIL import Image
import pytest

from anyrecon_ros.core.camera import PinholeCamera
from anyrecon_ros.core.depth.triangulation import triangulate_matches
from anyrecon_ros.core.procedural_scene import default_camera
from anyrecon_ros.core.procedural_scene import ProceduralScene
from anyrecon_ros.core.scene_io import open_scene
from anyrecon_ros.core.scene_io import read_colmap_model
from anyrecon_ros.core.scene_io import read_posed_scene
from anyrecon_ros.core.scene_io import Scene
from anyrecon_ros.core.scene_io import SceneFormatError
from anyrecon_ros.core.scene_io import SceneFrame
from anyrecon_ros.core.scene_io import SparsePoints
from anyrecon_ros.core.scene_io import write_posed_scene
from anyrecon_ros.core.scene_io import write_transforms_json
from anyrecon_ros.core.scene_io.colmap import write_colmap_text
from anyrecon_ros.core.scene_io.units import BASELINE
from anyrecon_ros.core.scene_io.units import BASELINE_DEPTH_RATIO
from anyrecon_ros.core.scene_io.units import BOUNDS
from anyrecon_ros.core.scene_io.units import BOUNDS_MARGIN
from anyrecon_ros.core.scene_io.units import CONVERGENCE
from anyrecon_ros.core.scene_io.units import DepthRanges
from anyrecon_ros.core.scene_io.units import MATCHED_POINTS
from anyrecon_ros.core.scene_io.units import METRIC_UNITS
from anyrecon_ros.core.scene_io.units import NOMINAL_DEPTH
from anyrecon_ros.core.scene_io.units import nominal_scene
from anyrecon_ros.core.scene_io.units import scaled_scene
from anyrecon_ros.core.scene_io.units import scene_units
from anyrecon_ros.core.scene_io.units import SceneUnits
from anyrecon_ros.core.scene_io.units import SceneUnitsError
from anyrecon_ros.core.scene_io.units import SPARSE_POINTS
from anyrecon_ros.core.transforms import look_at

CAMERA = PinholeCamera(width=40, height=30, fx=40.0, fy=40.0, cx=19.5, cy=14.5)
RADIUS = 3.0


def ring_poses(count=8, radius=RADIUS):
    """Return cameras on a horizontal circle around the origin, looking at it."""
    return [look_at([radius * math.cos(a), radius * math.sin(a), 0.5], [0.0, 0.0, 0.0])
            for a in np.linspace(0.0, math.pi, count)]


def make_scene(tmp_path, poses, points=None, bounds=None):
    """Return an RGB-only Scene of grey images at ``poses``."""
    image = tmp_path / 'grey.png'
    Image.fromarray(np.full((CAMERA.height, CAMERA.width, 3), 128, np.uint8)).save(image)
    frames = [SceneFrame(image_path=image, camera_to_world=np.asarray(pose, np.float64),
                         bounds=None if bounds is None else bounds[index])
              for index, pose in enumerate(poses)]
    return Scene(camera=CAMERA, frames=frames, name='test', source=tmp_path, points=points)


def sphere_points(radius, count=2000, seed=0):
    rng = np.random.default_rng(seed)
    xyz = rng.normal(size=(count, 3))
    xyz *= radius / np.linalg.norm(xyz, axis=1, keepdims=True)
    return SparsePoints(xyz=xyz, rgb=rng.integers(0, 256, (count, 3), dtype=np.uint8))


def test_a_scene_with_depth_is_metric(tmp_path):
    scene, camera = ProceduralScene(seed=2), default_camera().scaled(32, 24)
    views = [scene.capture_view(camera, pose, i) for i, pose in enumerate(scene.camera_path(3))]
    write_transforms_json(tmp_path, camera, views)
    opened = open_scene(tmp_path)
    assert scene_units(opened) == METRIC_UNITS
    nominal, units = nominal_scene(opened)
    assert units.metric and nominal is opened
    with pytest.raises(ValueError, match='metric'):
        scaled_scene(opened, 20.0)


def test_units_from_sparse_points(tmp_path):
    units = scene_units(make_scene(tmp_path, ring_poses(), points=sphere_points(0.5)))
    assert units.source == SPARSE_POINTS and not units.metric
    # The cameras are 3.04 from the centre; the sphere's near side is 0.5 closer.
    assert units.scale * NOMINAL_DEPTH == pytest.approx(RADIUS, rel=0.1)
    assert units.near * units.scale < RADIUS - 0.5 and units.far * units.scale > RADIUS + 0.5


def test_units_from_near_far_bounds(tmp_path):
    bounds = [(2.0, 8.0)] * 8
    units = scene_units(make_scene(tmp_path, ring_poses(), bounds=bounds))
    assert units.source == BOUNDS
    assert units.scale == pytest.approx(4.0 / NOMINAL_DEPTH)   # sqrt(2 * 8)
    assert units.near * units.scale == pytest.approx(2.0 / BOUNDS_MARGIN)
    assert units.far * units.scale == pytest.approx(8.0 * BOUNDS_MARGIN)


def test_units_from_cameras_that_converge_or_only_move(tmp_path):
    poses = ring_poses()
    units = scene_units(make_scene(tmp_path, poses))
    assert units.source == CONVERGENCE
    assert units.scale * NOMINAL_DEPTH == pytest.approx(math.hypot(RADIUS, 0.5), rel=1e-6)
    # Parallel cameras 0.3 apart (a forward-facing capture): the baseline decides.
    forward = [look_at([0.3 * i, 0.0, 0.0], [0.3 * i, 10.0, 0.0]) for i in range(5)]
    units = scene_units(make_scene(tmp_path, forward))
    assert units.source == BASELINE
    assert units.scale * NOMINAL_DEPTH == pytest.approx(0.3 * BASELINE_DEPTH_RATIO)


@pytest.mark.parametrize('kind', ['points', 'bounds', 'convergence', 'baseline'])
def test_a_scene_times_20_has_20_times_the_scale_and_the_same_nominal_scene(tmp_path, kind):
    if kind == 'baseline':
        poses = [look_at([0.3 * i, 0.0, 0.0], [0.3 * i, 10.0, 0.0]) for i in range(5)]
    else:
        poses = ring_poses()
    scene = make_scene(tmp_path, poses, points=sphere_points(0.5) if kind == 'points' else None,
                       bounds=[(2.0, 3.0 + i) for i in range(8)] if kind == 'bounds' else None)
    nominal, units = nominal_scene(scene)
    nominal_20, units_20 = nominal_scene(scaled_scene(scene, 20.0))
    assert units_20.source == units.source
    assert units_20.scale == pytest.approx(20 * units.scale, rel=1e-9)
    np.testing.assert_allclose(nominal_20.poses, nominal.poses, atol=1e-9)
    # Nominal metres: the typical depth is NOMINAL_DEPTH whatever the units.
    assert (units_20.near, units_20.far) == pytest.approx((units.near, units.far), rel=1e-9)
    ranges, ranges_20 = DepthRanges(nominal, units), DepthRanges(nominal_20, units_20)
    for index in range(len(scene)):
        expected = ranges(nominal.view(index))
        assert ranges_20(nominal_20.view(index)) == pytest.approx(expected, rel=1e-9)


def test_unknown_units_are_a_clear_error(tmp_path):
    with pytest.raises(SceneUnitsError, match='one view without depth'):
        scene_units(make_scene(tmp_path, ring_poses(1)))
    turning = [look_at([1.0, 2.0, 0.5], [math.cos(a), math.sin(a), 0.5])
               for a in np.linspace(0.0, 1.0, 4)]
    with pytest.raises(SceneUnitsError, match='all at one place'):
        nominal_scene(make_scene(tmp_path, turning))
    # Points behind every camera say nothing: the cameras decide.
    behind = SparsePoints(xyz=np.full((50, 3), 100.0), rgb=np.zeros((50, 3), np.uint8))
    assert scene_units(make_scene(tmp_path, ring_poses(), points=behind)).source == CONVERGENCE
    with pytest.raises(SceneUnitsError, match='positive'):
        SceneUnits(metric=False, scale=0.0)


def test_depth_ranges_per_view(tmp_path):
    poses = ring_poses()
    poses[7] = look_at([0.0, RADIUS, 0.5], [0.0, 10.0, 0.5])   # looking away
    # Points near the first camera's line of sight only, at depths 2.5 to 3.5.
    first = poses[0]
    depths = np.linspace(2.5, 3.5, 50)
    xyz = first[:3, 3] + depths[:, None] * first[:3, 2]
    points = SparsePoints(xyz=xyz, rgb=np.zeros((50, 3), np.uint8))
    scene, units = nominal_scene(make_scene(tmp_path, poses, points=points))
    ranges = DepthRanges(scene, units)
    near, far = (value * units.scale for value in ranges(scene.view(0)))
    assert near < 2.5 and far > 3.5 and far / near < 4.0
    # A view that sees none of them searches the scene's range.
    assert ranges(scene.view(7)) == (units.near, units.far)
    bounded, units = nominal_scene(make_scene(tmp_path, poses,
                                              bounds=[(1.0, 2.0)] * 7 + [(4.0, 9.0)]))
    near, far = (value * units.scale for value in DepthRanges(bounded, units)(bounded.view(7)))
    assert (near, far) == pytest.approx((4.0 / BOUNDS_MARGIN, 9.0 * BOUNDS_MARGIN))
    with pytest.raises(ValueError, match='metric'):
        DepthRanges(bounded, METRIC_UNITS)


def test_units_round_trip_through_json():
    units = SceneUnits(metric=False, scale=3.5, source=BOUNDS, near=0.5, far=7.0)
    assert SceneUnits.from_json(units.to_json()) == units
    assert SceneUnits.from_json(METRIC_UNITS.to_json()).metric
    with pytest.raises(ValueError, match='malformed'):
        SceneUnits.from_json('{"scale": 1}')
    assert units.fusion_limits(0.1, 8.0) == (0.1, 14.0)
    assert METRIC_UNITS.fusion_limits(0.1, 8.0) == (0.1, 8.0)


@pytest.fixture(scope='module')
def rgb_views():
    scene, camera = ProceduralScene(seed=4), default_camera().scaled(160, 120)
    poses = scene.camera_path(24)[:4]
    return [scene.capture_view(camera, pose, index) for index, pose in enumerate(poses)]


def test_matched_points_lie_on_the_surface(rgb_views):
    xyz, rgb = triangulate_matches(rgb_views, [(0, 1), (1, 2), (2, 3)])
    assert len(xyz) > 50 and rgb.shape == xyz.shape and rgb.dtype == np.uint8
    # Compare each point's depth with the true depth where it lands in view 1.
    view = rgb_views[1]
    pose = view.camera_to_world
    local = (xyz - pose[:3, 3]) @ pose[:3, :3]
    u = np.rint(view.camera.fx * local[:, 0] / local[:, 2] + view.camera.cx).astype(int)
    v = np.rint(view.camera.fy * local[:, 1] / local[:, 2] + view.camera.cy).astype(int)
    inside = (u >= 0) & (u < 160) & (v >= 0) & (v < 120) & (local[:, 2] > 0)
    truth = view.depth[v[inside], u[inside]]
    error = np.abs(local[inside, 2] - truth) / truth
    # About a pixel of keypoint error at 160 px and a 7-degree angle: a few per cent.
    assert inside.sum() > 30 and np.median(error) < 0.1


def test_a_scene_without_points_or_bounds_gets_matched_points(tmp_path, rgb_views):
    views = [replace(view, depth=None) for view in rgb_views]
    write_transforms_json(tmp_path, views[0].camera, views)
    scene = open_scene(tmp_path)
    nominal, units = nominal_scene(scene)
    assert units.source == MATCHED_POINTS and nominal.points is not None
    true_depth = np.median([np.nanmedian(view.depth) for view in rgb_views])
    assert units.scale * NOMINAL_DEPTH == pytest.approx(true_depth, rel=0.25)


def test_posed_folders_carry_near_far_and_write_back(tmp_path):
    poses = ring_poses(3)
    scene = make_scene(tmp_path, poses, bounds=[(1.0, 5.0), (1.5, 6.0), (2.0, 7.0)])
    path = write_posed_scene(tmp_path / 'copy', scaled_scene(scene, 20.0))
    copy = read_posed_scene(path.parent)
    assert [frame.bounds for frame in copy.frames] == [(20.0, 100.0), (30.0, 120.0),
                                                       (40.0, 140.0)]
    np.testing.assert_allclose(copy.poses[:, :3, 3], 20 * np.stack(poses)[:, :3, 3])
    assert copy.camera == CAMERA and copy.view(1).rgb.shape == (30, 40, 3)
    description = json.loads(path.read_text())
    for frame, near_far in (({'near': 1.0}, 'near/far'), ({'near': 3.0, 'far': 2.0}, '0 < near'),
                            ({'near': 'a', 'far': 2.0}, 'numbers')):
        description['frames'][0] = {**description['frames'][0], 'far': None, **frame}
        description['frames'][0] = {key: value for key, value in description['frames'][0].items()
                                    if value is not None}
        path.write_text(json.dumps(description))
        with pytest.raises(SceneFormatError, match=near_far):
            read_posed_scene(path.parent)


def test_colmap_text_round_trip_and_llff_bounds(tmp_path):
    poses = ring_poses(3)
    camera = PinholeCamera(width=40, height=30, fx=41.0, fy=42.0, cx=19.0, cy=15.25)
    folder = tmp_path / 'project'
    (folder / 'images').mkdir(parents=True)
    names = []
    for index in range(3):
        names.append(f'view {index}.png')   # a space: names are the line's last field
        Image.fromarray(np.full((30, 40, 3), 40 * index, np.uint8)).save(
            folder / 'images' / names[-1])
    points = sphere_points(0.5, count=7)
    model = write_colmap_text(folder, [(name, camera, pose) for name, pose in zip(names, poses)],
                              points.xyz, points.rgb)
    assert model == folder / 'sparse' / '0'
    scene = read_colmap_model(folder)
    assert scene.camera == camera and [f.image_path.name for f in scene.frames] == names
    np.testing.assert_allclose(scene.poses, np.stack(poses), atol=1e-12)
    np.testing.assert_allclose(scene.points.xyz, points.xyz, rtol=1e-8)
    np.testing.assert_array_equal(scene.points.rgb, points.rgb)
    assert all(frame.bounds is None for frame in scene.frames)
    # LLFF's poses_bounds.npy beside it: the last two numbers of a row are near and far.
    table = np.zeros((3, 17))
    table[:, 15:] = [[1.0, 4.0], [2.0, 5.0], [3.0, 6.0]]
    np.save(folder / 'poses_bounds.npy', table)
    assert [frame.bounds for frame in read_colmap_model(folder).frames] == [
        (1.0, 4.0), (2.0, 5.0), (3.0, 6.0)]
    # Seven points are too few for any view's depths: the bounds tell the units.
    assert scene_units(read_colmap_model(folder)).source == BOUNDS
    np.save(folder / 'poses_bounds.npy', table[:2])
    with pytest.raises(SceneFormatError, match='2 rows'):
        read_colmap_model(folder)
    with pytest.raises(ValueError, match='pinhole'):
        write_colmap_text(folder, [('a.png', replace(camera, distortion=[0.1, 0, 0, 0]),
                                    poses[0])], points.xyz, points.rgb)
