# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Child processes the bench measures: a Python module run with its own peak memory.

Every bench section that runs something in another process goes through
here: the demo's memory (``measure_module``), the subscriber of the
two-process throughput and the soak's memory_node (``start_module``). The
child's resident set is its own, read from /proc while it runs
(``rss_sample``, ``cpu_seconds``) and, for its peak, written by the child
itself at exit (``PEAK_WRAPPER``, ``read_peak_mib``). ``ros_environment``
gives the children a DDS graph of their own.
"""

import contextlib
import math
import os
from pathlib import Path
import signal
import subprocess
import sys
import time

from anyrecon_ros.ros.middleware import configure_dds_environment
from anyrecon_ros.ros.middleware import FASTDDS_PROFILE_VARIABLE

# ``python -c PEAK_WRAPPER PEAK_FILE MODULE ARGS...`` runs ``python -m MODULE ARGS...`` and, at
# exit, writes the process's VmHWM (its resident high-water mark, KiB). Linux carries a
# parent's peak into a child's ru_maxrss across fork and exec, so wait4 would report the
# bench's own peak whenever that is the larger; VmHWM belongs to the new program alone.
PEAK_WRAPPER = """\
import atexit, runpy, sys
def report(path=sys.argv[1]):
    with open('/proc/self/status') as status:
        peak = next(line.split()[1] for line in status if line.startswith('VmHWM:'))
    with open(path, 'w') as out:
        out.write(peak)
atexit.register(report)
sys.argv = sys.argv[2:]
runpy.run_module(sys.argv[0], run_name='__main__', alter_sys=True)
"""
# Resident-set figures ``rss_sample`` reads, after the sample's time.
RSS_COLUMNS = ('t_s', 'VmRSS', 'RssAnon', 'RssShmem')


def start_module(module: str, arguments: list, log_path: Path,
                 peak_path: Path = None) -> subprocess.Popen:
    """Start ``python -m module arguments``, its output (both streams) to ``log_path``.

    With ``peak_path`` the child writes its peak resident set (KiB) there at
    exit (see ``read_peak_mib``).
    """
    if peak_path is None:
        command = [sys.executable, '-m', module, *arguments]
    else:
        command = [sys.executable, '-c', PEAK_WRAPPER, str(peak_path), module, *arguments]
    with open(log_path, 'w') as log:
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)


def read_peak_mib(peak_path: Path) -> float:
    """Return the peak resident set (MiB) a child wrote, NaN if it was killed before it could."""
    peak_path = Path(peak_path)
    return float(peak_path.read_text()) / 1024.0 if peak_path.exists() else math.nan


def measure_module(module: str, arguments: list, log_path: Path, timeout: float) -> dict:
    """Run ``python -m module arguments`` (output to ``log_path``); measure its peak memory.

    Return its exit code, its peak resident set in MiB (NaN if it was killed
    before it could report it) and its wall time. On timeout it is killed
    and RuntimeError raised.
    """
    peak_path = Path(log_path).with_suffix('.peak')
    start = time.monotonic()
    process = start_module(module, arguments, log_path, peak_path)
    try:
        code = process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f'python -m {module} did not finish in {timeout:.0f} s:\n'
                           f'{tail(log_path)}') from None
    finally:
        kill(process)
    return {'exit_code': code, 'peak_rss_mib': read_peak_mib(peak_path),
            'wall_s': time.monotonic() - start}


def stop(process: subprocess.Popen, timeout: float) -> int:
    """Stop a child as Ctrl-C would (a node exits cleanly and reports its peak); kill if stuck.

    Return its exit code.
    """
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill(process)
        return process.returncode


def kill(process: subprocess.Popen) -> None:
    """Kill a child that is still running, and reap it."""
    if process is not None and process.poll() is None:
        process.kill()
        process.wait()


def tail(path: Path, lines: int = 30) -> str:
    """Return the last ``lines`` lines of a child's log."""
    try:
        return '\n'.join(Path(path).read_text(errors='replace').splitlines()[-lines:])
    except OSError:
        return '(no output)'


def rss_sample(pid: int, t: float):
    """Return [t, VmRSS, RssAnon, RssShmem] (MiB) of process ``pid``, or None once it is gone.

    RssShmem is mostly Fast DDS's shared-memory segments, RssAnon the heap.
    """
    fields = {}
    try:
        with open(f'/proc/{pid}/status') as status:
            for line in status:
                name, _, value = line.partition(':')
                if name in RSS_COLUMNS:
                    fields[name] = round(float(value.split()[0]) / 1024.0, 1)
    except OSError:
        return None
    if 'VmRSS' not in fields:
        return None
    return [round(t, 2)] + [fields.get(name, math.nan) for name in RSS_COLUMNS[1:]]


def cpu_seconds(pid: int) -> float:
    """Return the user + system CPU seconds process ``pid`` has used (NaN once it is gone)."""
    try:
        with open(f'/proc/{pid}/stat') as stat:
            fields = stat.read().rsplit(')', 1)[1].split()
    except OSError:
        return math.nan
    # utime and stime are fields 14 and 15 of stat(5); fields[0] here is field 3.
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


@contextlib.contextmanager
def ros_environment():
    """Isolate the bench's DDS graph (localhost, a domain of its own), restored afterwards.

    Set before any rclpy context exists and inherited by the child processes;
    the shared-memory profile carries large messages between processes.
    """
    names = ('ROS_AUTOMATIC_DISCOVERY_RANGE', 'ROS_DOMAIN_ID', FASTDDS_PROFILE_VARIABLE)
    saved = {name: os.environ.get(name) for name in names}
    os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
    # As test/conftest.py does: concurrent runs (and the tests) rarely share a domain.
    os.environ['ROS_DOMAIN_ID'] = str(1 + os.getpid() % 100)
    configure_dds_environment()
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
