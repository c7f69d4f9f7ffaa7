# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``anyrecon demo``: the whole closed loop over real DDS, in one process.

The nodes ``demo.launch.py`` starts (synthetic camera, memory, planner,
generator) run here in one process on a multi-threaded executor, with the
same parameter files and remappings, and talk over DDS like separate
processes would. The demo lets the camera pass, asks the planner for a
coverage trajectory, waits for the generator to fill it in and the memory
node to fuse the generated views, saves the map, and writes its outputs
(see ``anyrecon_ros/outputs.py``) with a ``summary.json``.
"""

from collections import Counter
from pathlib import Path
import sys
import threading
import time

import rclpy
from rclpy.executors import MultiThreadedExecutor
from std_srvs.srv import Trigger

from anyrecon_ros.core.geometry_memory import GeometryMemory
from anyrecon_ros.loop.outputs import loop_summary
from anyrecon_ros.loop.outputs import ProgressPrinter
from anyrecon_ros.loop.outputs import write_generated_images
from anyrecon_ros.loop.outputs import write_loop_sheet
from anyrecon_ros.loop.outputs import write_memory
from anyrecon_ros.loop.outputs import write_summary
from anyrecon_ros.msg import GenerationProgress
from anyrecon_ros.ros.graph import DEMO_NODES
from anyrecon_ros.ros.graph import remap_arguments
from anyrecon_ros.ros.middleware import config_path
from anyrecon_ros.ros.middleware import configure_dds_environment
from anyrecon_ros.ros.qos import status_qos

PARAMETER_FILES = ('anyrecon.yaml', 'demo.yaml')


class DemoError(RuntimeError):
    """A stage of the demo did not finish."""


def node_arguments(node: str, overrides: dict = None) -> list:
    """Return the ``--ros-args`` of ``node`` in the demo: parameter files, remaps, overrides."""
    arguments = ['--ros-args']
    for name in PARAMETER_FILES:
        arguments += ['--params-file', str(config_path(name))]
    arguments += remap_arguments(node)
    for name, value in (overrides or {}).items():
        arguments += ['-p', f'{name}:={value}']
    return arguments


def _node_classes() -> dict:
    from anyrecon_ros.ros.generator_node import GeneratorNode
    from anyrecon_ros.ros.memory_node import MemoryNode
    from anyrecon_ros.ros.planner_node import PlannerNode
    from anyrecon_ros.ros.synthetic_camera import SyntheticCamera
    return {'synthetic_camera': SyntheticCamera, 'memory_node': MemoryNode,
            'planner_node': PlannerNode, 'generator_node': GeneratorNode}


class TopicCounter:
    """Count what each node publishes, per topic (wraps the publishers' ``publish``)."""

    def __init__(self, nodes):
        self.counts = Counter()
        for node in nodes:
            for publisher in node.publishers:
                self._wrap(publisher)

    def _wrap(self, publisher):
        topic, publish = publisher.topic_name, publisher.publish

        def counted(msg):
            publish(msg)
            self.counts[topic] += 1
        publisher.publish = counted


def run_demo(out: Path, timeout: float = 600.0, scene: str = None) -> int:
    """Run the demo into ``out``; return 0 when every output is written."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    # A fresh map every run (with SQLite's write-ahead log files).
    for name in ('map.db', 'map.db-wal', 'map.db-shm'):
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
    overrides = {'memory_node': {'map_path': str(out / 'map.db')},
                 'synthetic_camera': {'scene': scene} if scene else {}}
    classes = _node_classes()
    for name in DEMO_NODES:
        nodes[name] = classes[name](cli_args=node_arguments(name, overrides.get(name)))
    watcher = nodes['anyrecon_demo'] = rclpy.create_node('anyrecon_demo')
    received = Counter()
    progress = []
    _watch_topics(watcher, nodes, received)
    show = ProgressPrinter()
    watcher.create_subscription(GenerationProgress, 'generator_node/progress',
                                lambda msg: (progress.append(msg), show(msg)), status_qos())
    sent = TopicCounter(nodes.values())
    executor = MultiThreadedExecutor(num_threads=4)
    for node in nodes.values():
        executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    try:
        summary = _run(out, nodes, watcher, progress, time.monotonic() + timeout)
    except DemoError as error:
        print(f'\nanyrecon demo: {error}', file=sys.stderr)
        return 1
    finally:
        executor.shutdown()
    summary['topics'] = {topic: {'published': sent.counts[topic], 'received': received[topic]}
                         for topic in sorted(set(sent.counts) | set(received))}
    write_summary(out / 'summary.json', summary)
    _report(out, summary)
    return 0


def _run(out, nodes, watcher, progress, deadline) -> dict:
    camera_node, memory_node = nodes['synthetic_camera'], nodes['memory_node']
    planner, generator = nodes['planner_node'], nodes['generator_node']
    print('anyrecon demo: the camera passes through the scene ...', flush=True)
    _wait(lambda: camera_node.finished, deadline, 'the synthetic camera did not finish')
    _wait_until_settled(lambda: (len(memory_node.bank), len(memory_node.memory)), deadline)
    before = GeometryMemory.from_state_dict(memory_node.memory.state_dict())
    keyframes = len(memory_node.bank)
    print(f'anyrecon demo: {keyframes} keyframes, {len(before)} memory points; planning ...',
          flush=True)
    _call(watcher, 'planner_node/plan', deadline)
    poses = planner.last_trajectory.poses
    camera = memory_node.bank.views()[-1].camera
    _wait(lambda: progress and progress[-1].stage in ('done', 'failed'), deadline,
          'the generator did not finish the trajectory')
    if progress[-1].stage == 'failed':
        raise DemoError(f'generation failed: {progress[-1].message}')
    views = progress[-1].generated_views
    _wait(lambda: memory_node.generated_views_fused >= views, deadline,
          'the memory node did not fuse every generated view')
    _call(watcher, 'memory_node/save_map', deadline)
    frames = generator.last_frames
    write_generated_images(out, frames)
    write_memory(out, memory_node.memory)
    write_loop_sheet(out / 'contact_sheet.png', before, memory_node.bank, frames)
    return loop_summary(before, memory_node.memory, camera, poses, keyframes, frames,
                        generator.generator.trained)


def _watch_topics(watcher, nodes, received):
    """Subscribe to every topic the nodes publish and count what arrives over DDS."""
    for node in nodes.values():
        for publisher in node.publishers:
            topic = publisher.topic_name
            if topic.endswith(('/rosout', '/parameter_events')) or topic in received:
                continue
            received[topic] = 0
            watcher.create_subscription(
                publisher.msg_type, topic,
                lambda msg, topic=topic: received.update([topic]), publisher.qos_profile)


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


def _wait_until_settled(state, deadline, quiet: float = 2.0):
    """Wait until ``state()`` has not changed for ``quiet`` seconds (queued frames fused)."""
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
          f'generated views; memory {summary["memory_points_before_generation"]} -> '
          f'{summary["memory_points_after_generation"]} points, trajectory coverage '
          f'{summary["coverage_before"]:.2f} -> {summary["coverage_after"]:.2f}')
    if not summary['generator_trained']:
        print('anyrecon demo: the generator is untrained (no checkpoint): its images are '
              'noise; the geometry comes from the memory renders and depth completion')
    print(f'anyrecon demo: wrote {out}/ (map.db, memory.ply, generated/, contact_sheet.png, '
          'summary.json)')
