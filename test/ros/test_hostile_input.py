# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Single hostile messages and calls, through real DDS: each is refused and counted, never fatal.

Each case once crashed a node, hung a service or was silently ignored (issue
"nothing committed is ever lost"); each test sends it and checks the node
still does its work afterwards.
"""

import signal

from nav_msgs.msg import Path
import numpy as np
import pytest
from rcl_interfaces.msg import Parameter as ParameterMsg
from rcl_interfaces.msg import ParameterType
from rcl_interfaces.msg import ParameterValue
from rcl_interfaces.srv import SetParameters
from rclpy.parameter import Parameter
from std_srvs.srv import Trigger
from test_generator_node import generator_pose
from test_generator_node import SMALL_LOOP
from test_generator_node import wired_generator_node
from test_memory_node import memory_node_here
from test_planner_node import call_plan
from test_planner_node import planner
from test_planner_node import publish_inputs

from anyrecon_ros.core.procedural_scene import default_camera
from anyrecon_ros.core.procedural_scene import ProceduralScene
from anyrecon_ros.core.view_bank import GeneratedFrame
from anyrecon_ros.msg import GeneratedView
from anyrecon_ros.msg import GenerationProgress
from anyrecon_ros.msg import Keyframe
from anyrecon_ros.ros.conversions import view_to_keyframe
from anyrecon_ros.ros.conversions.generated_view import generated_frame_to_msg
from anyrecon_ros.ros.conversions.path import poses_to_path
from anyrecon_ros.ros.memory_node import MemoryNode
from anyrecon_ros.ros.qos import keyframe_history_qos
from anyrecon_ros.ros.qos import keyframe_qos
from anyrecon_ros.ros.qos import latched_qos
from anyrecon_ros.ros.qos import service_qos
from anyrecon_ros.ros.qos import status_qos

CAMERA = default_camera().scaled(96, 72)
VOXEL = 0.05


def scene_views(count=3, seed=2):
    scene = ProceduralScene(seed=seed)
    return [scene.capture_view(CAMERA, pose, view_id)
            for view_id, pose in enumerate(scene.camera_path(count))]


def keyframe_with(view, view_id=None, x=None, fx=None):
    msg = view_to_keyframe(view, 'map')
    if view_id is not None:
        msg.id = view_id
    if x is not None:
        msg.pose.position.x = x
    if fx is not None:
        msg.camera_info.k[0] = fx
    return msg


def test_the_memory_node_survives_huge_intrinsics_and_uses_the_full_id_range(ros):
    node = memory_node_here(ros, voxel_size=VOXEL)
    talker = ros.node('hostile')
    keyframes = talker.create_publisher(Keyframe, 'keyframe', keyframe_qos(100))
    generated = talker.create_publisher(GeneratedView, 'generated', keyframe_qos(100))
    assert ros.spin_until(lambda: keyframes.get_subscription_count() > 0
                          and generated.get_subscription_count() > 0)
    views = scene_views()
    keyframes.publish(keyframe_with(views[0], fx=1e300))
    view = views[1]
    frame = GeneratedFrame(segment_id=0, index=0, rgb=view.rgb,
                           mask=np.zeros(view.depth.shape, bool), camera=view.camera,
                           camera_to_world=view.camera_to_world, depth=view.depth)
    hostile = generated_frame_to_msg(frame, 'map')
    hostile.camera_info.k[0] = 1e300
    generated.publish(hostile)
    assert ros.spin_until(lambda: node.drops['bad_camera_info'] == 2, timeout=20)
    # Ids past 2**31 are keyframes like any other, up to the message's uint32 limit.
    for view_id, source in ((2 ** 31, views[0]), (2 ** 32 - 1, views[1])):
        keyframes.publish(keyframe_with(source, view_id=view_id))
    assert ros.spin_until(lambda: {2 ** 31, 2 ** 32 - 1} <= {
        view.view_id for view in node.session.bank.views()}, timeout=20)
    assert len(node.memory) > 0


def test_the_planner_refuses_a_keyframe_a_million_kilometres_away_and_still_plans(ros):
    views = scene_views()
    node, client = planner(ros, mode='interpolate', frames_between=2)
    far = keyframe_with(views[2], view_id=7, x=1e9)
    publish_inputs(ros, views=views[:2])
    talker = ros.node('far_away')
    keyframes = talker.create_publisher(Keyframe, 'keyframes', keyframe_history_qos())
    assert ros.spin_until(lambda: keyframes.get_subscription_count() > 0)
    keyframes.publish(far)
    assert ros.spin_until(lambda: node.drops['bad_pose'] == 1, timeout=20)
    response = call_plan(ros, client)
    assert response.success, response.message


def test_the_generator_worker_survives_bad_keyframes_and_long_paths(ros):
    generator, keyframe_pub, path_pub, generated, progress = wired_generator_node(ros)
    views = scene_views()
    assert ros.spin_until(lambda: keyframe_pub.get_subscription_count() > 0
                          and path_pub.get_subscription_count() > 0)
    keyframe_pub.publish(keyframe_with(views[0], view_id=1, x=1e5))
    keyframe_pub.publish(keyframe_with(views[0], view_id=2 ** 31))
    keyframe_pub.publish(keyframe_with(views[1], view_id=2 ** 31 + 1))
    assert ros.spin_until(lambda: len(generator.session.bank) == 2, timeout=20)
    assert generator.drops['bad_pose'] == 1
    start = generator_pose(keyframe_with(views[1]))
    path_pub.publish(poses_to_path(np.repeat(start[None], 100_000, axis=0), 'map'))
    assert ros.spin_until(lambda: generator.drops['bad_trajectory'] == 1, timeout=30)
    path_pub.publish(poses_to_path(np.repeat(start[None], 3, axis=0), 'map'))
    assert ros.spin_until(lambda: len(generated) == 3, timeout=60)
    assert ros.spin_until(lambda: progress[-1].stage == 'done', timeout=20)


def test_a_trajectory_being_generated_can_be_cancelled(ros):
    # The random model: slow enough to be cancelled mid-way.
    generator, keyframe_pub, path_pub, generated, progress = wired_generator_node(
        ros, checkpoint='untrained')
    views = scene_views()
    assert ros.spin_until(lambda: keyframe_pub.get_subscription_count() > 0)
    for view in views:
        keyframe_pub.publish(view_to_keyframe(view, 'map'))
    assert ros.spin_until(lambda: len(generator.session.bank) == 3, timeout=20)
    start = generator_pose(keyframe_with(views[2]))
    path_pub.publish(poses_to_path(np.repeat(start[None], 400, axis=0), 'map'))
    assert ros.spin_until(lambda: any(msg.stage == 'generate' for msg in progress), timeout=60)
    client = ros.node('canceller').create_client(Trigger, '/generator_node/cancel')
    assert ros.spin_until(client.service_is_ready)
    future = client.call_async(Trigger.Request())
    assert ros.spin_until(future.done, timeout=20) and future.result().success
    assert ros.spin_until(lambda: progress[-1].stage == 'failed', timeout=60)
    assert progress[-1].message == 'cancelled' and len(generated) < 400


def test_fifty_simultaneous_service_calls_are_all_answered(ros):
    memory_node_here(ros, voxel_size=VOXEL)
    caller = ros.node('crowd')
    clients = [caller.create_client(Trigger, '/memory_node/reset', qos_profile=service_qos())
               for _ in range(5)]
    assert ros.spin_until(lambda: all(client.service_is_ready() for client in clients))
    futures = [client.call_async(Trigger.Request()) for client in clients for _ in range(10)]
    assert ros.spin_until(lambda: all(future.done() for future in futures), timeout=60), \
        f'{sum(future.done() for future in futures)} of {len(futures)} calls answered'
    assert all(future.result().success for future in futures)


def set_parameter(ros, node_name, name, value):
    """Set a string parameter through the node's parameter service; return the result."""
    client = ros.node(f'setter_{len(ros.nodes)}').create_client(
        SetParameters, f'/{node_name}/set_parameters')
    assert ros.spin_until(client.service_is_ready)
    request = SetParameters.Request(parameters=[ParameterMsg(
        name=name, value=ParameterValue(type=ParameterType.PARAMETER_STRING,
                                        string_value=value))])
    future = client.call_async(request)
    assert ros.spin_until(future.done, timeout=20)
    return future.result().results[0]


