# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Crash safety: memory_node killed with SIGKILL mid-ingest and mid-save leaves an intact map.

The node runs as a process of its own (``anyrecon node memory_node``) on a map
file in tmp_path; the test streams keyframes to it over DDS and kills it at
seeded random moments. After every kill the map must pass ``anyrecon map
check``, hold every keyframe the node had published on ``~/keyframes`` (it
publishes a keyframe only after its insert committed), exactly as it was sent,
and hold either the memory saved before or the one being saved, never a mix.
The node is then restarted on the same file, so damage would accumulate.
"""

import fcntl
import json
import os
from pathlib import Path
import random
import re
import signal
import sqlite3
import subprocess
import sys
import time

import numpy as np
import pytest
from std_srvs.srv import Trigger

from anyrecon_ros.core.geometry_memory import GeometryMemory
from anyrecon_ros.core.geometry_memory import MemoryConfig
from anyrecon_ros.core.map_store import MapStore
from anyrecon_ros.core.procedural_scene import default_camera
from anyrecon_ros.core.procedural_scene import ProceduralScene
from anyrecon_ros.msg import Keyframe
from anyrecon_ros.msg import MemoryStatus
from anyrecon_ros.ros.conversions import keyframe_to_view
from anyrecon_ros.ros.conversions import view_to_keyframe
from anyrecon_ros.ros.qos import keyframe_history_qos
from anyrecon_ros.ros.qos import keyframe_qos
from anyrecon_ros.ros.qos import status_qos

ANYRECON = str(Path(sys.executable).parent / 'anyrecon')
NODE = '/memory_node'
CAMERA = default_camera().scaled(160, 120)
VIEWS = 40
# A node process imports torch before it joins the graph: seconds on a busy machine.
START_TIMEOUT = 90.0
QUEUE = 1000
INGEST_KILLS = 4
SAVE_KILLS = 4
INGEST_VOXEL = 0.04
# Finer voxels make the memory, and so each save, larger: more kills land inside one.
SAVE_VOXEL = 0.02
SEED = 20260425


@pytest.fixture(scope='module')
def views():
    """Return distinct 160x120 RGB-D views on a loop through the procedural scene."""
    scene = ProceduralScene(seed=0)
    return [scene.capture_view(CAMERA, pose, index)
            for index, pose in enumerate(scene.camera_path(VIEWS))]


class MemoryNodeProcess:
    """``anyrecon node memory_node`` on one map file, restarted and killed by the test."""

    def __init__(self, ros, map_path, voxel_size):
        self.ros = ros
        self.parameters = {'map_path': str(map_path), 'voxel_size': voxel_size,
                           'status_period': 0.2}
        self.node = ros.node('crash_test')
        self.publisher = self.node.create_publisher(Keyframe, 'keyframe', keyframe_qos(QUEUE))
        self.echoed = ros.collect(Keyframe, f'{NODE}/keyframes', keyframe_history_qos(QUEUE),
                                  self.node)
        self.statuses = ros.collect(MemoryStatus, f'{NODE}/status', status_qos(), self.node)
        self.clients = {name: self.node.create_client(Trigger, f'{NODE}/{name}')
                        for name in ('save_map', 'load_map', 'reset')}
        self.process = None
        self.started_ns = 0
        self.call_seconds = 0.0   # how long the last service call took to answer
        self.sent = {}   # id -> the view the node makes of the message sent with that id

    def start(self):
        """Start the node and wait until its first status arrives."""
        self.started_ns = time.time_ns()
        arguments = [part for name, value in self.parameters.items()
                     for part in ('-p', f'{name}:={value}')]
        self.process = self.ros.start_process(ANYRECON, 'node', 'memory_node', '--ros-args',
                                              *arguments)
        assert self.ros.spin_until(
            lambda: self.status() is not None or self.process.poll() is not None,
            timeout=START_TIMEOUT), 'memory_node sent no status'
        assert self.process.poll() is None, self.process.communicate()[0]

    def status(self):
        """Return the latest status of the running process (not of a killed one), or None."""
        fresh = [status for status in self.statuses
                 if status.header.stamp.sec * 10**9 + status.header.stamp.nanosec >=
                 self.started_ns]
        return fresh[-1] if fresh else None

    def keyframe_count_is(self, count):
        """Return whether the running process reports ``count`` keyframes."""
        status = self.status()
        return status is not None and status.keyframe_count == count

    def echoed_ids(self):
        """Return the ids of every keyframe echoed on ~/keyframes so far (by any process)."""
        return {msg.id for msg in self.echoed}

    def message(self, view, view_id):
        """Return a Keyframe of ``view`` with id ``view_id``; remember what the node will store."""
        msg = view_to_keyframe(view, 'map')
        msg.id = view_id
        msg.header.stamp.sec, msg.header.stamp.nanosec = view_id, 1000 + view_id
        msg.image.header = msg.depth.header = msg.camera_info.header = msg.header
        self.sent[view_id] = keyframe_to_view(msg, 'map')
        return msg

    def send_until_echoed(self, msg):
        """Publish ``msg`` until the node echoes it.

        A SIGKILLed node stays matched until its DDS lease runs out (20 s), so
        matched counts say nothing about the new process; its echo does. A copy
        that arrives twice is dropped as a duplicate id.
        """
        for _ in range(10):
            self.publisher.publish(msg)
            if self.ros.spin_until(lambda: msg.id in self.echoed_ids(), timeout=3.0):
                return
        raise AssertionError(f'keyframe {msg.id} was never echoed')

    def call(self, name):
        """Call a Trigger service of the running process and return the response.

        A request sent while the new process's endpoints are still being
        discovered is lost, so it is sent again (load_map and save_map are
        idempotent).
        """
        client = self.clients[name]
        for _ in range(10):
            if not self.ros.spin_until(client.service_is_ready, timeout=3.0):
                continue
            started = time.monotonic()
            future = client.call_async(Trigger.Request())
            if self.ros.spin_until(future.done, timeout=5.0):
                self.call_seconds = time.monotonic() - started
                return future.result()
            client.remove_pending_request(future)
        raise AssertionError(f'{NODE}/{name} never answered')

    def interrupt(self):
        """Stop the node as Ctrl-C does (it saves on the way out); return what it printed."""
        self.process.send_signal(signal.SIGINT)
        output = self.process.communicate(timeout=60)[0]
        assert self.process.returncode in (0, -signal.SIGINT), output
        return output

    def kill(self):
        """SIGKILL the node, then free the shared memory its DDS participant leaves behind."""
        segments = _shm_segments(self.process.pid)
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)
        assert self.process.returncode == -signal.SIGKILL
        _remove_dead_segments(segments)


def _shm_segments(pid):
    """Return the Fast DDS shared-memory segments (not port files) process ``pid`` maps."""
    try:
        maps = Path(f'/proc/{pid}/maps').read_text()
    except OSError:
        return set()
    return set(re.findall(r'/dev/shm/(fastdds_(?!port)[0-9a-f]+)$', maps, re.MULTILINE))


def _remove_dead_segments(names):
    """Unlink segments whose owner died (their ``_el`` lock is free), as ``fastdds shm clean``.

    A killed participant's segment (256 MiB with the package's profile) would
    otherwise stay in /dev/shm, in memory, until the machine restarts.
    """
    for name in names:
        try:
            lock = os.open(f'/dev/shm/{name}_el', os.O_RDWR)
        except OSError:
            continue
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(lock)
            continue  # its owner is alive: a segment of this test process
        try:
            for path in (f'/dev/shm/{name}', f'/dev/shm/{name}_el'):
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    pass
        finally:
            os.close(lock)


def anyrecon_map(command, path):
    """Run ``anyrecon map COMMAND PATH`` as its own process; return it finished."""
    return subprocess.run(
        [sys.executable, '-m', 'anyrecon_ros.cli.main', 'map', command, str(path)],
        capture_output=True, text=True, timeout=120)


def assert_intact(path, keyframes):
    """Check the map with the CLI; return its keyframe ids after checking every row's content."""
    check = anyrecon_map('check', path)
    assert check.returncode == 0 and 'intact' in check.stdout, check.stdout + check.stderr
    with MapStore(path, read_only=True) as store:
        ids = store.keyframe_ids()
        for view_id in ids:
            assert view_id in keyframes, f'keyframe {view_id} in the map was never sent'
            stored, sent = store.keyframe(view_id), keyframes[view_id]
            assert stored.rgb.shape == sent.rgb.shape and stored.depth.shape == sent.depth.shape
            assert np.array_equal(stored.rgb, sent.rgb), view_id
            # Depth is stored in whole millimetres.
            assert np.allclose(stored.depth, sent.depth, atol=5e-4, equal_nan=True), view_id
            assert np.array_equal(stored.camera_to_world, sent.camera_to_world), view_id
            assert stored.camera == sent.camera and stored.stamp_ns == sent.stamp_ns
    return ids


