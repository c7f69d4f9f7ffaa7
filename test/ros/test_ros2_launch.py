# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The package as users start and inspect it: ros2 launch, ros2 run, ros2 param, ros2 topic.

Every test runs the real ``ros2`` command (ros2cli, launch_ros: a ROS 2
distro's, or the venv's from ``../shared/ros2_python``) and watches the
nodes over DDS. ``ros2 launch`` finds this checkout's launch files,
parameter files and node executables in an ament prefix made for the module
(``checkout_prefix``: the share and lib folders an install has, pointing at
the checkout), so a launch file that names a wrong executable, parameter file
or remapping fails here; ``ros2 run`` and ``ros2 pkg`` use the installed
prefix (the venv, or a colcon install) as a user's shell would.
"""

import os
from pathlib import Path
import shutil
import signal
import subprocess
import sys
import threading

from builtin_interfaces.msg import Time
from nav_msgs.msg import Odometry
import pytest
from rcl_interfaces.srv import GetParameters
from rcl_interfaces.srv import ListParameters
import rclpy
from rclpy.parameter import parameter_value_to_python
from ros_packages import ros2_command
from sensor_msgs.msg import CameraInfo
from sensor_msgs.msg import Image
from std_msgs.msg import Header
from std_srvs.srv import Trigger
from test_parameters import declared_by_every_node   # this folder's test module
import yaml

from anyrecon_ros.core.procedural_scene import default_camera
from anyrecon_ros.core.procedural_scene import ProceduralScene
from anyrecon_ros.msg import Keyframe
from anyrecon_ros.msg import MemoryStatus
from anyrecon_ros.ros.conversions.camera_info import camera_to_camera_info
from anyrecon_ros.ros.conversions.image import array_to_image
from anyrecon_ros.ros.conversions.pose import matrix_to_pose
from anyrecon_ros.ros.graph import LOOP_NODES
from anyrecon_ros.ros.graph import REMAPPINGS
from anyrecon_ros.ros.nodes import NODES
from anyrecon_ros.ros.qos import keyframe_history_qos
from anyrecon_ros.ros.qos import sensor_qos
from anyrecon_ros.ros.qos import status_qos

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = 'anyrecon_ros'
ALL_NODES = '/**'
DEMO_FILES = ('anyrecon.yaml', 'demo.yaml')
# Nodes import torch, open3d and the generator's weights on start-up: on the
# 2-core reference machine the slowest is ready about 15 s after launch.
START_TIMEOUT = 120.0
NAMESPACE = '/robot1'
# The camera the namespaced test publishes as: small, so stereo depth is quick.
SMALL_CAMERA = default_camera().scaled(160, 120)
TYPE_NAMES = {bool: 'boolean', int: 'integer', float: 'double', str: 'string'}
RVIZ_RELIABILITY = {'RELIABLE': 'Reliable', 'BEST_EFFORT': 'Best Effort'}
RVIZ_DURABILITY = {'TRANSIENT_LOCAL': 'Transient Local', 'VOLATILE': 'Volatile'}


# --- running ros2 commands ----------------------------------------------------------------------

def _default_sigint():
    # A shell that starts the tests in the background ignores SIGINT in them;
    # ros2 launch then would not see the Ctrl-C that stops it cleanly.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Ros2:
    """A ``ros2`` command a test started, its output collected while it runs."""

    def __init__(self, *args, env=None, cwd=None):
        self.args = [ros2_command(), *args]
        self.process = subprocess.Popen(
            self.args, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, preexec_fn=_default_sigint, start_new_session=True)
        self.lines = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        """Return everything the command printed so far."""
        return ''.join(self.lines)

    def check_running(self):
        """Fail, with the output, if the command or a process it launched has ended."""
        if self.process.poll() is not None or 'process has died' in self.output:
            pytest.fail(f'{" ".join(self.args[1:])} ended (exit code '
                        f'{self.process.poll()}):\n{self.output[-6000:]}')

    def stop(self, timeout=60.0, whole_group=False) -> int:
        """Stop it with SIGINT; kill what is left after ``timeout``.

        ``ros2 launch`` passes the signal on to what it launched; ``ros2 run``
        expects its node to get it too (``whole_group``), as a terminal's
        Ctrl-C sends it to every process of the foreground group.
        """
        if self.process.poll() is None:
            if whole_group:
                os.killpg(self.process.pid, signal.SIGINT)
            else:
                self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self._reader.join(10)
        return self.process.returncode


def run_ros2(*commands, timeout=120.0) -> list:
    """Run ``ros2`` commands side by side to their end; return their outputs.

    Each one (``--no-daemon``) waits for discovery on its own, so they share
    that wait. A command that fails fails the test, with its output.
    """
    processes = [subprocess.Popen([ros2_command(), *args], stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True) for args in commands]
    outputs = [process.communicate(timeout=timeout)[0] for process in processes]
    for args, process, output in zip(commands, processes, outputs):
        assert process.returncode == 0, f'ros2 {" ".join(args)}:\n{output}'
    return outputs


@pytest.fixture(scope='module')
def checkout_prefix(tmp_path_factory):
    """Return an ament prefix holding this checkout as an install holds the package.

    ``share/anyrecon_ros/{launch,config}`` are the checkout's folders and
    ``lib/anyrecon_ros`` has an executable per node of ``NODES``, as
    CMakeLists.txt installs them.
    """
    prefix = tmp_path_factory.mktemp('ament_prefix')
    index = prefix / 'share' / 'ament_index' / 'resource_index' / 'packages'
    index.mkdir(parents=True)
    (index / PACKAGE).touch()
    share = prefix / 'share' / PACKAGE
    share.mkdir()
    # Copies: ros2 launch looks for the file in the share folder without following links.
    for name in ('launch', 'config'):
        shutil.copytree(ROOT / name, share / name)
    shutil.copy2(ROOT / 'package.xml', share)
    executables = prefix / 'lib' / PACKAGE
    executables.mkdir(parents=True)
    for node in NODES:
        script = executables / node
        script.write_text(f'#!{sys.executable}\nimport sys\nfrom anyrecon_ros.ros.{node} '
                          'import main\nsys.exit(main())\n')
        script.chmod(0o755)
    return prefix


def checkout_environment(prefix: Path) -> dict:
    """Return this environment with ``prefix`` and the checkout's sources first."""
    env = dict(os.environ)
    for name, entry in (('AMENT_PREFIX_PATH', prefix), ('PYTHONPATH', ROOT)):
        env[name] = os.pathsep.join([str(entry)] + [p for p in env.get(name, '').split(os.pathsep)
                                                    if p])
    env['PYTHONUNBUFFERED'] = '1'
    return env


