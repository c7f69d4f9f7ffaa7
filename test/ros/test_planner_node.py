# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""planner_node plans from a memory cloud and keyframes received over DDS."""

import math

from nav_msgs.msg import Path
import numpy as np
import pytest
from rclpy.parameter import Parameter
from sensor_msgs.msg import PointCloud2
from std_srvs.srv import Trigger

from anyrecon_ros.core.geometry_memory import GeometryMemory
from anyrecon_ros.core.geometry_memory import MemoryConfig
from anyrecon_ros.core.planning import CoverageConfig
from anyrecon_ros.core.planning import plan_coverage
from anyrecon_ros.core.procedural_scene import default_camera
from anyrecon_ros.core.procedural_scene import ProceduralScene
from anyrecon_ros.msg import Keyframe
from anyrecon_ros.ros.conversions import cloud_to_points
from anyrecon_ros.ros.conversions import points_to_cloud
from anyrecon_ros.ros.conversions import view_to_keyframe
from anyrecon_ros.ros.conversions.path import path_to_poses
from anyrecon_ros.ros.planner_node import PlannerNode
from anyrecon_ros.ros.qos import keyframe_history_qos
from anyrecon_ros.ros.qos import latched_qos

CAMERA = default_camera().scaled(160, 120)
CAPTURED = (0, 3, 6, 9)   # of a 12-pose loop: parts of the room stay unseen
VOXEL = 0.05
# Small enough to plan in about a second.
COVERAGE = CoverageConfig(n_candidates=60, clearance=0.4, min_overlap=0.3,
                          max_translation_step=0.1, max_rotation_step=math.radians(6.0),
                          segment_length=40)
COVERAGE_PARAMETERS = {'n_candidates': 60, 'clearance': 0.4, 'min_overlap': 0.3,
                       'max_translation_step': 0.1, 'max_rotation_step_deg': 6.0,
                       'segment_length': 40, 'voxel_size': VOXEL, 'n_views': 3, 'seed': 7}


@pytest.fixture(scope='module')
def captured():
    """Return keyframe views of the procedural scene and their memory cloud."""
    scene = ProceduralScene(seed=0)
    loop = scene.camera_path(12)
    views = [scene.capture_view(CAMERA, loop[index], view_id)
             for view_id, index in enumerate(CAPTURED)]
    memory = GeometryMemory(MemoryConfig(voxel_size=VOXEL))
    for view in views:
        memory.insert(view.rgb, view.depth, CAMERA, view.camera_to_world, view.view_id)
    return views, points_to_cloud(memory.positions, memory.colours_uint8())


def planner(ros, **parameters):
    """Create a PlannerNode in the test's context and a client of its ~/plan."""
    node = PlannerNode(context=ros.context, parameter_overrides=[
        Parameter(name, value=value) for name, value in parameters.items()])
    ros.executor.add_node(node)
    ros.nodes.append(node)
    return node, ros.node('plan_client').create_client(Trigger, '/planner_node/plan')


def call_plan(ros, client):
    """Call ~/plan and return its response."""
    assert ros.spin_until(client.service_is_ready)
    future = client.call_async(Trigger.Request())
    assert ros.spin_until(future.done, timeout=30)
    return future.result()


def publish_inputs(ros, cloud=None, views=()):
    """Publish a memory cloud (latched) and keyframes once the planner is subscribed."""
    node = ros.node(f'inputs_{len(ros.nodes)}')
    if cloud is not None:
        cloud.header.frame_id = 'map'
        node.create_publisher(PointCloud2, 'memory', latched_qos()).publish(cloud)
    keyframes = node.create_publisher(Keyframe, 'keyframes', keyframe_history_qos())
    assert ros.spin_until(lambda: keyframes.get_subscription_count() > 0)
    for view in views:
        keyframes.publish(view_to_keyframe(view, 'map'))


def received_paths(ros):
    """Subscribe to the planner's trajectory and return the list Paths land in."""
    return ros.collect(Path, '/planner_node/trajectory', latched_qos())


