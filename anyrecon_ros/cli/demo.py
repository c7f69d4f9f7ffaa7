# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``anyrecon demo``: the whole closed loop over real DDS, in one process.

The nodes ``demo.launch.py`` starts (synthetic camera, memory, planner,
generator) run here in one process on a multi-threaded executor, with the
same parameter files and remappings, and talk over DDS like separate
processes would. The demo lets the camera pass, asks the planner for a
coverage trajectory, waits for the generator to fill it in and the memory
node to fuse the generated views, saves the map, and writes its outputs
from the saved map (``loop/map_export.py``, as ``anyrecon map export``) with
a ``summary.json``. Everything it knows of the nodes comes from what they
publish (topics, ``~/status``, ``~/progress``) and from the map file.
"""

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
import importlib
from pathlib import Path
import sys
import threading
import time

import rclpy
from rclpy.executors import MultiThreadedExecutor
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile
from std_srvs.srv import Trigger

from anyrecon_ros.core.geometry_memory import GENERATED
from anyrecon_ros.core.map_store import MapStore
from anyrecon_ros.core.procedural_scene import ProceduralScene
from anyrecon_ros.loop.evaluation import accuracy
from anyrecon_ros.loop.evaluation import MAP_TOLERANCE
from anyrecon_ros.loop.map_export import export_ply
from anyrecon_ros.loop.map_export import read_map
from anyrecon_ros.loop.outputs import loop_summary
from anyrecon_ros.loop.outputs import ProgressPrinter
from anyrecon_ros.loop.outputs import write_generated_images
from anyrecon_ros.loop.outputs import write_loop_sheet
from anyrecon_ros.loop.outputs import write_summary
from anyrecon_ros.ros.conversions.path import path_to_poses
from anyrecon_ros.ros.graph import DEMO_NODES
from anyrecon_ros.ros.graph import remap_arguments
from anyrecon_ros.ros.middleware import config_path
from anyrecon_ros.ros.middleware import configure_dds_environment

PARAMETER_FILES = ('anyrecon.yaml', 'demo.yaml')
# The map file first, then SQLite's write-ahead log files beside it.
MAP_FILES = ('map.db', 'map.db-wal', 'map.db-shm')
# Module and class of each demo node, imported when the node starts.
NODE_CLASSES = {'synthetic_camera': ('synthetic_camera', 'SyntheticCamera'),
                'memory_node': ('memory_node', 'MemoryNode'),
                'planner_node': ('planner_node', 'PlannerNode'),
                'generator_node': ('generator_node', 'GeneratorNode')}
# Started after the others are spinning (see _run_nodes).
LATE_NODES = ('generator_node',)
# Drop reasons of the memory node that mean a generated view will never be fused.
GENERATED_VIEW_LOSSES = ('lost_generated', 'unknown_reference')


class DemoError(RuntimeError):
    """A stage of the demo did not finish."""


def node_arguments(node: str) -> list:
    """Return the ``--ros-args`` of ``node`` in the demo: parameter files and remaps."""
    arguments = ['--ros-args']
    for name in PARAMETER_FILES:
        arguments += ['--params-file', str(config_path(name))]
    return arguments + remap_arguments(node)


def _node_class(name: str):
    """Return the class of the demo node ``name``, importing its module only now."""
    module, cls = NODE_CLASSES[name]
    return getattr(importlib.import_module(f'anyrecon_ros.ros.{module}'), cls)


class GraphObserver:
    """What the demo knows of the running nodes, all of it from what they publish.

    Every topic the nodes publish is subscribed with its publisher's QoS and
    counted as received; the publishers' sequence numbers say how many were
    published, so a message lost on the way shows as received < published.
    The memory node's ``~/status``, the planner's ``~/trajectory`` and the
    generator's ``~/progress`` are kept as they arrive.
    """

    def __init__(self, watcher, node_names):
        self.watcher = watcher
        self.received = Counter()
        self._sequences = {}   # (topic, publisher gid) -> highest sequence number seen
        self.status = None
        self.trajectory = None
        self.progress = []
        self.show_progress = ProgressPrinter()
        self.watch(node_names)

    def watch(self, node_names):
        """Subscribe to every topic the nodes ``node_names`` publish that is not watched yet.

        Call it before those nodes publish: what they sent earlier is not counted.
        """
        for topic, types in self.watcher.get_topic_names_and_types():
            publishers = [info for info in self.watcher.get_publishers_info_by_topic(topic)
                          if info.node_name in node_names]
            if (publishers and topic not in self.received
                    and not topic.endswith(('/rosout', '/parameter_events'))):
                self._watch(topic, _message_class(types[0]), publishers[0].qos_profile)

    def published(self, topic: str) -> int:
        """Return how many messages the nodes published on ``topic``."""
        return sum(last for (name, _), last in self._sequences.items() if name == topic)

    def _watch(self, topic, msg_type, publisher_qos):
        qos = QoSProfile(depth=1000, reliability=publisher_qos.reliability,
                         durability=publisher_qos.durability)
        self.received[topic] = 0
        self.watcher.create_subscription(
            msg_type, topic, lambda msg, info, topic=topic: self._take(topic, msg, info), qos)

    def _take(self, topic, msg, info):
        self.received[topic] += 1
        key = (topic, bytes((info.get('publisher_gid') or {}).get('data', b'')))
        self._sequences[key] = max(self._sequences.get(key, 0),
                                   info.get('publication_sequence_number') or 0)
        if topic.endswith('memory_node/status'):
            self.status = msg
        elif topic.endswith('planner_node/trajectory'):
            self.trajectory = msg
        elif topic.endswith('generator_node/progress'):
            self.progress.append(msg)
            self.show_progress(msg)

    def drops(self) -> dict:
        """Return the memory node's drop counts by reason, as its last status says."""
        if self.status is None:
            return {}
        return dict(zip(self.status.drop_reasons, self.status.drop_counts))