def launch(prefix, tmp_path, launch_file, *arguments) -> Ros2:
    """Start ``ros2 launch anyrecon_ros launch_file arguments...`` from the checkout."""
    return Ros2('launch', PACKAGE, launch_file, *arguments, env=checkout_environment(prefix),
                cwd=tmp_path)


# --- watching the nodes -------------------------------------------------------------------------

def wait_for_nodes(ros, launched, names, namespace='/'):
    """Wait until every node of ``names`` is in the graph in ``namespace``."""
    observer = ros.node('graph_observer')

    def all_there():
        launched.check_running()
        return set(names) <= {name for name, space in observer.get_node_names_and_namespaces()
                              if space == namespace}
    assert ros.spin_until(all_there, START_TIMEOUT), (
        f'nodes {names} did not appear in {namespace}:\n{launched.output[-6000:]}')
    return observer


def node_parameters(ros, launched, node: str) -> dict:
    """Return every parameter of the running ``node`` (a full name) and its value."""
    reader = ros.node(f'parameter_reader_{len(ros.nodes)}')
    clients = [reader.create_client(service, f'{node}/{name}')
               for service, name in ((ListParameters, 'list_parameters'),
                                     (GetParameters, 'get_parameters'))]

    def ready():
        launched.check_running()
        return all(client.service_is_ready() for client in clients)
    assert ros.spin_until(ready, START_TIMEOUT), f'{node} serves no parameters'
    listed = call(ros, clients[0], ListParameters.Request()).result.names
    values = call(ros, clients[1], GetParameters.Request(names=listed)).values
    return {name: parameter_value_to_python(value) for name, value in zip(listed, values)}


def call(ros, client, request):
    future = client.call_async(request)
    assert ros.spin_until(future.done, 30.0), f'no answer from {client.srv_name}'
    return future.result()