def test_coverage_plan_starts_at_the_latest_keyframe_and_sees_unseen_space(ros, captured):
    views, cloud = captured
    node, client = planner(ros, mode='coverage', **COVERAGE_PARAMETERS)
    paths = received_paths(ros)
    publish_inputs(ros, cloud, views)
    assert ros.spin_until(lambda: len(node.keyframe_poses) == len(views))

    response = call_plan(ros, client)
    assert response.success, response.message
    assert ros.spin_until(lambda: paths)
    poses = path_to_poses(paths[0], 'map')
    np.testing.assert_allclose(poses[0], views[-1].camera_to_world, atol=1e-9)

    # The same inputs to the core planner give the same plan.
    memory = GeometryMemory(MemoryConfig(voxel_size=VOXEL))
    xyz, rgb, _ = cloud_to_points(cloud)
    memory.fuse_points(xyz, rgb.astype(np.float32), np.ones(len(xyz), np.float32))
    expected = plan_coverage(memory, CAMERA, views[-1].camera_to_world, 3, COVERAGE, seed=7)
    np.testing.assert_allclose(poses, expected.poses, atol=1e-9)
    plan = node.last_trajectory
    assert len(plan.viewpoint_indices) >= 2
    assert response.message.startswith(f'coverage: {len(poses)} poses')
    # The planned views look at space the keyframes left unseen.
    assert plan.unseen_fraction[plan.viewpoint_indices].mean() > plan.unseen_fraction[0] + 0.3


def test_plan_says_why_it_cannot_plan(ros, captured):
    views, cloud = captured
    node, client = planner(ros, mode='coverage', **COVERAGE_PARAMETERS)
    response = call_plan(ros, client)
    assert not response.success
    assert response.message == 'no memory cloud received yet on /memory'

    publish_inputs(ros, points_to_cloud(np.empty((0, 3))))
    assert ros.spin_until(lambda: node.cloud is not None)
    assert call_plan(ros, client).message == 'the memory cloud is empty'

    publish_inputs(ros, cloud)
    assert ros.spin_until(lambda: node.cloud is not None and len(node.cloud[0]))
    assert call_plan(ros, client).message == 'no keyframes received yet on /keyframes'
    assert node.last_trajectory is None


def test_interpolate_passes_through_the_keyframes(ros, captured):
    views, _ = captured
    node, client = planner(ros, mode='interpolate', frames_between=4)
    paths = received_paths(ros)
    publish_inputs(ros, views=views[:1])
    assert ros.spin_until(lambda: node.keyframe_poses)
    response = call_plan(ros, client)
    assert (response.success, response.message) == (
        False, 'interpolate needs at least 2 keyframes, have 1')

    publish_inputs(ros, views=views[1:])
    assert ros.spin_until(lambda: len(node.keyframe_poses) == len(views))
    assert call_plan(ros, client).success
    assert ros.spin_until(lambda: paths)
    poses = path_to_poses(paths[0], 'map')
    assert len(poses) == len(views) + 4 * (len(views) - 1)
    for index, view in enumerate(views):
        np.testing.assert_allclose(poses[5 * index], view.camera_to_world, atol=1e-9)
    assert list(node.last_trajectory.viewpoint_indices) == [0, 5, 10, 15]


def test_periodic_extrapolation_publishes_without_a_request(ros, captured):
    views, _ = captured
    node, _ = planner(ros, mode='extrapolate', extrapolate_frames=6, period=0.2)
    paths = received_paths(ros)
    publish_inputs(ros, views=views[:2])
    assert ros.spin_until(lambda: len(paths) >= 2, timeout=10)
    poses = path_to_poses(paths[-1], 'map')
    assert len(poses) == 7
    np.testing.assert_allclose(poses[0], views[1].camera_to_world, atol=1e-9)
    # Moving on: each pose steps as far as the two keyframes are apart.
    spacing = np.linalg.norm(views[1].camera_to_world[:3, 3] - views[0].camera_to_world[:3, 3])
    steps = np.linalg.norm(np.diff(poses[:, :3, 3], axis=0), axis=1)
    np.testing.assert_allclose(steps, spacing, rtol=1e-6)


def test_unknown_mode_is_refused(ros):
    with pytest.raises(ValueError, match="mode 'explore' is not one of coverage"):
        PlannerNode(context=ros.context, parameter_overrides=[Parameter('mode', value='explore')])
