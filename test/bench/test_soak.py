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
from anyrecon_ros.bench.soak import image_accounting
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
# Images sent that the node neither took nor counted lost: a loss leaves a gap
# in the sequence numbers only before a message the node takes, and its
# KEEP_LAST queue keeps the newest message (an overwrite loses older ones), so
# only the last image sent, lost in transport, can go uncounted.
UNCOUNTED_LOSS_MAX = 1


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


def test_every_image_sent_is_accounted_for(figures):
    """Sent (counted here) = taken + lost_image; taken = paired + dropped + waiting (the node's).

    Messages the node is too busy to take are overwritten in its KEEP_LAST
    subscription queues (or lost in transport, best effort) without any drop
    counter seeing them: the gaps in the image publisher's sequence numbers,
    counted in the node, and the images its callback took, counted there too,
    must add up to what this process knows it sent.
    """
    sent = figures['frames_sent']
    received = figures['received']['image']  # the node's images_received
    counted_lost = figures['missing_by_sequence']['image']  # its lost_image
    assert 0 < received <= sent, summary(figures)
    assert figures['lost_before_callback']['image'] == sent - received
    assert figures['images_lost_uncounted'] == sent - received - counted_lost
    assert 0 <= figures['images_lost_uncounted'] <= UNCOUNTED_LOSS_MAX, summary(figures)
    # The other topics the node does not count: what it received is derived.
    for name in STREAM_TOPICS.values():
        assert figures['received'][name] + figures['lost_before_callback'][name] == sent
    # Every image taken is paired, dropped before pairing, or still queued:
    # at the end, and in every status on the way (each a snapshot of one callback).
    assert figures['images_unaccounted'] == 0, summary(figures)
    for status in figures['statuses']:
        balance = image_accounting(sent, status['images_received'], status['frames_paired'],
                                   status['frames_waiting'], status['drops'])
        assert balance['images_unaccounted'] == 0, (status, summary(figures))
    assert 0 <= figures['frames_pending'] <= FRAME_QUEUE_SIZE
    assert figures['frames_paired'] <= received
    assert figures['unpaired_rate'] == pytest.approx((sent - figures['frames_paired']) / sent)
    assert figures['drop_rate'] == figures['unpaired_rate']


def test_the_accounting_finds_an_image_gone_missing():
    """The accounting can fail: made-up counts with one image unaccounted report it."""
    drops = {'lost_image': 3, 'lost_depth': 3, 'queue_full': 2, 'no_pose': 1, 'reset': 1,
             # A loose depth that found no image, and a frame dropped after it
             # was paired: neither is an image the pairer dropped.
             'unmatched_depth': 5, 'bad_encoding': 4}
    # 100 sent = 97 taken + 3 lost; 97 taken = 90 paired + 4 dropped + 3 waiting.
    balanced = image_accounting(100, 97, 90, 3, drops)
    assert balanced == {'images_lost_uncounted': 0, 'images_unaccounted': 0,
                        'frames_dropped_unpaired': {'queue_full': 2, 'no_pose': 1, 'reset': 1}}
    # One image taken but neither paired, dropped nor waiting.
    assert image_accounting(100, 97, 90, 2, drops)['images_unaccounted'] == 1
    assert image_accounting(100, 97, 89, 3, drops)['images_unaccounted'] == 1
    # The node took one image more than it accounts for, or one less.
    assert image_accounting(100, 98, 90, 3, drops)['images_unaccounted'] == 1
    assert image_accounting(100, 96, 90, 3, drops)['images_unaccounted'] == -1
    # The last image sent lost (no gap counted), and one the node took twice.
    assert image_accounting(101, 97, 90, 3, drops)['images_lost_uncounted'] == 1
    assert image_accounting(99, 97, 90, 3, drops)['images_lost_uncounted'] == -1


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