def assert_parameters(actual: dict, node: str, files, overrides=None):
    """Check a running node's parameters against what its parameter files give it.

    ``files`` are read in order, each node's own section over ``/**``, then
    ``overrides`` (launch arguments). ``/**`` may hold parameters a node does
    not declare; its own section may not.
    """
    expected, own = {}, set()
    for name in files:
        config = yaml.safe_load((ROOT / 'config' / name).read_text())
        expected.update(config.get(ALL_NODES, {}).get('ros__parameters', {}))
        section = config.get(node, {}).get('ros__parameters', {})
        expected.update(section)
        own |= set(section)
    expected.update(overrides or {})
    undeclared = own - set(actual)
    assert not undeclared, f'{node} does not declare {sorted(undeclared)}'
    wrong = {name: {'running': actual[name], 'given': value}
             for name, value in expected.items() if name in actual and actual[name] != value}
    assert not wrong, f'{node}: {wrong}'


def latest_status(ros, namespace=''):
    """Subscribe to the memory node's ``~/status``; return the list statuses arrive in."""
    return ros.collect(MemoryStatus, f'{namespace}/memory_node/status', status_qos())


def status_summary(statuses) -> dict:
    """Return the counters of the latest status, for a failure message."""
    if not statuses:
        return {}
    status = statuses[-1]
    return {'images_received': status.images_received, 'frames_paired': status.frames_paired,
            'frames_waiting': status.frames_waiting, 'keyframes': status.keyframe_count,
            'drops': dict(zip(status.drop_reasons, status.drop_counts))}


def call_trigger(ros, service: str):
    """Call a std_srvs/Trigger service; fail unless it succeeds."""
    client = ros.node('caller').create_client(Trigger, service)
    assert ros.spin_until(client.service_is_ready, 30.0), f'no service {service}'
    response = call(ros, client, Trigger.Request())
    assert response.success, response.message


def parse_describe(text: str) -> dict:
    """Return ``ros2 param describe``'s output as ``{parameter: {field: text}}``."""
    described, current = {}, None
    for line in text.splitlines():
        if line.startswith('Parameter name: '):
            current = described.setdefault(line.split(': ', 1)[1], {})
        elif ': ' in line and current is not None:
            field, value = line.strip().split(': ', 1)
            current[field] = value
    return described


def parse_publishers(text: str) -> dict:
    """Return the publishers ``ros2 topic info -v`` lists: ``{node: {field: text}}``."""
    publishers = {}
    for block in text.split('\n\n'):
        fields = dict(line.strip().split(': ', 1) for line in block.splitlines()
                      if ': ' in line)
        if fields.get('Endpoint type') == 'PUBLISHER':
            publishers[fields['Node name']] = fields
    return publishers


# --- demo.launch.py -----------------------------------------------------------------------------

@pytest.fixture(scope='class')
def demo(checkout_prefix, tmp_path_factory):
    """Yield ``ros2 launch anyrecon_ros demo.launch.py``, running for one test class."""
    launched = launch(checkout_prefix, tmp_path_factory.mktemp('demo'), 'demo.launch.py')
    yield launched
    launched.stop()


class TestDemoLaunch:
    """``ros2 launch anyrecon_ros demo.launch.py``: the camera, the loop, the fused views."""

    def test_nodes_start_with_the_parameter_files(self, ros, demo):
        wait_for_nodes(ros, demo, NODES)
        for node in NODES:
            assert_parameters(node_parameters(ros, demo, f'/{node}'), node, DEMO_FILES)

    def test_param_describe_shows_what_each_node_declares(self, ros, demo):
        wait_for_nodes(ros, demo, NODES)
        declared_by_node = declared_by_every_node()
        outputs = run_ros2(*[('param', 'describe', '--no-daemon', '--timeout', '30', f'/{node}',
                              *declared) for node, declared in declared_by_node.items()])
        for (node, declared), output in zip(declared_by_node.items(), outputs):
            described = parse_describe(output)
            assert set(described) == set(declared), node
            for name, (value, value_range, description) in declared.items():
                shown = described[name]
                assert shown['Type'] == TYPE_NAMES[type(value)], (node, name)
                assert shown['Description'] == description, (node, name)
                assert shown['Read only'] == 'true', (node, name)
                shown_range = (shown.get('Min value'), shown.get('Max value'))
                if value_range is None:
                    assert shown_range == (None, None), (node, name)
                else:
                    assert tuple(map(float, shown_range)) == tuple(map(float, value_range)), (
                        node, name)

    def test_topic_qos_is_what_rviz_subscribes_with(self, ros, demo):
        wait_for_nodes(ros, demo, NODES)
        rviz = yaml.safe_load((ROOT / 'config' / 'anyrecon.rviz').read_text())
        displays = [display['Topic'] for display in rviz['Visualization Manager']['Displays']
                    if 'Topic' in display]
        assert len(displays) == 4
        outputs = run_ros2(*[('topic', 'info', '-v', '--no-daemon', '--spin-time', '5',
                              display['Value']) for display in displays])
        for display, output in zip(displays, outputs):
            topic = display['Value']
            publishers = parse_publishers(output)
            # The node named in the topic publishes it, and nothing else does.
            assert list(publishers) == [topic.split('/')[1]], (topic, publishers)
            qos = next(iter(publishers.values()))
            assert RVIZ_RELIABILITY[qos['Reliability']] == display['Reliability Policy'], topic
            assert RVIZ_DURABILITY[qos['Durability']] == display['Durability Policy'], topic

    def test_the_loop_closes(self, ros, demo):
        """The camera's frames become keyframes, the planner's views are generated and fused."""
        statuses = latest_status(ros)
        frames = yaml.safe_load((ROOT / 'config' / 'demo.yaml').read_text())[
            'synthetic_camera']['ros__parameters']['frames']

        def camera_passed():
            demo.check_running()
            return statuses and statuses[-1].images_received == frames and (
                statuses[-1].keyframe_count > 0)
        assert ros.spin_until(camera_passed, START_TIMEOUT), demo.output[-6000:]
        captured = statuses[-1].captured_points
        call_trigger(ros, '/planner_node/plan')

        def fused():
            demo.check_running()
            return statuses[-1].generated_view_count > 0
        assert ros.spin_until(fused, 240.0), demo.output[-6000:]
        assert statuses[-1].generated_points > 0
        assert statuses[-1].captured_points == captured

    def test_ctrl_c_stops_every_node_cleanly(self, demo):
        demo.stop()
        assert 'process has died' not in demo.output, demo.output[-6000:]
        for node in NODES:
            assert f'[{node}-' in demo.output, node
        assert demo.output.count('process has finished cleanly') == len(NODES), \
            demo.output[-6000:]


