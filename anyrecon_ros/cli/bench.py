# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``anyrecon bench``: speed figures side by side with references (``bench.run.run_bench``)."""

from pathlib import Path

from anyrecon_ros.bench.run import BenchSettings
from anyrecon_ros.bench.run import DEFAULT_SECTIONS
from anyrecon_ros.bench.run import SECTIONS


def add_parser(commands) -> None:
    """Register ``anyrecon bench`` with the subcommands' ``add_subparsers`` object."""
    bench = commands.add_parser('bench', help='measure speed, side by side with references')
    bench.add_argument('--quick', action='store_true', help='fewer repeats')
    bench.add_argument('--out', default='bench', help='folder for bench.json and bench.md')
    bench.add_argument('--sections', nargs='+', choices=list(SECTIONS),
                       help='run only these sections (default: all but soak and long)')
    bench.add_argument('--soak', action='store_true',
                       help='also stream 640x480 RGB-D at 30 Hz into memory_node for ten '
                            'minutes (drops, point cap, resident-set plateau)')
    bench.add_argument('--long', action='store_true',
                       help='also map a synthetic hour (up to 3600 640x480 keyframes, about '
                            'ten minutes; the rest extrapolated) at the default keyframe RAM '
                            'budget and without a bound, side by side: resident memory over '
                            'time and its slope after warm-up')
    bench.set_defaults(run=run)


def run(args) -> int:
    """Run ``anyrecon bench``; print bench.md."""
    from anyrecon_ros.bench.run import run_bench
    sections = list(args.sections or DEFAULT_SECTIONS)
    for name in ('soak', 'long'):
        if getattr(args, name) and name not in sections:
            sections.append(name)
    results = run_bench(BenchSettings(out=Path(args.out), quick=args.quick,
                                      sections=tuple(sections)))
    print((Path(args.out) / 'bench.md').read_text())
    return 0 if results else 1