def fused(memory, views, voxel_size):
    """Return a copy of ``memory`` (a new one if None) with ``views`` fused as the node does."""
    if memory is None:
        memory = GeometryMemory(MemoryConfig(voxel_size=voxel_size, generated_weight=0.3))
    else:
        memory = GeometryMemory.from_state_dict(memory.state_dict())
    for view in views:
        memory.insert(view.rgb, view.depth, view.camera, view.camera_to_world,
                      view_id=view.view_id)
    return memory


def stored_array_shapes(path):
    """Return the shape of every memory array in the file, read straight from SQLite."""
    db = sqlite3.connect(f'file:{path}?mode=ro', uri=True)
    try:
        return {name: tuple(json.loads(shape))
                for name, shape in db.execute('SELECT name, shape FROM memory_arrays')}
    finally:
        db.close()


def same_memory(a, b):
    """Return whether two memories (or None) hold exactly the same arrays and config."""
    if a is None or b is None:
        return a is b
    a, b = a.state_dict(), b.state_dict()
    return a.pop('config') == b.pop('config') and a.keys() == b.keys() and all(
        np.array_equal(a[name], b[name]) for name in a)


def test_kills_during_ingest_lose_no_committed_keyframe(ros, tmp_path, views):
    rng = random.Random(SEED)
    path = tmp_path / 'ingest.map'
    node = MemoryNodeProcess(ros, path, INGEST_VOXEL)
    committed = set()   # ids the node had echoed (so committed) before one of its deaths
    stored = []
    kills = incomplete = unechoed = 0
    for round_index in range(INGEST_KILLS + 1):
        node.start()
        base = 1000 * (round_index + 1)
        if round_index:
            # The node starts empty; ~/load_map brings back what the killed one stored.
            response = node.call('load_map')
            assert response.success and f'{len(stored)} keyframes' in response.message, (
                response.message)
            assert ros.spin_until(lambda: node.keyframe_count_is(len(stored)), timeout=20)
        # A keyframe with a new id after the restart is fused and stored too.
        probe = node.message(views[round_index], base + 999)
        node.send_until_echoed(probe)
        assert ros.spin_until(lambda: node.keyframe_count_is(len(stored) + 1), timeout=20)
        if round_index == INGEST_KILLS:
            break
        # A stream of distinct keyframes; the kill comes after a random number of them
        # were echoed, plus a random part of the next one's ~25 ms.
        stream = [node.message(view, base + index) for index, view in enumerate(views)]
        echoes_before_kill = rng.randint(1, len(stream) - 2)
        jitter = rng.uniform(0.0, 0.04)
        for msg in stream:
            node.publisher.publish(msg)
        ids = {msg.id for msg in stream}
        assert ros.spin_until(lambda: len(ids & node.echoed_ids()) >= echoes_before_kill,
                              timeout=30)
        kill_at = time.monotonic() + jitter
        ros.spin_until(lambda: time.monotonic() >= kill_at, timeout=1.0)
        seen = node.echoed_ids() & (ids | {probe.id})
        node.kill()
        kills += 1
        committed |= seen

        stored = assert_intact(path, node.sent)
        missing = committed - set(stored)
        assert not missing, f'kill {kills}: committed keyframes {sorted(missing)} are gone'
        incomplete += len(ids & set(stored)) < len(stream)
        unechoed += len(set(stored) - committed)
    info = anyrecon_map('info', path)
    assert info.returncode == 0 and f'keyframes: {len(stored) + 1}' in info.stdout, info.stdout
    print(f'\ningest: {kills} kills survived, {incomplete} of them mid-stream, {len(stored)} '
          f'keyframes kept, {unechoed} committed but killed before their echo arrived')
    assert kills == INGEST_KILLS and incomplete >= 1