class NamespacedCamera:
    """Publishes image, camera_info and odometry in a namespace, as a robot's drivers do."""

    def __init__(self, ros, namespace):
        self.node = rclpy.create_node('camera_driver', namespace=namespace, context=ros.context)
        ros.executor.add_node(self.node)
        ros.nodes.append(self.node)
        qos = sensor_qos(reliable=True)
        self.image = self.node.create_publisher(Image, 'image', qos)
        self.info = self.node.create_publisher(CameraInfo, 'camera_info', qos)
        self.odometry = self.node.create_publisher(Odometry, 'odom', qos)

    def connected(self):
        return min(publisher.get_subscription_count()
                   for publisher in (self.image, self.info, self.odometry)) > 0

    def publish_frame(self, view, stamp_ns):
        header = Header(stamp=stamp(stamp_ns), frame_id='camera_optical')
        self.image.publish(array_to_image(view.rgb, 'rgb8', header))
        self.info.publish(camera_to_camera_info(view.camera, header))

    def publish_odometry(self, camera_to_world, stamp_ns):
        msg = Odometry(header=Header(stamp=stamp(stamp_ns), frame_id='map'),
                       child_frame_id='camera_optical')
        msg.pose.pose = matrix_to_pose(camera_to_world)
        self.odometry.publish(msg)


