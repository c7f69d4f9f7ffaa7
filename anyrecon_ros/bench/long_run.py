# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""A synthetic hour of mapping, bounded and unbounded keyframe bank side by side (``run_long``).

``anyrecon bench --long`` maps up to ``LONG_KEYFRAMES`` keyframes (an hour at
one keyframe a second) through the core ``MapSession``, as the memory node
does, with a map file, in a child process of its own
(``child_process.start_module``) whose resident set is its own, for at most
``LONG_SECONDS`` of wall time (what fits in about ten minutes on the 2-core
reference machine; the rest of the hour is extrapolated). Two such children
run at once, on the same keyframes: one at the default keyframe RAM budget
(``BankConfig.keyframe_ram_mib``), one without a bound (``keyframe_ram_mib``
0, every keyframe's image and depth in RAM, as before the bound).

The keyframes are a loop of the procedural scene rendered once at
``LONG_WIDTH`` x 3/4 (640x480, 2.1 MiB of rgb8 and float32 depth each),
each lap moved 1 m further, so every keyframe is new ground: the memory
fills to its point cap and evicts, and the bank grows by a keyframe's bytes
each time. The memory is capped at ``LONG_MAX_POINTS`` rather than the
default 2,000,000: at that cap the memory's own eviction sorts every point
on each keyframe (about 0.5 s per keyframe here), and the hour would not
map in minutes; the cap bounds the memory either way, and the bank is what
is measured. Every keyframe's image and depth are new arrays, as a camera
driver's are. Along the way, as the nodes do:

- every ``STEREO_EVERY``-th keyframe comes without depth, so multi-view
  stereo reads its sources from the bank;
- every ``READ_EVERY`` keyframes, ``READS`` keyframes picked at random from
  all so far are read from the bank (retrieval of old places);
- every ``LOOP_EVERY`` keyframes the reconstruction loop (the classical Telea
  generator) runs along ``LOOP_POSES`` poses turning from the newest keyframe:
  retrieval, capture images from the bank, generation; the views it accepts
  are added to the session as the memory node adds the generator's.

Each child samples its own resident set (VmRSS, RssAnon from /proc) every
``SAMPLE_EVERY`` keyframes, with the bank's bytes in RAM, the points in the
memory and the keyframes read back; its peak (VmHWM) comes from
``child_process``. Time is *mapping time*: keyframe ``i`` is taken at
``i / KEYFRAMES_PER_MINUTE`` minutes. Warm-up lasts until the bounded run's
bank first drops a keyframe from RAM and its memory reaches its point cap,
and at least ``WARM_UP_SHARE`` of the run (as the soak, the last half): after
the cap the memory's arrays may still grow once in capacity, when one
keyframe brings more new points than their slack (a step of about 60 MiB at
500,000 points, in both runs alike), and the allocator settles. The slope
after warm-up is the least-squares slope of VmRSS against mapping time from
then on, in MiB per minute, for both runs over the same window; the slope
from the bounds on is reported beside it. The target is under 1 MiB per
minute at the default budget. A run shorter than an hour is extrapolated to
an hour with the slope after warm-up.
"""

import argparse
import json
import math
from pathlib import Path
import shutil
import sys
import tempfile
import time

import numpy as np

from anyrecon_ros.bench.child_process import kill
from anyrecon_ros.bench.child_process import read_peak_mib
from anyrecon_ros.bench.child_process import start_module
from anyrecon_ros.bench.child_process import tail
from anyrecon_ros.core.bounded_bank import BankConfig
from anyrecon_ros.core.bounded_bank import MIB
from anyrecon_ros.core.geometry_memory import MemoryConfig
from anyrecon_ros.core.inpainting import TeleaGenerator
from anyrecon_ros.core.map_session import MapSession
from anyrecon_ros.core.procedural_scene import default_camera
from anyrecon_ros.core.procedural_scene import ProceduralScene
from anyrecon_ros.core.view_bank import CaptureView
from anyrecon_ros.loop.reconstruction import LoopConfig
from anyrecon_ros.loop.reconstruction import ReconstructionLoop

MODULE = 'anyrecon_ros.bench.long_run'
LONG_KEYFRAMES = 3600           # an hour at one keyframe a second
LONG_SECONDS = 540.0            # mapping wall time per run at most (both runs at once)
KEYFRAMES_PER_MINUTE = 60.0
LONG_WIDTH = 640                # 640x480: 2.1 MiB of rgb8 + float32 depth per keyframe
LONG_MAX_POINTS = 500_000
LOOP_FRAMES = 48                # rendered poses per lap
STEREO_EVERY = 100
READ_EVERY = 10
READS = 4
LOOP_EVERY = 120
LOOP_POSES = 4
SAMPLE_EVERY = 20
PROGRESS_EVERY = 100
WARM_UP_SHARE = 0.5
TARGET_MIB_PER_MINUTE = 1.0
# Beyond the mapping time: the renders at start-up, the final save, a busy machine.
TIMEOUT_MARGIN_S = 900.0


def run_long(keyframes: int = LONG_KEYFRAMES, width: int = LONG_WIDTH,
             budget_mib: float = None, max_seconds: float = LONG_SECONDS,
             **child_options) -> dict:
    """Map up to ``keyframes`` keyframes twice at once, at ``budget_mib`` and unbounded.

    Each run stops after ``max_seconds`` of mapping. ``budget_mib`` defaults
    to the parameter's default. ``child_options`` (``stereo_every``,
    ``read_every``, ``loop_every``, ``sample_every``, ``max_points``)
    override the module's constants for both children. Return the figures;
    RuntimeError, with the end of a child's output, when one fails.
    """
    budget_mib = BankConfig().keyframe_ram_mib if budget_mib is None else float(budget_mib)
    runs = {'bounded': budget_mib, 'unbounded': 0.0}
    timeout_s = max_seconds + TIMEOUT_MARGIN_S
    with tempfile.TemporaryDirectory(prefix='anyrecon_bench_long_') as folder:
        folder = Path(folder)
        children = {}
        try:
            for name, budget in runs.items():
                arguments = ['--keyframes', str(keyframes), '--width', str(width),
                             '--budget-mib', repr(budget), '--max-seconds', repr(max_seconds),
                             '--report', str(folder / name)]
                for option, value in child_options.items():
                    arguments += [f'--{option.replace("_", "-")}', str(value)]
                children[name] = start_module(MODULE, arguments, folder / f'{name}.log',
                                              folder / f'{name}.peak')
            deadline = time.monotonic() + timeout_s
            for name, child in children.items():
                try:
                    code = child.wait(timeout=max(1.0, deadline - time.monotonic()))
                except Exception:  # noqa: B902  (TimeoutExpired: report it as the others)
                    code = None
                if code != 0:
                    raise RuntimeError(f'bench --long: the {name} run failed (exit code {code}):'
                                       f'\n{tail(folder / f"{name}.log")}')
        finally:
            for child in children.values():
                kill(child)
        reports = {name: json.loads((folder / name).read_text()) for name in runs}
        peaks = {name: read_peak_mib(folder / f'{name}.peak') for name in runs}
    # Both over the same window of mapping time: from the bounded run's warm-up on.
    bounded = summarise(reports['bounded'], peaks['bounded'])
    unbounded = summarise(reports['unbounded'], peaks['unbounded'],
                          warm_up_minutes=bounded['warm_up_minutes'],
                          bounds_minute=bounded['bounds_minute'])
    figures = {'bounded': bounded, 'unbounded': unbounded}
    figures.update(keyframes=keyframes, width=width, height=width * 3 // 4,
                   keyframes_per_minute=KEYFRAMES_PER_MINUTE,
                   target_mib_per_minute=TARGET_MIB_PER_MINUTE,
                   target_met=bounded['slope_mib_per_min'] < TARGET_MIB_PER_MINUTE,
                   slope_ratio=(unbounded['slope_mib_per_min'] / bounded['slope_mib_per_min']
                                if bounded['slope_mib_per_min'] > 0 else None),
                   hour_rss_ratio=unbounded['rss_hour_mib'] / bounded['rss_hour_mib'])
    return figures


def summarise(report: dict, peak_mib: float, warm_up_minutes: float = None,
              bounds_minute: float = None) -> dict:
    """Add the slopes after warm-up and the hour's extrapolation to a child's report.

    ``bounds_minute`` is where the bank first dropped a keyframe from RAM and
    the memory reached its point cap, whichever came later; warm-up ends
    there, and not before ``WARM_UP_SHARE`` of the run (the memory's arrays
    may still grow once in capacity after the cap, and the allocator
    settles). Both can be given (the unbounded run takes the bounded run's,
    so both slopes cover the same mapping time). ``slope_mib_per_min`` is
    taken after warm-up, ``slope_after_bounds_mib_per_min`` from
    ``bounds_minute`` on.
    """
    samples = report['samples']
    minutes = np.array([s['minute'] for s in samples])
    total_minutes = report['keyframes_mapped'] / KEYFRAMES_PER_MINUTE
    first_evicted = next((s['minute'] for s in samples if s['held'] < s['keyframes']), None)
    capped = next((s['minute'] for s in samples
                   if s['points'] >= 0.99 * report['max_points']), None)
    warmed_up = first_evicted is not None and capped is not None
    if bounds_minute is None:
        bounds_minute = max(first_evicted or 0.0, capped or 0.0)
    if warm_up_minutes is None:
        warm_up_minutes = max(WARM_UP_SHARE * total_minutes, bounds_minute)
    window = minutes > warm_up_minutes
    after_bounds = minutes > bounds_minute
    rss = np.array([s['rss_mib'] for s in samples])
    anon = np.array([s['rss_anon_mib'] for s in samples])
    end = samples[-1]
    slope = _slope(minutes[window], rss[window])
    hour_left = max(0.0, 60.0 - total_minutes)
    return {**report, 'minutes': total_minutes, 'peak_rss_mib': peak_mib,
            'rss_start_mib': samples[0]['rss_mib'], 'rss_end_mib': end['rss_mib'],
            'rss_at_warm_up_mib': float(rss[window][0]) if window.any() else math.nan,
            'warm_up_minutes': warm_up_minutes, 'window_samples': int(window.sum()),
            'bounds_minute': bounds_minute,
            'bank_first_evicted_minute': first_evicted, 'memory_capped_minute': capped,
            # Whether the bank and the memory reached their bounds, and a window is left.
            'warmed_up': bool(warmed_up and window.sum() >= 3),
            'slope_mib_per_min': slope,
            'anon_slope_mib_per_min': _slope(minutes[window], anon[window]),
            'slope_after_bounds_mib_per_min': _slope(minutes[after_bounds], rss[after_bounds]),
            'rss_hour_mib': end['rss_mib'] + slope * hour_left,
            'extrapolated_minutes': hour_left,
            'bank_held_mib_end': end['held_bytes'] / MIB}


def _slope(minutes, values) -> float:
    """Return the least-squares slope of ``values`` against ``minutes``; NaN without two."""
    if len(minutes) < 2 or np.ptp(minutes) <= 0:
        return math.nan
    return float(np.polyfit(minutes, values, 1)[0])


def long_table(figures: dict) -> list:
    """Return the long-run section as markdown lines."""
    b, u = figures['bounded'], figures['unbounded']
    minutes = b['minutes']
    every = 10.0 if minutes >= 20 else max(1.0, round(minutes / 4))
    marks = list(np.arange(0.0, minutes + 1e-9, every)) + (
        [minutes] if minutes % every else [])

    def at(run, minute):
        sample = min(run['samples'], key=lambda s: abs(s['minute'] - minute))
        return f'{sample["rss_mib"]:.0f}'
    budget = 'no bound' if b['budget_mib'] == 0 else f'{b["budget_mib"]:g} MiB'
    extrapolated = (f' (the last {b["extrapolated_minutes"]:.0f} min extrapolated)'
                    if b['extrapolated_minutes'] > 0 else '')
    target = 'met' if figures['target_met'] else 'NOT met'
    warm = '' if b['warmed_up'] else '; NOT warmed up: the bank or memory never filled'
    rows = [
        ('keyframes mapped (one a second)',
         f'{b["keyframes_mapped"]} ({minutes:.1f} min; {figures["width"]}x{figures["height"]}, '
         f'{b["keyframe_bytes"] / MIB:.2f} MiB each in RAM)',
         f'{u["keyframes_mapped"]} ({u["minutes"]:.1f} min)', ''),
        ('mapping wall time (both at once)', f'{b["wall_s"]:.0f} s', f'{u["wall_s"]:.0f} s', ''),
        ('resident set: start / after warm-up / end (MiB)',
         f'{b["rss_start_mib"]:.0f} / {b["rss_at_warm_up_mib"]:.0f} / {b["rss_end_mib"]:.0f}',
         f'{u["rss_start_mib"]:.0f} / {u["rss_at_warm_up_mib"]:.0f} / {u["rss_end_mib"]:.0f}',
         ''),
        (f'slope after warm-up (from minute {b["warm_up_minutes"]:.1f}{warm}), MiB per minute',
         f'{b["slope_mib_per_min"]:+.2f} (heap {b["anon_slope_mib_per_min"]:+.2f}; target '
         f'< {figures["target_mib_per_minute"]:g}: {target})',
         f'{u["slope_mib_per_min"]:+.2f} (heap {u["anon_slope_mib_per_min"]:+.2f})',
         # A ratio to a slope near zero says nothing.
         f'{figures["slope_ratio"]:.0f}x' if b['slope_mib_per_min'] >= 0.1 else ''),
        (f'slope from the bank full and the memory at its cap (minute '
         f'{b["bounds_minute"]:.1f}) on, MiB per minute',
         f'{b["slope_after_bounds_mib_per_min"]:+.2f}',
         f'{u["slope_after_bounds_mib_per_min"]:+.2f}', ''),
        (f'resident set after one hour{extrapolated}', f'{b["rss_hour_mib"]:.0f} MiB',
         f'{u["rss_hour_mib"]:.0f} MiB', f'{figures["hour_rss_ratio"]:.1f}x'),
        ('peak resident set (VmHWM)', f'{b["peak_rss_mib"]:.0f} MiB',
         f'{u["peak_rss_mib"]:.0f} MiB', ''),
        ('keyframe images in RAM at the end', f'{b["bank_held_mib_end"]:.0f} MiB '
                                              f'({b["samples"][-1]["held"]} keyframes)',
         f'{u["bank_held_mib_end"]:.0f} MiB ({u["samples"][-1]["held"]} keyframes)', ''),
        ('keyframes read back from the map file', f'{b["reads"]}', f'{u["reads"]}', ''),
        ('bank full / memory at its cap (minute)', _minute(b['bank_first_evicted_minute'])
         + ' / ' + _minute(b['memory_capped_minute']),
         _minute(u['bank_first_evicted_minute']) + ' / ' + _minute(u['memory_capped_minute']),
         ''),
        ('stereo keyframes / generated views added', f'{b["stereo_keyframes"]} / '
                                                     f'{b["generated_views"]}',
         f'{u["stereo_keyframes"]} / {u["generated_views"]}', ''),
        ('resident set over mapping time (MiB), every '
         f'{every:g} min', ' '.join(at(b, m) for m in marks),
         ' '.join(at(u, m) for m in marks), ''),
    ]
    return ['', f'Long run: a synthetic hour of mapping through MapSession with a map file '
            f'(each run in a child process, both at once; memory max_points '
            f'{b["max_points"]}; resident set = VmRSS sampled every {b["sample_every"]} '
            'keyframes; mapping time = keyframes / 60 per minute):', '',
            f'| figure | keyframe_ram_mib {budget} | no bound | no bound / bounded |',
            '|---|---|---|---|'] + [f'| {name} | {left} | {right} | {ratio} |'
                                    for name, left, right, ratio in rows]


def _minute(value) -> str:
    return 'never' if value is None else f'{value:.0f}'


# ---- the child: one run --------------------------------------------------


def main(argv=None) -> int:
    """Map a synthetic long run through MapSession; write samples and figures as JSON."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument('--keyframes', type=int, default=LONG_KEYFRAMES)
    parser.add_argument('--width', type=int, default=LONG_WIDTH)
    parser.add_argument('--budget-mib', type=float, required=True, help='0: no bound')
    parser.add_argument('--report', required=True, help='JSON file the figures go to')
    parser.add_argument('--stereo-every', type=int, default=STEREO_EVERY, help='0: never')
    parser.add_argument('--read-every', type=int, default=READ_EVERY, help='0: never')
    parser.add_argument('--loop-every', type=int, default=LOOP_EVERY, help='0: never')
    parser.add_argument('--sample-every', type=int, default=SAMPLE_EVERY)
    parser.add_argument('--max-points', type=int, default=LONG_MAX_POINTS)
    parser.add_argument('--max-seconds', type=float, default=LONG_SECONDS,
                        help='stop mapping after this much wall time')
    args = parser.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix='anyrecon_long_run_'))
    try:
        report = map_long_run(args, folder / 'long.map')
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    Path(args.report).write_text(json.dumps(report) + '\n')
    return 0


