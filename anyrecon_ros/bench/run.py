# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``anyrecon bench``: speed figures measured side by side in one run (``run_bench``).

Every figure is the median of repeated runs, and each of ours stands beside the
nearest equivalent of a reference library (open3d; sensor_msgs_py, cv_bridge
and tf_transformations for the conversions) on the same data, in the same
process, so ratios hold even on a busy machine. The sections are ``geometry``
(``bench.geometry``), ``generator`` (``bench.generator``), ``ros`` and
``demo_memory`` (``bench.ros_throughput``), ``conversions``
(``bench.conversions``), ``soak`` (``bench.soak``) and
``long`` (``bench.long_run``); each is imported only when it runs. Results go
to ``bench.json`` and ``bench.md``.
"""

from dataclasses import dataclass
import json
import os
from pathlib import Path
import platform


def bench_geometry_section(quick: bool) -> dict:
    """Keyframe insert, 1M-point render and retrieval beside open3d (``geometry``)."""
    from anyrecon_ros.bench.geometry import bench_geometry
    return bench_geometry(quick)


def bench_generator_section(quick: bool) -> dict:
    """Denoiser call and generation of a tiny generator (``generator.bench_generator``)."""
    from anyrecon_ros.bench.generator import bench_generator
    return bench_generator(quick)


def bench_ros_section(quick: bool) -> dict:
    """ROS 2 message throughput (``bench_ros``; rclpy is only loaded when it runs)."""
    from anyrecon_ros.bench.ros_throughput import bench_ros
    return bench_ros(quick)


def bench_conversions_section(quick: bool) -> dict:
    """Conversions beside sensor_msgs_py, cv_bridge, tf_transformations (``conversions``)."""
    from anyrecon_ros.bench.conversions import bench_conversions
    return bench_conversions(quick)


def bench_demo_memory_section(quick: bool) -> dict:
    """Peak memory of the demo (``ros_throughput.bench_demo_memory``)."""
    from anyrecon_ros.bench.ros_throughput import bench_demo_memory
    return bench_demo_memory(quick)


# The soak streams for ten minutes: only ``--soak`` (or ``--sections soak``) runs it.
SOAK_SECONDS = 600.0


def bench_soak_section(quick: bool) -> dict:
    """Stream 30 Hz RGB-D into memory_node for ten minutes (``soak.run_soak``)."""
    from anyrecon_ros.bench.soak import run_soak
    return run_soak(SOAK_SECONDS)


def bench_long_section(quick: bool) -> dict:
    """Map a synthetic hour, bounded and unbounded keyframe bank (``long_run.run_long``)."""
    from anyrecon_ros.bench.long_run import run_long
    return run_long()


# The soak and the long run take minutes: only ``--soak`` and ``--long`` (or
# ``--sections``) run them.
SECTIONS = {'geometry': bench_geometry_section, 'generator': bench_generator_section,
            'ros': bench_ros_section, 'conversions': bench_conversions_section,
            'demo_memory': bench_demo_memory_section, 'soak': bench_soak_section,
            'long': bench_long_section}
DEFAULT_SECTIONS = ('geometry', 'generator', 'ros', 'conversions', 'demo_memory')


@dataclass
class BenchSettings:
    """What ``run_bench`` measures and where it writes."""

    out: Path = Path('bench')           # folder for bench.json and bench.md
    quick: bool = False                 # fewer repeats
    sections: tuple = DEFAULT_SECTIONS  # names in SECTIONS, run in this order


def run_bench(settings: BenchSettings) -> dict:
    """Run the benchmark sections; write ``bench.json`` and ``bench.md`` into ``settings.out``."""
    out = Path(settings.out)
    out.mkdir(parents=True, exist_ok=True)
    results = {'machine': machine_description(), 'quick': settings.quick}
    for name in settings.sections or DEFAULT_SECTIONS:
        print(f'anyrecon bench: {name} ...', flush=True)
        results[name] = SECTIONS[name](settings.quick)
    (out / 'bench.json').write_text(json.dumps(results, indent=2) + '\n')
    (out / 'bench.md').write_text(markdown_table(results))
    return results


def machine_description() -> dict:
    """Describe the machine the figures were measured on."""
    import numpy as np
    import open3d
    import torch
    cpu = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as stream:
            cpu = next(line.split(':', 1)[1].strip() for line in stream
                       if line.startswith('model name'))
    except (OSError, StopIteration):
        pass
    return {'cpu': cpu, 'cores': os.cpu_count(), 'python': platform.python_version(),
            'numpy': np.__version__, 'open3d': open3d.__version__, 'torch': torch.__version__,
            'platform': platform.platform()}


def markdown_table(results: dict) -> str:
    """Return the results as markdown: the machine, then one table per section."""
    machine = results['machine']
    lines = [f'Machine: {machine["cpu"]}, {machine["cores"]} cores, Python {machine["python"]}, '
             f'numpy {machine["numpy"]}, open3d {machine["open3d"]}. Medians in ms.', '']
    if results.get('geometry'):
        from anyrecon_ros.bench.geometry import geometry_table
        lines += geometry_table(results['geometry'])
    if results.get('generator'):
        from anyrecon_ros.bench.generator import generator_table
        lines += generator_table(results['generator'])
    if results.get('ros') or results.get('demo_memory'):
        from anyrecon_ros.bench.ros_throughput import demo_memory_table
        from anyrecon_ros.bench.ros_throughput import ros_table
        if results.get('ros'):
            lines += ros_table(results['ros'])
        if results.get('demo_memory'):
            lines += demo_memory_table(results['demo_memory'])
    if results.get('conversions'):
        from anyrecon_ros.bench.conversions import conversions_table
        lines += conversions_table(results['conversions'])
    if results.get('soak'):
        from anyrecon_ros.bench.soak import soak_table
        lines += soak_table(results['soak'])
    if results.get('long'):
        from anyrecon_ros.bench.long_run import long_table
        lines += long_table(results['long'])
    return '\n'.join(lines) + '\n'