def stamp(stamp_ns):
    return Time(sec=stamp_ns // 10**9, nanosec=stamp_ns % 10**9)


# --- anyrecon.launch.py in a namespace, odometry and no depth camera ----------------------------

@pytest.fixture(scope='class')
def loop(checkout_prefix, tmp_path_factory):
    """Yield the namespaced ``anyrecon.launch.py``, running for one test class."""
    launched = launch(checkout_prefix, tmp_path_factory.mktemp('loop'), 'anyrecon.launch.py',
                      f'namespace:={NAMESPACE[1:]}', 'pose_source:=odom', 'use_depth:=false')
    yield launched
    launched.stop()


class TestNamespacedLaunch:
    """``anyrecon.launch.py namespace:=robot1 pose_source:=odom use_depth:=false``."""

    def test_launch_arguments_set_the_parameters(self, ros, loop):
        wait_for_nodes(ros, loop, LOOP_NODES, NAMESPACE)
        for node in LOOP_NODES:
            arguments = {'pose_source': 'odom', 'use_depth': False} if node == 'memory_node' \
                else {}
            assert_parameters(node_parameters(ros, loop, f'{NAMESPACE}/{node}'), node,
                              ['anyrecon.yaml'], arguments)

    def test_remappings_hold_in_the_namespace(self, ros, loop):
        observer = wait_for_nodes(ros, loop, LOOP_NODES, NAMESPACE)

        def topics_of(node):
            return {name for name, _ in observer.get_subscriber_names_and_types_by_node(
                node, NAMESPACE)} | {name for name, _ in
                                     observer.get_publisher_names_and_types_by_node(
                                         node, NAMESPACE)}
        # pose_source odom and use_depth false: odometry, and no pose or depth subscription.
        memory_inputs = {f'{NAMESPACE}/{name}' for name in ('image', 'camera_info', 'odom')}
        expected = {node: {f'{NAMESPACE}/{target}' for _, target in REMAPPINGS[node]}
                    for node in LOOP_NODES}
        expected['memory_node'] |= memory_inputs
        # Topics and their endpoints are discovered after the nodes themselves.
        ros.spin_until(lambda: all(topics <= topics_of(node) for node, topics in
                                   expected.items()), 30.0)
        for node in LOOP_NODES:
            topics = topics_of(node)
            assert expected[node] <= topics, (node, expected[node] - topics)
            for source, _ in REMAPPINGS[node]:
                assert f'{NAMESPACE}/{source}' not in topics, (node, source)
        assert not {f'{NAMESPACE}/pose', f'{NAMESPACE}/depth'} & topics_of('memory_node')

    def test_camera_and_odometry_make_keyframes(self, ros, loop):
        """Images, camera_info and odometry in the namespace, no depth: stereo keyframes."""
        wait_for_nodes(ros, loop, LOOP_NODES, NAMESPACE)
        statuses = latest_status(ros, NAMESPACE)
        keyframes = ros.collect(Keyframe, f'{NAMESPACE}/memory_node/keyframes',
                                keyframe_history_qos())
        camera = NamespacedCamera(ros, NAMESPACE)
        assert ros.spin_until(lambda: loop.check_running() or camera.connected(), 60.0)
        scene = ProceduralScene(seed=0)
        # Neighbours on the loop are 17 cm and 10 degrees apart: each is a keyframe.
        poses = scene.camera_path(36)[:3]
        for index, pose in enumerate(poses):
            stamp_ns = (index + 1) * 100_000_000
            view = scene.capture_view(SMALL_CAMERA, pose, index)
            # The node's best-effort subscriptions drop what comes before they
            # have matched this publisher (seen from here, it matched them):
            # an unpaired frame is sent again, with the same stamps.
            for _ in range(3):
                # Odometry before and after the frame: the node interpolates between them.
                camera.publish_odometry(pose, stamp_ns - 5_000_000)
                camera.publish_frame(view, stamp_ns)
                camera.publish_odometry(pose, stamp_ns + 5_000_000)
                if ros.spin_until(lambda: statuses and statuses[-1].frames_paired > index, 10.0):
                    break
            assert statuses and statuses[-1].frames_paired == index + 1, (
                index, status_summary(statuses), loop.output[-4000:])
        assert ros.spin_until(lambda: len(keyframes) == len(poses), 30.0)
        assert statuses[-1].keyframe_count == len(poses)
        # The first keyframe had nothing to match; the others got depth by stereo.
        assert [keyframe.has_depth for keyframe in keyframes] == [False, True, True]
        assert ros.spin_until(lambda: statuses[-1].captured_points > 0, 10.0)

    def test_ctrl_c_stops_every_node_cleanly(self, loop):
        loop.stop()
        assert loop.output.count('process has finished cleanly') == len(LOOP_NODES), \
            loop.output[-6000:]


# --- ros2 run and ros2 pkg: the installed package ------------------------------------------------

def test_ros2_pkg_lists_the_node_executables():
    listed = run_ros2(('pkg', 'executables', PACKAGE))[0].split()
    assert listed == [word for node in sorted(NODES) for word in (PACKAGE, node)]


def test_ros2_run_memory_node(ros):
    statuses = latest_status(ros, '/ros2_run')
    running = Ros2('run', PACKAGE, 'memory_node', '--ros-args', '-r', '__ns:=/ros2_run',
                   '-p', 'use_depth:=false', '-p', 'status_period:=0.2')
    try:
        def status_arrived():
            running.check_running()
            return bool(statuses)
        assert ros.spin_until(status_arrived, START_TIMEOUT), running.output
        assert node_parameters(ros, running, '/ros2_run/memory_node')['use_depth'] is False
        assert statuses[-1].keyframe_count == 0
    finally:
        returncode = running.stop(whole_group=True)
    assert returncode == 0 and 'Traceback' not in running.output, running.output
    assert 'memory_node: pose from pose, depth by stereo' in running.output
