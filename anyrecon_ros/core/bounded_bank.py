# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The keyframe bank of a mapping session, bounded in RAM: the rest lives in a map store.

Every keyframe keeps its image and depth (about 2.1 MiB at 640x480), so a
bank that holds them all grows by that much per keyframe for as long as a
camera finds new views. ``BoundedViewBank`` holds at most ``budget_bytes`` of
keyframe images and depth in RAM, the most recently added or used first (one
LRU: the newest keyframes and those read back lately share the budget).
Beyond it, keyframes live only in the map store and are read back, checked
against their CRC, when retrieval, stereo or generation asks for them
(``bank[view_id]``). Ids, cameras and poses of every keyframe stay in RAM
(``placements()``, a few hundred bytes each).

A keyframe leaves RAM only once the store holds it:

- with a map file, the mapping session writes every keyframe there (its
  guarantees: one transaction, a CRC per row, retried after a full disk) and
  then calls ``mark_stored``; a keyframe whose write failed or conflicts with
  a stored one stays in RAM;
- without one, the bank writes the keyframe it is about to drop to a
  temporary store of its own (a map file in a temporary folder, without the
  flush to disk at each commit), made on first need and deleted by
  ``close`` (or when the bank is garbage collected, or at exit). A keyframe
  whose write fails stays in RAM and is reported once
  (``bank_write_failed``).

