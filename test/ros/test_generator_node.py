# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""generator_node over real DDS: keyframes and a path in, generated views out, fused back."""

import pathlib

from nav_msgs.msg import Path
import numpy as np
from rclpy.parameter import Parameter

from anyrecon_ros.core.procedural_scene import default_camera
from anyrecon_ros.core.procedural_scene import ProceduralScene
from anyrecon_ros.core.transforms import look_at
from anyrecon_ros.msg import GeneratedView
from anyrecon_ros.msg import GenerationProgress
from anyrecon_ros.msg import Keyframe
from anyrecon_ros.msg import MemoryStatus
from anyrecon_ros.ros.conversions import view_to_keyframe
from anyrecon_ros.ros.conversions.generated_view import generated_view_to_frame
from anyrecon_ros.ros.conversions.path import poses_to_path
from anyrecon_ros.ros.generator_node import GeneratorNode
from anyrecon_ros.ros.qos import keyframe_history_qos
from anyrecon_ros.ros.qos import keyframe_qos
from anyrecon_ros.ros.qos import latched_qos
from anyrecon_ros.ros.qos import status_qos

CAMERA = default_camera().scaled(160, 120)
# The classical fill as the generator: views the fusion gate accepts, fast.
# The paths turn into wide holes, which the default gate never fills
# (max_hole_half_width): opened here so generated geometry reaches the memory.
SMALL_LOOP = {'generation_width': 64, 'segment_length': 4, 'capture_views': 2,
              'voxel_size': 0.04, 'checkpoint': 'inpaint', 'max_hole_half_width': 1000.0}


def _keyframes(count=3):
    scene = ProceduralScene(seed=0)
    return [view_to_keyframe(scene.capture_view(CAMERA, pose, view_id), 'map')
            for view_id, pose in enumerate(scene.camera_path(count))]


def _turn(start_pose, frames):
    """Turn while stepping 10 cm a frame sideways: the fusion gate needs the baseline."""
    forward = start_pose[:3, 2]
    poses = []
    for frame, angle in enumerate(np.radians(np.linspace(0.0, 120.0, frames))):
        centre = start_pose[:3, 3] + 0.1 * frame * start_pose[:3, 0]
        direction = np.array([forward[0] * np.cos(angle) - forward[1] * np.sin(angle),
                              forward[0] * np.sin(angle) + forward[1] * np.cos(angle),
                              forward[2]])
        poses.append(look_at(centre, centre + direction))
    return np.array(poses)


def _generator_node(ros, **overrides):
    parameters = [Parameter(name, value=value)
                  for name, value in {**SMALL_LOOP, **overrides}.items()]
    node = GeneratorNode(context=ros.context, parameter_overrides=parameters)
    ros.executor.add_node(node)
    ros.nodes.append(node)
    return node


def wired_generator_node(ros, **overrides):
    """Return a generator node, publishers of keyframes and paths, and its outputs as lists.

    The node in this process; the publishers on a talker node; ``generated``
    and ``progress`` collect ``~/generated`` and ``~/progress``.
    """
    generator = _generator_node(ros, **overrides)
    talker = ros.node('talker')
    keyframe_pub = talker.create_publisher(Keyframe, 'keyframes', keyframe_history_qos())
    path_pub = talker.create_publisher(Path, 'trajectory', latched_qos())
    generated = ros.collect(GeneratedView, '/generator_node/generated', keyframe_qos())
    progress = ros.collect(GenerationProgress, '/generator_node/progress', status_qos(),
                           node=talker)
    return generator, keyframe_pub, path_pub, generated, progress


def test_generator_node_generates_along_a_path(ros):
    generator, keyframe_pub, path_pub, generated, progress = wired_generator_node(ros)
    keyframes = _keyframes()
    assert ros.spin_until(lambda: keyframe_pub.get_subscription_count() > 0)
    for msg in keyframes:
        keyframe_pub.publish(msg)
    # Keyframes go into the bank and the memory while the node is idle.
    assert ros.spin_until(lambda: len(generator.session.bank) == 3, timeout=20)
    assert len(generator.session.memory) > 0
    # A path in another frame is refused and counted; nothing is generated for it.
    poses = _turn(generator_pose(keyframes[-1]), 7)
    path_pub.publish(poses_to_path(poses, 'odom'))
    assert ros.spin_until(lambda: generator.drops.items(), timeout=10)
    assert dict(generator.drops.items()) == {'bad_trajectory': 1}
    path_pub.publish(poses_to_path(poses, 'map'))
    assert ros.spin_until(lambda: len(generated) == 7, timeout=60)

    frames = [generated_view_to_frame(msg) for msg in generated]
    assert [frame.index for frame in frames] == list(range(7))
    for frame, pose in zip(frames, poses):
        assert np.allclose(frame.camera_to_world, pose, atol=1e-6)
        assert frame.rgb.shape == (48, 64, 3) and frame.depth is not None
        assert set(frame.reference_ids) <= {0, 1, 2}
    assert ros.spin_until(lambda: progress and progress[-1].stage == 'done', timeout=10)
    assert progress[-1].generated_views == 7 and progress[-1].trajectory_id == 1
    assert any(msg.stage == 'generate' for msg in progress)
    assert progress[-1].rejected_views == 0
    assert generator.generated_count == 7