def test_parameters_set_at_run_time_are_refused_not_ignored(ros, tmp_path):
    node = memory_node_here(ros, voxel_size=VOXEL)
    for name, value in (('pose_source', 'banana'), ('map_path', str(tmp_path / 'no' / 'map')),
                        ('frame_id', '')):
        result = set_parameter(ros, 'memory_node', name, value)
        assert not result.successful and 'read-only' in result.reason, (name, result.reason)
    assert node.get_parameter('pose_source').value == 'pose'


def test_the_generator_node_stops_cleanly_during_generation(ros):
    """SIGINT and SIGTERM in the middle of a denoising run end the process normally."""
    views = scene_views()
    talker = ros.node('stopper')
    keyframes = talker.create_publisher(Keyframe, '/keyframes', keyframe_history_qos())
    path = talker.create_publisher(Path, '/trajectory', latched_qos())
    progress = ros.collect(GenerationProgress, '/generator_node/progress', status_qos(),
                           node=talker)
    start = generator_pose(keyframe_with(views[2]))
    for stop in (signal.SIGINT, signal.SIGTERM):
        process = ros.start_process(
            '-m', 'anyrecon_ros.cli.main', 'node', 'generator_node', '--ros-args',
            *[item for name, value in {**SMALL_LOOP, 'checkpoint': 'untrained'}.items()
              for item in ('-p', f'{name}:={value}')])
        progress.clear()
        assert ros.spin_until(lambda: keyframes.get_subscription_count() > 0, timeout=90)
        for view in views:
            keyframes.publish(view_to_keyframe(view, 'map'))
        path.publish(poses_to_path(np.repeat(start[None], 400, axis=0), 'map'))
        assert ros.spin_until(lambda: any(msg.stage == 'generate' for msg in progress),
                              timeout=90)
        process.send_signal(stop)
        output = process.communicate(timeout=90)[0]
        assert process.returncode in (0, -stop), (stop, process.returncode, output[-2000:])
        assert 'terminate called' not in output, output[-2000:]
        assert ros.spin_until(lambda: keyframes.get_subscription_count() == 0, timeout=30)


def test_a_second_memory_node_on_the_same_map_is_refused(ros, tmp_path):
    map_path = str(tmp_path / 'shared.map')
    memory_node_here(ros, voxel_size=VOXEL, map_path=map_path)
    with pytest.raises(ValueError, match='open for writing elsewhere'):
        MemoryNode(context=ros.context, parameter_overrides=[
            Parameter('map_path', value=map_path)])
