# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""A short soak of memory_node: 640x480 RGB-D at 30 Hz for about 36 s (``run_soak``).

The node runs as its own process (so its resident set is its own) under the
stream ``anyrecon bench --soak`` keeps up for 10 minutes. The checks hold on a
loaded 2-core machine: nothing here asserts a rate or a time, only that what
happened is accounted for and bounded. One run serves every test (about a
minute: 6 s of rendering, the node's start, 36 s of stream, its drain).
"""

import math
import re

import pytest

from anyrecon_ros.bench.soak import _same_frame
from anyrecon_ros.bench.soak import LoopFrames
from anyrecon_ros.bench.soak import run_soak
from anyrecon_ros.bench.soak import soak_table
from anyrecon_ros.bench.soak import STREAM_TOPICS
from anyrecon_ros.ros.conversions import view_to_keyframe
from anyrecon_ros.ros.conversions.frame import frame_to_view

STREAM_S = 36.0
RATE_HZ = 30.0
FRAME_QUEUE_SIZE = 10
# 24 rendered frames fuse into about 230 000 points at the default 2 cm voxels,
# so this cap is reached in the first lap and then enforced for the rest.
MAX_POINTS = 200_000
# Four path offsets: about 55 keyframes (2.1 MiB each in the node's bank, which
# never shrinks), selected in the first 10-20 s; after that the node's memory
# must stay flat while the stream goes on. No ~/reset here (the bench's 10
# minutes call it every minute): a reset cycle's rise and fall (+-25 MiB) and
# ~/keyframes' history filling up over the first cycles are too coarse for 36 s.
POSE_VARIANTS = 4
# VmRSS growth over the last third (12 s) of the stream. Measured on the 2-core
# machine (see the report in soak.py's commit): 0-4 MiB once keyframes stop, a
# keyframe adds about 4 MiB (its image and depth in the bank and in the 100 kept
# by ~/keyframes). 50 MiB leaves room for a dozen late keyframes on a slow,
# loaded machine, but not for a leak of a frame's worth (1.5 MiB) per second.
RSS_LAST_THIRD_MIB = 50.0
# Drop reasons are snake_case words (DropCounter).
REASON = re.compile(r'^[a-z][a-z0-9_]*$')


@pytest.fixture(scope='module')
def figures():
    return run_soak(STREAM_S, rate_hz=RATE_HZ, max_points=MAX_POINTS, reset_period_s=0.0,
                    pose_variants=POSE_VARIANTS, frame_queue_size=FRAME_QUEUE_SIZE)


def summary(figures):
    """Return the figures without the time series, for assertion messages."""
    return {name: value for name, value in figures.items() if name not in ('rss', 'statuses')}


def test_the_node_takes_the_stream_and_survives_it(figures):
    assert figures['alive'], figures['log_tail']
    assert figures['exit_code'] == 0, figures['log_tail']  # it stopped cleanly on Ctrl-C
    # The rate is reported, not asserted: a loaded machine may not keep 30 Hz.
    assert figures['frames_sent'] >= 0.3 * RATE_HZ * STREAM_S, summary(figures)
    assert figures['achieved_rate_hz'] > 0 and isinstance(figures['rate_kept'], bool)
    assert figures['keyframes'] > 0 and figures['frames_paired'] > figures['keyframes']
    assert len(figures['statuses']) >= STREAM_S / 4, summary(figures)


def test_drop_counts_only_grow_and_are_named(figures):
    previous = {}
    for status in figures['statuses']:
        drops = status['drops']
        assert all(REASON.match(reason) for reason in drops), drops
        for reason, count in previous.items():
            assert drops.get(reason, -1) >= count, (status['t'], reason, previous, drops)
        previous = drops
    assert figures['drops'] == previous


def test_every_frame_sent_is_accounted_for(figures):
    """Sent = received + lost before the node; received = paired + dropped + waiting.

    Messages the node is too busy to take are overwritten in its KEEP_LAST
    subscription queues (or lost in transport, best effort) without any drop
    counter seeing them: the gaps in each publisher's sequence numbers, counted
    in the node, must match what this process knows it sent.
    """
    sent = figures['frames_sent']
    for name in STREAM_TOPICS.values():
        received = figures['received'][name]
        lost = figures['lost_before_callback'][name]
        missing = figures['missing_by_sequence'].get(name, 0)
        assert received + lost == sent and 0 <= received <= sent
        # A message lost after the last one received leaves no gap: at most one per topic.
        assert 0 <= lost - missing <= 1, (name, summary(figures))
    # Every image taken is paired, dropped under a named reason, or still queued.
    assert figures['images_unaccounted'] == 0, summary(figures)
    assert figures['frames_pending'] <= FRAME_QUEUE_SIZE
    assert figures['unpaired_rate'] == pytest.approx((sent - figures['frames_paired']) / sent)
    assert figures['drop_rate'] == figures['unpaired_rate']


def test_the_memory_keeps_to_its_point_cap(figures):
    points = [status['points'] for status in figures['statuses']]
    assert max(points) <= MAX_POINTS, points
    # The cap was reached, so eviction ran under the stream rather than never.
    assert figures['cap_reached'] and figures['cap_respected'], summary(figures)


def test_resident_memory_stops_growing(figures):
    third = figures['rss_last_third']
    assert third['samples'] >= 5, figures['rss']
    keyframes = [status['keyframes'] for status in figures['statuses']]
    assert third['growth_mib'] < RSS_LAST_THIRD_MIB, (third, figures['rss'], keyframes)
    assert figures['rss_peak_mib'] >= figures['rss_start_mib'] > 0
    assert math.isfinite(figures['rss_last_half']['slope_mib_per_min'])


def test_soak_table(figures):
    lines = soak_table(figures)
    print('\n'.join(lines))  # the run's figures, with pytest -s
    assert lines[0] == '' and lines[2] == '' and lines[1].startswith('Memory node soak')
    assert lines[3] == '| figure | value |' and lines[4] == '|---|---|'
    assert len(lines) > 10 and all(line.startswith('| ') for line in lines[5:])
    assert any('points in memory' in line and str(MAX_POINTS) in line for line in lines)


def test_a_keyframe_is_checked_against_the_frame_sent_at_its_stamp():
    """The soak sees a keyframe paired with another frame's depth or pose in what it publishes."""
    frames = LoopFrames(frames=2, pose_variants=2)

    def keyframe(image_of, depth_of, pose_of):
        # As memory_node makes it: the paired parts to a view, the view to ~/keyframes.
        image, info = frames.frame(image_of)[:2]
        parts = {'image': image, 'camera_info': info, 'depth': frames.frame(depth_of)[2]}
        return view_to_keyframe(frame_to_view(parts, frames.frame(pose_of)[3], 0, 0), 'map')

    assert _same_frame(keyframe(0, 0, 0), frames.frame(0))
    assert _same_frame(keyframe(2, 2, 2), frames.frame(2))  # the second lap: the path moved
    assert not _same_frame(keyframe(0, 1, 0), frames.frame(0))  # another frame's depth
    assert not _same_frame(keyframe(0, 0, 2), frames.frame(0))  # another lap's pose
    assert not _same_frame(keyframe(1, 1, 1), frames.frame(0))