So a budget smaller than one keyframe still loses nothing; it only means
reading back more often. A keyframe read back is bit for bit what the store
holds: image, pose, intrinsics and stamp as they were added, depth as a map
file keeps it, in whole millimetres (``map_store.stored_depth``; depth from
a 16-bit depth image is that already, stereo depth is rounded to it, as a
resumed map's always was). Nothing reads a bank keyframe's depth to map:
stereo matches images, retrieval asks the memory, generation is conditioned
on images.
"""

from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
import shutil
import sqlite3
import tempfile
import threading
from typing import Callable, Optional
import weakref

import cv2

from anyrecon_ros.core.config_fields import check_ranges
from anyrecon_ros.core.config_fields import setting
from anyrecon_ros.core.map_store import MapStore
from anyrecon_ros.core.view_bank import CaptureView
from anyrecon_ros.core.view_bank import KeyframePlacement
from anyrecon_ros.core.view_bank import ViewBank

MIB = 1024 * 1024
# What writing to or reading from a store can raise (a full disk, a damaged row).
STORE_ERRORS = (ValueError, KeyError, TypeError, OSError, sqlite3.Error, cv2.error)
TEMPORARY_PREFIX = 'anyrecon_bank_'


@dataclass(frozen=True)
class BankConfig:
    """How much of the keyframe bank stays in RAM."""

    keyframe_ram_mib: float = setting(
        256.0, 'MiB of keyframe images and depth kept in RAM; older keyframes live only in '
        'the map file (a temporary one without map_path) and are read back when needed; 0: no '
        'bound.', (0.0, 1048576.0))

    def __post_init__(self):
        check_ranges(self)

    @property
    def budget_bytes(self) -> int:
        """Return the budget in bytes; 0 means no bound."""
        return int(self.keyframe_ram_mib * MIB)


class BankReadError(ValueError):
    """A keyframe the bank holds only in its store could not be read back."""


class BoundedViewBank(ViewBank):
    """Keyframes by id in insertion order, at most ``budget_bytes`` of them in RAM (0: no bound).

    ``store`` is the map store keyframes are read back from, written by the
    caller, who calls ``mark_stored`` once a keyframe is there; without one
    the bank writes to a temporary store of its own. ``on_drop(reason,
    text)`` hears about keyframes that could not be written
    (``bank_write_failed``). Safe to call from several threads.
    """

    def __init__(self, budget_bytes: int = 0, store: Optional[MapStore] = None,
                 on_drop: Optional[Callable[[str, str], None]] = None):
        if budget_bytes < 0:
            raise ValueError(f'budget_bytes must be >= 0 (0: no bound), got {budget_bytes}')
        self.budget_bytes = int(budget_bytes)
        self.store = store
        self.on_drop = on_drop or (lambda reason, text: None)
        self.held_bytes = 0        # image and depth bytes of the keyframes in RAM
        self.reads = 0             # keyframes read back from the store
        self._writes = store is None   # the bank writes to a temporary store of its own
        self._cleanup = None       # removes that store and its folder
        self._placements = {}      # every keyframe: id -> KeyframePlacement, insertion order
        self._held = OrderedDict()  # keyframes in RAM, least recently used first
        self._stored = set()       # ids the store holds: these may leave RAM
        self._unwritten = set()    # ids whose write failed (reported once each)
        self._lock = threading.RLock()

    @property
    def bounded(self) -> bool:
        """Return whether the bank keeps to a budget (False: every keyframe stays in RAM)."""
        return self.budget_bytes > 0

    @property
    def held_count(self) -> int:
        """Return how many keyframes are in RAM now."""
        return len(self._held)

    def held_ids(self) -> list:
        """Return the ids of the keyframes in RAM, least recently used first."""
        with self._lock:
            return list(self._held)

    # ---- adding ----------------------------------------------------------

    def add(self, view: CaptureView) -> CaptureView:
        """Add a keyframe and return it; an id that is already there is refused."""
        with self._lock:
            if view.view_id in self._placements:
                raise KeyError(f'a view with id {view.view_id} is already in the bank')
            self._placements[view.view_id] = KeyframePlacement.of(view)
            self._hold(view)
            self._evict()
            return view

    def add_stored(self, placement: KeyframePlacement) -> None:
        """Add a keyframe only the store holds (a map being resumed): read back when asked for."""
        with self._lock:
            if self.store is None:
                raise ValueError('a keyframe only a store holds needs the bank to have a store')
            if placement.view_id in self._placements:
                raise KeyError(f'a view with id {placement.view_id} is already in the bank')
            self._placements[placement.view_id] = placement
            self._stored.add(placement.view_id)

    def mark_stored(self, view_id: int) -> None:
        """Note that the store now holds keyframe ``view_id``, so it may leave RAM."""
        with self._lock:
            if view_id in self._placements:
                self._stored.add(view_id)
                self._evict()

    # ---- reading ---------------------------------------------------------

    def __len__(self):
        return len(self._placements)

    def __contains__(self, view_id):
        return view_id in self._placements

    def __getitem__(self, view_id) -> CaptureView:
        """Return the keyframe, read back from the store if it is not in RAM.

        KeyError for an id the bank does not hold; BankReadError when the
        store cannot give it back (a damaged row, a vanished file).
        """
        with self._lock:
            view = self._held.get(view_id)
            if view is not None:
                self._held.move_to_end(view_id)
                return view
            if view_id not in self._placements:
                raise KeyError(view_id)
            view = self._read(view_id)
            self._hold(view)
            self._evict()
            return view

    def ids(self) -> list:
        """Return the keyframe ids in insertion order."""
        with self._lock:
            return list(self._placements)

    def placements(self) -> list:
        """Return id, camera, pose and stamp of every keyframe in insertion order (no images)."""
        with self._lock:
            return list(self._placements.values())

    def views(self) -> list:
        """Return every keyframe, whole, in insertion order: reads back all that are not in RAM.

        The keyframes read back are not kept (they would only push out the
        ones in use); for a long map prefer ``placements()`` and ``bank[id]``.
        """
        with self._lock:
            return [self._held[view_id] if view_id in self._held else self._read(view_id)
                    for view_id in self._placements]

    # ---- closing ---------------------------------------------------------

    def close(self) -> None:
        """Close and delete the bank's own temporary store, if any; a given store stays open."""
        with self._lock:
            if self._cleanup is not None:
                self._cleanup()
                self._cleanup = None
                self.store = None

    # ---- helpers ---------------------------------------------------------

    def _hold(self, view):
        self._held[view.view_id] = view
        self._held.move_to_end(view.view_id)
        self.held_bytes += view.image_bytes

    def _read(self, view_id) -> CaptureView:
        try:
            if self.store is None:
                raise ValueError('the bank has no store (closed?)')
            view = self.store.keyframe(view_id, verify=True)
        except STORE_ERRORS as error:
            where = self.store.path if self.store is not None else 'the bank'
            raise BankReadError(f'keyframe {view_id} could not be read back from {where}: '
                                f'{error}') from None
        self.reads += 1
        return view

    def _evict(self):
        """Drop the least recently used stored keyframes from RAM until the budget holds."""
        if not self.bounded:
            return
        error = None
        for view_id in list(self._held):
            if self.held_bytes <= self.budget_bytes:
                return
            if view_id not in self._stored:
                if not self._writes:
                    continue   # the caller is storing it (the map file): it stays until then
                # Written first. After one failure in a pass the rest are not
                # tried (a full disk fails them all), only reported.
                if error is None:
                    error = self._write(self._held[view_id])
                if error is not None:
                    self._report_unwritten(view_id, error)
                    continue
            self.held_bytes -= self._held.pop(view_id).image_bytes

    def _write(self, view):
        """Write a keyframe to the bank's temporary store; return None, or the error."""
        try:
            if self.store is None:
                self.store, self._cleanup = _temporary_store(self)
            self.store.add_keyframe(view)
        except STORE_ERRORS as error:
            return error
        self._unwritten.discard(view.view_id)
        self._stored.add(view.view_id)
        return None

    def _report_unwritten(self, view_id, error):
        """Report, once per keyframe, one that should leave RAM but could not be written."""
        if view_id not in self._unwritten:
            self._unwritten.add(view_id)
            self.on_drop('bank_write_failed', f'keyframe {view_id} could not be written to the '
                         f"keyframe bank's temporary store ({error}); kept in RAM and written "
                         'when there is room')


def _temporary_store(owner):
    """Return a new store in a temporary folder and a callable that closes and deletes both.

    The callable also runs when ``owner`` is garbage collected or the
    interpreter exits, so the folder does not outlive the process (unless
    it is killed).
    """
    folder = tempfile.mkdtemp(prefix=TEMPORARY_PREFIX)
    try:
        store = MapStore(Path(folder) / 'keyframes.map', durable=False)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return store, weakref.finalize(owner, _close_and_remove, store, folder)


def _close_and_remove(store, folder):
    store.close()
    shutil.rmtree(folder, ignore_errors=True)