def map_long_run(args, map_path: Path) -> dict:
    """Map ``args.keyframes`` keyframes into a session on ``map_path``; return the samples."""
    scene = ProceduralScene(seed=0)
    camera = default_camera().scaled(args.width, args.width * 3 // 4)
    poses = scene.camera_path(LOOP_FRAMES)
    frames = [scene.render(camera, pose) for pose in poses]
    drops = {}

    def on_drop(reason, text):
        drops[reason] = drops.get(reason, 0) + 1
    session = MapSession(MemoryConfig(max_points=args.max_points), map_path=str(map_path),
                         on_drop=on_drop, bank_config=BankConfig(keyframe_ram_mib=args.budget_mib))
    generator = TeleaGenerator()
    loop_config = LoopConfig(segment_length=LOOP_POSES, segment_overlap=0)
    rng = np.random.default_rng(0)
    samples, stereo, generated, mapped = [], 0, 0, 0
    start = time.monotonic()
    for index in range(args.keyframes):
        lap, position = divmod(index, len(poses))
        pose = _lap_offset(lap) @ poses[position]
        rgb, depth = frames[position]
        without_depth = args.stereo_every and index % args.stereo_every == args.stereo_every - 1
        stereo += bool(without_depth)
        # New arrays for every keyframe, as a camera driver's messages are.
        session.add_keyframe(CaptureView(view_id=index, rgb=rgb.copy(), camera=camera,
                                         camera_to_world=pose,
                                         depth=None if without_depth else depth.copy(),
                                         stamp_ns=index * 1_000_000_000))
        if args.read_every and index % args.read_every == args.read_every - 1:
            for view_id in rng.integers(0, index + 1, READS):
                session.bank[int(view_id)]
        if args.loop_every and index % args.loop_every == args.loop_every - 1:
            loop = ReconstructionLoop(session.memory, session.bank, generator, loop_config,
                                      render_fidelity=session.render_fidelity)
            for frame in loop.run(camera, _turning(pose, LOOP_POSES)):
                if frame.depth is not None:
                    generated += session.add_generated(frame)
        mapped = index + 1
        elapsed = time.monotonic() - start
        last = mapped == args.keyframes or elapsed >= args.max_seconds
        if mapped % args.sample_every == 0 or last:
            samples.append(_sample(mapped, elapsed, session))
        if mapped % PROGRESS_EVERY == 0 or last:
            print(f'{mapped} keyframes in {elapsed:.0f} s: {samples[-1]["rss_mib"]:.0f} MiB '
                  f'resident, {samples[-1]["held"]} keyframes in RAM', flush=True)
        if last:
            break
    wall_s = time.monotonic() - start
    bank = session.bank
    figures = {'keyframes': args.keyframes, 'keyframes_mapped': mapped,
               'max_seconds': args.max_seconds, 'budget_mib': args.budget_mib,
               'keyframe_bytes': camera.width * camera.height * (3 + 4),
               'max_points': args.max_points, 'sample_every': args.sample_every,
               'wall_s': wall_s, 'reads': bank.reads, 'stereo_keyframes': stereo,
               'generated_views': generated, 'drops': drops, 'samples': samples,
               'stored_keyframes': len(session.store.keyframe_ids())}
    session.close()
    return figures


def _sample(keyframes: int, wall_s: float, session) -> dict:
    status = {}
    with open('/proc/self/status') as stream:
        for line in stream:
            name, _, value = line.partition(':')
            if name in ('VmRSS', 'RssAnon'):
                status[name] = float(value.split()[0]) / 1024.0
    bank = session.bank
    return {'keyframes': keyframes, 'minute': keyframes / KEYFRAMES_PER_MINUTE,
            'wall_s': round(wall_s, 2), 'rss_mib': round(status['VmRSS'], 1),
            'rss_anon_mib': round(status.get('RssAnon', math.nan), 1),
            'held': bank.held_count, 'held_bytes': bank.held_bytes,
            'points': len(session.memory), 'reads': bank.reads}


def _lap_offset(lap: int) -> np.ndarray:
    """Return the translation that moves lap ``lap`` of the camera path 1 m further along x."""
    offset = np.eye(4)
    offset[0, 3] = float(lap)
    return offset


def _turning(pose: np.ndarray, count: int) -> np.ndarray:
    """Return ``count`` poses turning from ``pose`` about its optical y axis, 10 degrees apart."""
    poses = []
    for angle in np.radians(10.0 * np.arange(1, count + 1)):
        turn = np.eye(4)
        turn[:3, :3] = [[np.cos(angle), 0.0, np.sin(angle)], [0.0, 1.0, 0.0],
                        [-np.sin(angle), 0.0, np.cos(angle)]]
        poses.append(pose @ turn)
    return np.array(poses)


if __name__ == '__main__':
    sys.exit(main())