def test_kills_during_save_leave_the_old_or_the_new_memory(ros, tmp_path, views):
    rng = random.Random(SEED + 1)
    path = tmp_path / 'save.map'
    node = MemoryNodeProcess(ros, path, SAVE_VOXEL)
    batch_size = VIEWS // (SAVE_KILLS + 1)
    batches = [[node.message(view, 100 * (batch + 1) + index) for index, view in
                enumerate(views[batch * batch_size:(batch + 1) * batch_size])]
               for batch in range(SAVE_KILLS + 1)]

    def ingest(batch):
        node.send_until_echoed(batch[0])  # the new process is matched once this comes back
        for msg in batch[1:]:
            node.publisher.publish(msg)
        ids = {msg.id for msg in batch}
        assert ros.spin_until(lambda: ids <= node.echoed_ids(), timeout=30)
        return [node.sent[msg.id] for msg in batch]

    node.start()
    first = ingest(batches[0])
    response = node.call('save_map')
    assert response.success, response.message
    save_seconds = [node.call_seconds]
    with MapStore(path, read_only=True) as store:
        on_file = store.load_memory()
    # The test fuses exactly as the node does, so it knows both candidates of each save.
    assert same_memory(on_file, fused(None, first, SAVE_VOXEL))
    outcomes = {'old': [], 'new': []}   # kill delays, seconds after the call
    for kill in range(SAVE_KILLS):
        if kill:
            node.start()
            # Loading fuses the keyframes stored after the saved memory (the batch
            # of a save the kill cut short) from their stored depth.
            with MapStore(path, read_only=True) as store:
                late, _ = store.views_after_memory()
            loaded = fused(on_file, late, SAVE_VOXEL)
            response = node.call('load_map')
            assert response.success and f'{len(loaded)} points' in response.message, (
                response.message)
            # Saving what was loaded writes it; it also proves save_map is reached.
            assert node.call('save_map').success
            save_seconds.append(node.call_seconds)
            with MapStore(path, read_only=True) as store:
                on_file = store.load_memory()
            assert same_memory(on_file, loaded)
        batch = ingest(batches[kill + 1])
        old, new = on_file, fused(on_file, batch, SAVE_VOXEL)
        assert len(new) > len(old)
        # A save of 0.1-0.2 M points answers after ~0.2 s here, but its rows are written
        # (and survive a kill) after ~30-50 ms: the rest is fsync. Kills up to 0.1 s land
        # before, inside and after the writes.
        delay = rng.uniform(0.0, 0.1)
        future = node.clients['save_map'].call_async(Trigger.Request())
        time.sleep(delay)  # the kill's moment, not a wait for something: nothing to spin for
        node.kill()
        # An answer the node sent before it died may still be on its way.
        ros.spin_until(future.done, timeout=0.5)
        answered = future.done() and future.result().success
        node.clients['save_map'].remove_pending_request(future)

        stored = assert_intact(path, node.sent)
        echoed = node.echoed_ids()
        assert echoed <= set(stored), sorted(echoed - set(stored))
        # Every stored array has one row per point: no array of another save.
        shapes = stored_array_shapes(path)
        assert len({shape[0] for shape in shapes.values() if shape}) == 1, shapes
        with MapStore(path, read_only=True) as store:
            on_file = store.load_memory()
        if same_memory(on_file, new):
            outcomes['new'].append(round(delay, 3))
        else:
            assert not answered, 'save_map answered success but the new memory is not saved'
            assert same_memory(on_file, old), 'the saved memory is neither the old nor the new'
            outcomes['old'].append(round(delay, 3))
    print(f'\nsave: {SAVE_KILLS} kills survived; killed after (s) {outcomes["old"]}: before '
          f'the save committed, {outcomes["new"]}: after; a save of {len(on_file)} points '
          f'takes {max(save_seconds):.3f} s')


def stored_points(path):
    with MapStore(path, read_only=True) as store:
        return store.info()['memory_points']


def test_a_restarted_node_resumes_its_map_and_never_wipes_it(ros, tmp_path, views):
    path = tmp_path / 'restart.map'
    node = MemoryNodeProcess(ros, path, INGEST_VOXEL)
    node.start()
    for index, view in enumerate(views[:4]):
        node.send_until_echoed(node.message(view, index))
    node.interrupt()
    points = stored_points(path)
    assert points > 0
    # Restarted without ~/load_map: it resumes the map, and stopping keeps it.
    node.start()
    assert ros.spin_until(lambda: node.keyframe_count_is(4), timeout=20)
    assert node.status().captured_points == points
    node.interrupt()
    assert stored_points(path) == points
    # A reset empties the node, not the file: the exit-time save is refused.
    node.start()
    response = node.call('reset')
    assert response.success and 'keeps its saved map' in response.message, response.message
    assert ros.spin_until(lambda: node.keyframe_count_is(0), timeout=20)
    assert 'not saved' in node.interrupt()
    assert stored_points(path) == points
    assert assert_intact(path, node.sent) == [0, 1, 2, 3]