def _message_class(type_name: str):
    """Return the class of a message type named like ``sensor_msgs/msg/Image``."""
    package, kind, name = type_name.split('/')
    return getattr(importlib.import_module(f'{package}.{kind}'), name)


def run_demo(out: Path, timeout: float = 600.0, scene: str = None) -> int:
    """Run the demo into ``out``; return 0 when every output is written."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    # A fresh map every run (with SQLite's write-ahead log files).
    for name in MAP_FILES:
        (out / name).unlink(missing_ok=True)
    configure_dds_environment()
    rclpy.init()
    nodes = {}
    try:
        return _run_nodes(out, nodes, timeout, scene)
    finally:
        for node in nodes.values():
            node.destroy_node()
        rclpy.try_shutdown()


def _run_nodes(out, nodes, timeout, scene) -> int:
    overrides = {'memory_node': {'map_path': str(out / MAP_FILES[0])},
                 'synthetic_camera': {'scene': scene} if scene else {}}

    def start(names):
        for name in names:
            # Overrides given to the constructor win over the parameter files' node
            # sections (a ``-p`` argument would not: rclpy files it under ``/**``).
            nodes[name] = _node_class(name)(
                cli_args=node_arguments(name),
                parameter_overrides=[Parameter(key, value=value)
                                     for key, value in overrides.get(name, {}).items()])
    # The generator (torch, diffusers, its weights: seconds to load) is not
    # needed until a trajectory is planned, so it loads in the background while
    # the camera passes; the demo waits for it before asking for a plan.
    first = [name for name in DEMO_NODES if name not in LATE_NODES]
    start(first)
    # The nodes share this process's DDS participant, so their topics are known
    # at once: the watcher subscribes before anything is published.
    watcher = nodes['anyrecon_demo'] = rclpy.create_node('anyrecon_demo')
    observed = GraphObserver(watcher, first)
    executor = MultiThreadedExecutor(num_threads=4)
    for node in nodes.values():
        executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()

    def start_late():
        start(LATE_NODES)
        # Before the executor spins them: nothing they publish goes uncounted.
        observed.watch(LATE_NODES)
        for name in LATE_NODES:
            executor.add_node(nodes[name])
    loader = ThreadPoolExecutor(max_workers=1, thread_name_prefix='demo_start')
    try:
        late = loader.submit(start_late)
        summary = _run(out, observed, time.monotonic() + timeout, late.result)
        summary.update(_generated_on_the_surface(nodes['synthetic_camera'], out))
    except DemoError as error:
        print(f'\nanyrecon demo: {error}', file=sys.stderr)
        return 1
    finally:
        loader.shutdown()   # waits for a start still under way: its nodes are then destroyed
        executor.shutdown()
    summary['topics'] = {topic: {'published': observed.published(topic), 'received': count}
                         for topic, count in sorted(observed.received.items())}
    write_summary(out / 'summary.json', summary)
    _report(out, summary)
    return 0


def _run(out, observed, deadline, late_nodes_started) -> dict:
    """Run the demo's stages; ``late_nodes_started()`` returns once the generator is up."""
    watcher = observed.watcher
    print('anyrecon demo: the camera passes through the scene ...', flush=True)
    _wait_until_settled(lambda: (observed.received['/image'], _status_figures(observed)),
                        deadline, started=lambda: observed.status is not None
                        and observed.status.keyframe_count > 0)
    _call(watcher, 'memory_node/save_map', deadline)
    with MapStore(out / MAP_FILES[0], read_only=True) as store:
        before = read_map(store)
    print(f'anyrecon demo: {len(before.bank)} keyframes, {len(before.memory)} memory points; '
          'planning ...', flush=True)
    late_nodes_started()
    _call(watcher, 'planner_node/plan', deadline)
    _wait(lambda: observed.trajectory is not None, deadline, 'no trajectory was published')
    poses = path_to_poses(observed.trajectory)
    progress = observed.progress
    _wait(lambda: progress and progress[-1].stage in ('done', 'failed'), deadline,
          'the generator did not finish the trajectory')
    if progress[-1].stage == 'failed':
        raise DemoError(f'generation failed: {progress[-1].message}')
    done = progress[-1]
    # Views the fusion gate rejected were never published: only the rest is fused.
    _wait_for_fusion(observed, done.generated_views - done.rejected_views, deadline)
    _call(watcher, 'memory_node/save_map', deadline)
    return _write_outputs(out, before, poses, done)