def test_keyframes_beyond_the_ram_budget_are_read_back_to_generate(ros):
    # Less than one 160x120 keyframe: every keyframe leaves RAM for the temporary store.
    generator, keyframe_pub, path_pub, generated, progress = wired_generator_node(
        ros, keyframe_ram_mib=0.1)
    keyframes = _keyframes()
    assert ros.spin_until(lambda: keyframe_pub.get_subscription_count() > 0)
    for msg in keyframes:
        keyframe_pub.publish(msg)
    assert ros.spin_until(lambda: len(generator.session.bank) == 3, timeout=20)
    bank = generator.session.bank
    assert bank.held_count == 0 and bank.held_bytes == 0
    folder = pathlib.Path(bank.store.path).parent
    assert folder.name.startswith('anyrecon_bank_') and folder.is_dir()
    path_pub.publish(poses_to_path(_turn(generator_pose(keyframes[-1]), 5), 'map'))
    assert ros.spin_until(lambda: len(generated) == 5, timeout=60)
    assert bank.reads > 0   # the capture views came back from the store
    assert ros.spin_until(lambda: progress and progress[-1].stage == 'done', timeout=10)
    assert not generator.drops.items()
    # Shutting the node down deletes the temporary store.
    ros.nodes.remove(generator)
    ros.executor.remove_node(generator)
    generator.destroy_node()
    assert not folder.exists()


def test_a_path_sent_before_any_keyframe_waits_for_one(ros):
    generator, keyframe_pub, path_pub, generated, progress = wired_generator_node(ros)
    keyframes = _keyframes()
    assert ros.spin_until(lambda: path_pub.get_subscription_count() > 0
                          and keyframe_pub.get_subscription_count() > 0)
    path_pub.publish(poses_to_path(_turn(generator_pose(keyframes[-1]), 3), 'map'))
    assert ros.spin_until(lambda: progress and progress[-1].stage == 'waiting', timeout=10)
    assert not generated and not generator.drops.items()
    for msg in keyframes:
        keyframe_pub.publish(msg)
    assert ros.spin_until(lambda: progress[-1].stage == 'done', timeout=60)
    assert progress[-1].trajectory_id == 1 and progress[-1].generated_views == 3
    # It ran on the first keyframe alone: views the fusion gate could not
    # check against a render are counted, not published.
    assert ros.spin_until(lambda: len(generated) == 3 - progress[-1].rejected_views,
                          timeout=10)


def generator_pose(keyframe):
    """Return the camera-to-world matrix of a Keyframe message."""
    from anyrecon_ros.ros.conversions import keyframe_to_view
    return keyframe_to_view(keyframe).camera_to_world


def test_memory_and_generator_nodes_close_the_loop_across_processes(ros):
    memory = ros.start_process(
        '-m', 'anyrecon_ros.cli.main', 'node', 'memory_node', '--ros-args',
        '-p', 'voxel_size:=0.04', '-p', 'status_period:=0.2',
        '-r', 'generated:=/generator_node/generated')
    generator = ros.start_process(
        '-m', 'anyrecon_ros.cli.main', 'node', 'generator_node', '--ros-args',
        *[item for name, value in SMALL_LOOP.items() for item in ('-p', f'{name}:={value}')],
        '-r', 'keyframes:=/memory_node/keyframes')
    talker = ros.node('talker')
    keyframe_pub = talker.create_publisher(Keyframe, '/keyframe', keyframe_qos())
    path_pub = talker.create_publisher(Path, '/trajectory', latched_qos())
    statuses = ros.collect(MemoryStatus, '/memory_node/status', status_qos(), node=talker)
    generated = ros.collect(GeneratedView, '/generator_node/generated', keyframe_qos(),
                            node=talker)
    keyframes = _keyframes()
    # Both nodes are up once the memory node listens for keyframes and the
    # generator node echoes its own subscription to them.
    assert ros.spin_until(lambda: keyframe_pub.get_subscription_count() > 0
                          and talker.count_subscribers('/memory_node/keyframes') > 0
                          and talker.count_publishers('/generator_node/generated') > 0,
                          timeout=60), _output(memory, generator)
    for msg in keyframes:
        keyframe_pub.publish(msg)
    assert ros.spin_until(lambda: statuses and statuses[-1].keyframe_count == 3,
                          timeout=30), _output(memory, generator)
    captured = statuses[-1].captured_points
    assert captured > 0 and statuses[-1].generated_points == 0
    progress = ros.collect(GenerationProgress, '/generator_node/progress', status_qos(),
                           node=talker)
    # The path may reach the generator before the memory node's keyframes do:
    # it then runs on the first keyframe alone, and the fusion gate may refuse
    # views it cannot check. A second run has all three.
    published = 0
    for trajectory in (1, 2):
        path_pub.publish(poses_to_path(_turn(generator_pose(keyframes[-1]), 6), 'map'))
        assert ros.spin_until(lambda: progress and progress[-1].trajectory_id == trajectory
                              and progress[-1].stage == 'done', timeout=90), \
            _output(memory, generator)
        # Every view the gate passed is published, and only those.
        published += progress[-1].generated_views - progress[-1].rejected_views
        assert ros.spin_until(lambda: len(generated) == published, timeout=20)
        if ros.spin_until(lambda: statuses[-1].generated_points > 0, timeout=5):
            break
    assert statuses[-1].generated_points > 0, _output(memory, generator)
    # Generated geometry went in beside the captured points, which stay.
    assert statuses[-1].captured_points >= captured
    # Procedural keyframes match the memory's renders: the render check keeps its bar.
    assert 'render check at 28.0 dB' in _output(generator)


def _output(*processes):
    """Stop the processes and return what they printed, for a failure message."""
    text = []
    for process in processes:
        if process.poll() is None:
            process.terminate()
        try:
            output, _ = process.communicate(timeout=20)
        except Exception as error:  # noqa: B902  (a diagnostic only)
            output = f'(no output: {error})'
        text.append(output[-4000:])
    return '\n----\n'.join(text)
