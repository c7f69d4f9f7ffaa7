# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``anyrecon bench`` sections for ROS 2: message throughput over DDS, and the demo's memory.

Throughput: a 1M-point PointCloud2 and a 640x480 rgb8 Image, published and
received by rclpy nodes in one process (one context, one executor) and across
two processes (the subscriber is this module run as a child process, see
``main``). Every figure is the median of several rounds after one warm-up
message. Memory: the peak resident set of ``anyrecon demo`` in a child process
(``child_process.measure_module``).

Run by ``bench_ros``, this module is also the child's entry point::

    python -m anyrecon_ros.bench.ros_throughput --kind image_640x480 --topic /t \
        --count 601 --depth 20 --report receipts.json
"""

import argparse
from collections import Counter
import json
import os
from pathlib import Path
import statistics
import sys
import tempfile
import time
from typing import Callable
from typing import NamedTuple

import numpy as np
import rclpy
from rclpy.duration import Duration
from rclpy.executors import SingleThreadedExecutor
from rclpy.utilities import get_rmw_implementation_identifier
from sensor_msgs.msg import Image
from sensor_msgs.msg import PointCloud2
from std_msgs.msg import UInt32

from anyrecon_ros.bench.child_process import kill
from anyrecon_ros.bench.child_process import measure_module
from anyrecon_ros.bench.child_process import ros_environment
from anyrecon_ros.bench.child_process import start_module
from anyrecon_ros.bench.child_process import tail
from anyrecon_ros.ros.conversions import array_to_image
from anyrecon_ros.ros.conversions import points_to_cloud
from anyrecon_ros.ros.middleware import configure_dds_environment
from anyrecon_ros.ros.qos import sensor_qos

CLOUD_POINTS = 1_000_000
IMAGE_SHAPE = (480, 640, 3)
# Seconds any one wait (discovery, a batch, the child's whole run) may take.
WAIT_S = 60.0
# The subscriber process's own limit; the bench stops it sooner when something fails.
CHILD_TIMEOUT_S = 600.0
QOS_DESCRIPTION = (
    'reliable, volatile, keep last one batch on both sides; send-then-wait: the publisher '
    'sends a batch, then waits until the subscriber has taken all of it (across processes '
    'the subscriber reports its count on a second topic), so no message can be dropped')


def million_point_cloud() -> PointCloud2:
    """Return a 1M-point cloud (x, y, z float32 + packed rgb) as the memory node builds it."""
    rng = np.random.default_rng(0)
    xyz = rng.uniform(-5.0, 5.0, (CLOUD_POINTS, 3)).astype(np.float32)
    rgb = rng.integers(0, 256, (CLOUD_POINTS, 3), dtype=np.uint8)
    return points_to_cloud(xyz, rgb)


def rgb_image() -> Image:
    """Return a 640x480 rgb8 image of random pixels."""
    pixels = np.random.default_rng(0).integers(0, 256, IMAGE_SHAPE, dtype=np.uint8)
    return array_to_image(pixels, 'rgb8')


class Kind(NamedTuple):
    """A message to benchmark: its type, how to build it, and how many to send."""

    message_type: type
    build: Callable
    per_round: tuple  # messages per round, (quick, full)
    batch: int  # messages sent before waiting; bounds the publisher's history


KINDS = {
    # 16 MB a cloud: a batch of 4 keeps 64 MB in flight, well inside the 256 MB segment.
    'pointcloud2_1m': Kind(PointCloud2, million_point_cloud, (16, 60), 4),
    'image_640x480': Kind(Image, rgb_image, (200, 1000), 20),
}
ROUNDS = {True: 3, False: 5}


class Receipts:
    """Count the messages received per round (``header.stamp.sec``) and when the last came."""

    def __init__(self, counts=None, last=None):
        self.counts = Counter(counts or {})
        self.last = dict(last or {})

    def __call__(self, msg):
        """Record one message: the subscription callback."""
        round_ = msg.header.stamp.sec
        self.counts[round_] += 1
        self.last[round_] = time.monotonic()

    def total(self) -> int:
        """Return how many messages arrived, in all rounds."""
        return sum(self.counts.values())

    def save(self, path: Path) -> None:
        """Write the receipts as JSON (the child's report)."""
        Path(path).write_text(json.dumps({'counts': self.counts, 'last': self.last}))

    @classmethod
    def load(cls, path: Path) -> 'Receipts':
        """Read receipts that ``save`` wrote."""
        state = json.loads(Path(path).read_text())
        return cls({int(r): n for r, n in state['counts'].items()},
                   {int(r): t for r, t in state['last'].items()})


def bench_ros(quick: bool) -> dict:
    """Messages per second and MB/s of a 1M-point cloud and an image, in one and two processes."""
    rounds = ROUNDS[quick]
    figures = {'qos': QOS_DESCRIPTION, 'rounds': rounds, 'megabyte': 10 ** 6}
    with ros_environment():
        figures['rmw'] = get_rmw_implementation_identifier()
        for name, kind in KINDS.items():
            msg, count = kind.build(), kind.per_round[0 if quick else 1]
            topic = f'/anyrecon_bench_{os.getpid()}/{name}'
            figures[name] = {
                'bytes': len(msg.data), 'messages_per_round': count, 'batch': kind.batch,
                'in_process': _in_process(kind, msg, topic, count, rounds),
                'two_processes': _two_processes(name, kind, msg, topic, count, rounds)}
    return figures


def _in_process(kind, msg, topic, count, rounds) -> dict:
    context = rclpy.Context()
    rclpy.init(context=context)
    executor = SingleThreadedExecutor(context=context)
    nodes = []
    try:
        nodes += [rclpy.create_node(name, context=context) for name in ('sender', 'receiver')]
        for node in nodes:
            executor.add_node(node)
        receipts = Receipts()
        subscription = nodes[1].create_subscription(
            kind.message_type, topic, receipts, _qos(kind.batch))
        publisher = nodes[0].create_publisher(kind.message_type, topic, _qos(kind.batch))
        _spin_until(executor, lambda: publisher.get_subscription_count() > 0
                    and subscription.get_publisher_count() > 0)

        def wait_taken(total):
            return _spin_until(executor, lambda: receipts.total() >= total)

        starts = _send_rounds(publisher, msg, count, rounds, kind.batch, wait_taken)
        return _throughput(starts, count, receipts, len(msg.data))
    finally:
        for node in nodes:
            executor.remove_node(node)
            node.destroy_node()
        executor.shutdown()
        rclpy.shutdown(context=context)


def _two_processes(name, kind, msg, topic, count, rounds) -> dict:
    context = rclpy.Context()
    rclpy.init(context=context)
    executor = SingleThreadedExecutor(context=context)
    node = child = None
    with tempfile.TemporaryDirectory(prefix='anyrecon_bench_ros_') as folder:
        report, log_path = Path(folder) / 'receipts.json', Path(folder) / 'child.log'
        try:
            node = rclpy.create_node('sender', context=context)
            executor.add_node(node)
            publisher = node.create_publisher(kind.message_type, topic, _qos(kind.batch))
            # The child reports how many messages it has taken, the latest count only.
            taken = []
            acks = node.create_subscription(UInt32, f'{topic}/taken',
                                            lambda ack: taken.append(ack.data), _qos(1))
            child = start_module(
                'anyrecon_ros.bench.ros_throughput',
                ['--kind', name, '--topic', topic, '--count', str(count * rounds + 1),
                 '--depth', str(kind.batch), '--report', str(report),
                 '--timeout', str(CHILD_TIMEOUT_S)], log_path)

            def connected():
                return publisher.get_subscription_count() > 0 and acks.get_publisher_count() > 0

            _spin_until(executor, lambda: child.poll() is not None or connected())
            if child.poll() is not None or not connected():
                raise RuntimeError(f'bench subscriber process did not connect on {topic}:\n'
                                   f'{tail(log_path)}')

            def wait_taken(total):
                return _spin_until(executor, lambda: bool(taken) and taken[-1] >= total)

            starts = _send_rounds(publisher, msg, count, rounds, kind.batch, wait_taken)
            child.wait(timeout=WAIT_S)
            if child.returncode != 0 or not report.exists():
                raise RuntimeError(f'bench subscriber process failed (exit code '
                                   f'{child.returncode}):\n{tail(log_path)}')
            return _throughput(starts, count, Receipts.load(report), len(msg.data))
        finally:
            kill(child)
            if node is not None:
                executor.remove_node(node)
                node.destroy_node()
            executor.shutdown()
            rclpy.shutdown(context=context)


def _qos(depth: int):
    """Return reliable, volatile, keep last ``depth``: a batch always fits in the history."""
    return sensor_qos(reliable=True, depth=depth)


def _send_rounds(publisher, msg, count, rounds, batch, wait_taken) -> dict:
    """Send one warm-up message, then ``rounds`` of ``count``; return each round's start time.

    After every ``batch`` messages, ``wait_taken(total)`` must return True once
    the subscriber has taken all ``total`` messages sent so far, so no more
    than a batch is ever in flight. The round travels in the header's stamp.
    """
    msg.header.stamp.sec = 0
    publisher.publish(msg)
    total, starts = 1, {}
    _check_taken(wait_taken, total)
    for round_ in range(1, rounds + 1):
        msg.header.stamp.sec = round_
        starts[round_] = time.monotonic()
        for sent in range(1, count + 1):
            publisher.publish(msg)
            total += 1
            if sent % batch == 0 or sent == count:
                _check_taken(wait_taken, total)
    return starts


def _check_taken(wait_taken, total) -> None:
    if not wait_taken(total):
        raise RuntimeError(f'the subscriber did not take message {total} within {WAIT_S:.0f} s '
                           '(a reliable message was lost)')


def _throughput(starts, count, receipts, size) -> dict:
    """Return the median rate over the rounds: from a round's first send to its last receipt."""
    rates = [receipts.counts[round_] / (receipts.last[round_] - start) if receipts.counts[round_]
             else 0.0 for round_, start in starts.items()]
    rate = statistics.median(rates)
    return {'messages_per_second': rate, 'megabytes_per_second': rate * size / 10 ** 6,
            'sent': count * len(starts), 'received': sum(receipts.counts[r] for r in starts)}


def _spin_until(executor, condition, timeout=WAIT_S) -> bool:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        executor.spin_once(timeout_sec=0.05)
    return condition()


DEMO_TIMEOUT_S = 600.0


def bench_demo_memory(quick: bool, scene: str = None) -> dict:
    """Peak resident memory (MiB) and wall time of ``anyrecon demo``, medians over runs.

    ``scene`` is the demo's ``--scene`` (default: its own). Raises
    RuntimeError, with the end of the demo's output, when a run fails.
    """
    runs = [_demo_run(scene) for _ in range(1 if quick else 3)]
    return {'runs': len(runs),
            'peak_rss_mib': statistics.median(run['peak_rss_mib'] for run in runs),
            'wall_s': statistics.median(run['wall_s'] for run in runs),
            'exit_code': max(run['exit_code'] for run in runs),
            'peak_rss_mib_each': [run['peak_rss_mib'] for run in runs],
            'wall_s_each': [run['wall_s'] for run in runs]}


def _demo_run(scene: str = None, timeout: float = DEMO_TIMEOUT_S) -> dict:
    arguments = ['demo', '--timeout', str(timeout)] + (['--scene', scene] if scene else [])
    with tempfile.TemporaryDirectory(prefix='anyrecon_bench_demo_') as folder, \
            ros_environment():
        log_path = Path(folder) / 'demo.log'
        run = measure_module('anyrecon_ros.cli.main',
                             arguments + ['--out', str(Path(folder) / 'out')], log_path,
                             timeout + 60.0)
        if run['exit_code'] != 0:
            raise RuntimeError(f'anyrecon demo failed (exit code {run["exit_code"]}):\n'
                               f'{tail(log_path)}')
        return run


def ros_table(figures: dict) -> list:
    """Return the ROS 2 throughput section as markdown lines."""
    lines = ['', f'ROS 2 messages over DDS ({figures["rmw"]}, rclpy publisher and subscriber; '
             f'QoS {figures["qos"]}), medians of {figures["rounds"]} rounds; '
             f'MB = {figures["megabyte"]} bytes:', '',
             '| message | bytes | processes | messages/s | MB/s | sent | received |',
             '|---|---|---|---|---|---|---|']
    for name in KINDS:
        message = figures[name]
        for mode, label in (('in_process', 'one'), ('two_processes', 'two')):
            row = message[mode]
            lines.append(f'| {name} | {message["bytes"]} | {label} | '
                         f'{row["messages_per_second"]:.1f} | '
                         f'{row["megabytes_per_second"]:.0f} | {row["sent"]} | '
                         f'{row["received"]} |')
    return lines


def demo_memory_table(figures: dict) -> list:
    """Return the demo memory section as markdown lines."""
    return ['', f'Demo memory (`anyrecon demo` in a child process, median of {figures["runs"]} '
            'run(s); peak resident set = its VmHWM):', '',
            '| peak RSS (MiB) | wall time (s) | exit code |', '|---|---|---|',
            f'| {figures["peak_rss_mib"]:.0f} | {figures["wall_s"]:.1f} | '
            f'{figures["exit_code"]} |']


def main(argv=None) -> int:
    """Subscribe in a child process: take messages until ``--count`` or ``--timeout``."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument('--kind', choices=sorted(KINDS), required=True)
    parser.add_argument('--topic', required=True)
    parser.add_argument('--count', type=int, required=True, help='messages to take')
    parser.add_argument('--depth', type=int, required=True, help='history depth (a batch)')
    parser.add_argument('--report', required=True, help='JSON file the receipts go to')
    parser.add_argument('--timeout', type=float, default=CHILD_TIMEOUT_S)
    args = parser.parse_args(argv)
    configure_dds_environment()
    context = rclpy.Context()
    rclpy.init(context=context)
    executor = SingleThreadedExecutor(context=context)
    node = rclpy.create_node('receiver', context=context)
    receipts = Receipts()
    try:
        taken = node.create_publisher(UInt32, f'{args.topic}/taken', _qos(1))

        def take(msg):
            receipts(msg)
            taken.publish(UInt32(data=receipts.total()))

        node.create_subscription(KINDS[args.kind].message_type, args.topic, take,
                                 _qos(args.depth))
        executor.add_node(node)
        _spin_until(executor, lambda: receipts.total() >= args.count, args.timeout)
        # The last count must reach the publisher before this process goes.
        taken.wait_for_all_acked(Duration(seconds=10))
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.shutdown(context=context)
    receipts.save(args.report)
    return 0


if __name__ == '__main__':
    sys.exit(main())