def _status_figures(observed):
    status = observed.status
    return None if status is None else (status.keyframe_count, status.captured_points)


def _wait_for_fusion(observed, views: int, deadline):
    """Wait until the memory node fused ``views`` generated views; fail at once on a loss."""
    def fused():
        lost = {reason: count for reason, count in observed.drops().items()
                if reason in GENERATED_VIEW_LOSSES and count}
        if lost:
            raise DemoError(f'the memory node lost generated views: {lost}')
        return observed.status.generated_view_count >= views
    _wait(fused, deadline, f'the memory node did not fuse all {views} generated views')


def _write_outputs(out, before, poses, done) -> dict:
    """Write the run's outputs from the saved map, as ``anyrecon map export`` reads it."""
    with MapStore(out / MAP_FILES[0], read_only=True) as store:
        after = read_map(store)
        export_ply(store, out / 'memory.ply')
    frames = after.generated
    camera = after.bank.views()[-1].camera
    write_generated_images(out, frames)
    write_loop_sheet(out / 'contact_sheet.png', before.memory, after.bank, frames, camera,
                     poses)
    return loop_summary(before.memory, after.memory, camera, poses, len(after.bank),
                        done.generator_trained, len(frames), done.rejected_views,
                        done.rejected_pixels)


def _generated_on_the_surface(camera_node, out) -> dict:
    """Return the share of generated points on the scene's surface, where its mesh is known.

    A procedural scene's mesh is the truth: this says whether the loop filled
    the map or damaged it (the coverage figures count wrong points too).
    """
    scene = getattr(camera_node.source, 'scene', None)
    if not isinstance(scene, ProceduralScene):
        return {}
    with MapStore(out / MAP_FILES[0], read_only=True) as store:
        memory = store.load_memory()
    generated = memory.positions[memory.origins == GENERATED]
    return {'generated_points': int(len(generated)),
            'generated_accuracy': accuracy(generated, scene.mesh()) if len(generated) else None}


def _call(watcher, service: str, deadline):
    client = watcher.create_client(Trigger, service)
    _wait(client.service_is_ready, deadline, f'service {service} did not appear')
    future = client.call_async(Trigger.Request())
    _wait(future.done, deadline, f'service {service} did not answer')
    if not future.result().success:
        raise DemoError(f'{service} failed: {future.result().message}')


def _wait(condition, deadline, failure: str):
    while not condition():
        if time.monotonic() > deadline:
            raise DemoError(f'timed out: {failure}')
        time.sleep(0.05)


def _wait_until_settled(state, deadline, started, quiet: float = 2.0):
    """Wait until ``started()`` and ``state()`` has not changed for ``quiet`` seconds."""
    _wait(started, deadline, 'the memory node reported no keyframe')
    last, since = state(), time.monotonic()
    while time.monotonic() - since < quiet:
        if time.monotonic() > deadline:
            raise DemoError('timed out waiting for the memory node to settle')
        time.sleep(0.1)
        current = state()
        if current != last:
            last, since = current, time.monotonic()


def _report(out, summary):
    print(f'anyrecon demo: {summary["keyframes"]} keyframes, {summary["generated_views"]} '
          f'generated views ({summary["rejected_views"]} rejected by the fusion gate, not '
          f'fused); memory {summary["memory_points_before_generation"]} -> '
          f'{summary["memory_points_after_generation"]} points, trajectory coverage '
          f'{summary["coverage_before"]:.2f} -> {summary["coverage_after"]:.2f}')
    if summary.get('generated_points'):
        print(f'anyrecon demo: {summary["generated_points"]} generated points, '
              f'{100 * summary["generated_accuracy"]:.0f} % within {100 * MAP_TOLERANCE:.0f} cm '
              "of the scene's surface")
    if not summary['generator_trained']:
        print('anyrecon demo: the generator is untrained (no checkpoint): its images are '
              'noise; the geometry comes from the memory renders and depth completion')
    print(f'anyrecon demo: wrote {out}/ (map.db, memory.ply, generated/, contact_sheet.png, '
          'summary.json)')
