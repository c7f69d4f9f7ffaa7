# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``anyrecon bench`` geometry section: keyframe insert, 1M-point render and retrieval.

Each of ours stands beside the nearest equivalent in open3d, on the same data
and in the same process, so the ratios hold even on a busy machine.
"""

import numpy as np

from anyrecon_ros.bench.timing import median_ms
from anyrecon_ros.core.geometry_memory import GeometryMemory
from anyrecon_ros.core.geometry_memory import MemoryConfig
from anyrecon_ros.core.procedural_scene import default_camera
from anyrecon_ros.core.procedural_scene import ProceduralScene
from anyrecon_ros.core.retrieval import projection_counts
from anyrecon_ros.core.retrieval import retrieve_views

# Targets from the geometry issue, in milliseconds on the 2-core reference machine.
TARGETS_MS = {'keyframe_insert': 20.0, 'memory_render_1m': 50.0, 'retrieval_200': 20.0}


def bench_geometry(quick: bool) -> dict:
    """Keyframe insert, 1M-point render and retrieval, each beside open3d."""
    import open3d as o3d
    repeats = 10 if quick else 20
    scene, camera = ProceduralScene(seed=0), default_camera()
    figures = {}
    frames = [scene.render(camera, pose) + (pose,) for pose in scene.camera_path(6)]

    memory = GeometryMemory(MemoryConfig(voxel_size=0.02))
    counter = iter(range(10 ** 6))

    def insert():
        rgb, depth, pose = frames[next(counter) % len(frames)]
        memory.insert(rgb, depth, camera, pose, view_id=next(counter))

    def open3d_insert():
        rgb, depth, pose = frames[0]
        image = o3d.t.geometry.RGBDImage(o3d.t.geometry.Image(rgb),
                                         o3d.t.geometry.Image(np.nan_to_num(depth)))
        cloud = o3d.t.geometry.PointCloud.create_from_rgbd_image(
            image, o3d.core.Tensor(camera.K), o3d.core.Tensor(np.linalg.inv(pose)),
            depth_scale=1.0, depth_max=8.0)
        cloud.voxel_down_sample(0.02)

    figures['keyframe_insert'] = {
        'ours_ms': median_ms(insert, repeats),
        'open3d_ms': median_ms(open3d_insert, repeats),
        'open3d_equivalent': 'create_from_rgbd_image + voxel_down_sample (no fusion)'}

    big = _million_point_memory(scene)
    pose = frames[1][2]
    points = o3d.t.geometry.PointCloud(o3d.core.Tensor(big.positions))
    figures['memory_render_1m'] = {
        'points': len(big),
        'ours_ms': median_ms(lambda: big.render(camera, pose), repeats),
        'open3d_ms': median_ms(lambda: points.project_to_depth_image(
            camera.width, camera.height, o3d.core.Tensor(camera.K),
            o3d.core.Tensor(np.linalg.inv(pose)), depth_scale=1.0, depth_max=20.0), repeats),
        'open3d_equivalent': 'PointCloud.project_to_depth_image (1-pixel points, depth only)'}

    bank = _keyframe_memory(scene, 200)
    small_points = o3d.t.geometry.PointCloud(o3d.core.Tensor(bank.positions))
    figures['retrieval_200'] = {
        'keyframes': 200, 'points': len(bank),
        'ours_ms': median_ms(lambda: retrieve_views(bank, camera, [pose], k=4), repeats),
        'projection_count_ms': median_ms(lambda: projection_counts(bank, camera, pose), repeats),
        'open3d_ms': median_ms(lambda: small_points.project_to_depth_image(
            camera.width, camera.height, o3d.core.Tensor(camera.K),
            o3d.core.Tensor(np.linalg.inv(pose)), depth_scale=1.0, depth_max=20.0), repeats),
        'open3d_equivalent': 'project_to_depth_image of the memory (no view scoring)'}
    for name, target in TARGETS_MS.items():
        figures[name]['target_ms'] = target
        figures[name]['ratio_to_open3d'] = figures[name]['ours_ms'] / figures[name]['open3d_ms']
    return figures


def _million_point_memory(scene) -> GeometryMemory:
    """Return a memory of about one million points on the scene's surfaces."""
    import open3d as o3d
    o3d.utility.random.seed(0)
    cloud = scene.mesh().sample_points_uniformly(number_of_points=1_300_000)
    positions = np.asarray(cloud.points, np.float32)
    colours = np.asarray(cloud.colors, np.float32) * 255.0
    memory = GeometryMemory(MemoryConfig(voxel_size=0.008, max_points=1_000_000))
    memory.fuse_points(positions, colours, np.ones(len(positions), np.float32), view_id=0)
    return memory


def _keyframe_memory(scene, keyframes: int) -> GeometryMemory:
    """Return a memory fused from ``keyframes`` low-resolution keyframes along a loop."""
    camera = default_camera().scaled(160, 120)
    memory = GeometryMemory(MemoryConfig(voxel_size=0.03))
    for view_id, pose in enumerate(scene.camera_path(keyframes)):
        rgb, depth = scene.render(camera, pose)
        memory.insert(rgb, depth, camera, pose, view_id=view_id)
    return memory


def geometry_table(geometry: dict) -> list:
    """Return the geometry section as markdown lines."""
    lines = ['| geometry | ours | open3d | ours / open3d | target | open3d equivalent |',
             '|---|---|---|---|---|---|']
    for name, figure in geometry.items():
        lines.append(f'| {name} | {figure["ours_ms"]:.1f} | {figure["open3d_ms"]:.1f} | '
                     f'{figure["ratio_to_open3d"]:.2f} | <= {figure["target_ms"]:.0f} | '
                     f'{figure["open3d_equivalent"]} |')
    return lines
