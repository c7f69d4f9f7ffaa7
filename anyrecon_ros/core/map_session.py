# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""A mapping session: the geometry memory, the keyframe bank and the map file, kept together.

This is the core the memory node calls, one call per callback or service (as
nvblox_ros calls its mapper): ``add_frame`` (a posed camera frame, selected or
not), ``add_keyframe`` (a ready-made keyframe), ``add_generated``, ``save``,
``load``, ``reset`` and ``close``. Captured keyframes and generated views go
through the same path: fused into the memory, then stored in the map file.

The stored map is never silently replaced by an emptier memory: a session
opened on an existing map resumes it (``load``), and after a ``reset`` that
keeps the file, saving is refused until the map is loaded again or cleared
on purpose (``reset(clear_map=True)``).

The keyframe bank is bounded in RAM (``BankConfig.keyframe_ram_mib``,
``core.bounded_bank``): a keyframe leaves RAM once the map file holds it
(without a map file, once the bank's temporary store does) and is read back
when retrieval, stereo or generation needs it. Loading a map reads only the
keyframes' ids, cameras and poses, and the views the saved memory lacks.
"""

from functools import partial
from itertools import chain
import sqlite3
from types import SimpleNamespace
from typing import Callable, Optional

import cv2

from anyrecon_ros.core.bounded_bank import BankConfig
from anyrecon_ros.core.bounded_bank import BoundedViewBank
from anyrecon_ros.core.geometry_memory import GeometryMemory
from anyrecon_ros.core.geometry_memory import MemoryConfig
from anyrecon_ros.core.map_store import MapStore
from anyrecon_ros.core.mapping import Mapper
from anyrecon_ros.core.mapping import MappingConfig
from anyrecon_ros.core.view_bank import CaptureView
from anyrecon_ros.core.view_bank import GeneratedFrame

# What reading or writing a damaged, foreign or unwritable map file can raise.
MAP_ERRORS = (ValueError, KeyError, TypeError, OSError, sqlite3.Error, cv2.error)


class MapSessionError(ValueError):
    """A map operation that was refused or failed; the session is unchanged."""


class MapSession:
    """Fuse keyframes and generated views into one memory and keep them in a map file.

    ``on_drop(reason, text)`` hears about every input that was not fused or
    not stored, with a short reason (the memory node counts them in
    ``~/status``).
    """

    def __init__(self, memory_config: MemoryConfig = MemoryConfig(),
                 mapping_config: MappingConfig = MappingConfig(), map_path: str = '',
                 on_drop: Optional[Callable[[str, str], None]] = None,
                 bank_config: BankConfig = BankConfig()):
        self.memory_config = memory_config
        self.mapping_config = mapping_config
        self.bank_config = bank_config
        self.on_drop = on_drop or (lambda reason, text: None)
        self.generated = []   # camera and pose of every generated view held, for markers
        self.generated_views_fused = 0
        # Writes to the map file that failed (a full disk): retried, in order,
        # before every later write and at save, so nothing is lost once it works.
        self.unstored = []
        self._last_error = None
        self.store = _open_store(map_path) if map_path else None
        self.mapper = None
        self._use(GeometryMemory(memory_config), self._new_bank(), next_id=0)
        # Whether the memory holds everything the map file's saved memory holds,
        # so that saving it cannot lose stored geometry.
        self.holds_stored_map = True
        if self.store is not None and self.store.keyframe_ids():
            try:
                self.load()
            except MapSessionError:
                self.store.close()
                raise

    @property
    def memory(self) -> GeometryMemory:
        """Return the geometry memory; ``reset`` and ``load`` replace it."""
        return self.mapper.memory

    @property
    def bank(self) -> BoundedViewBank:
        """Return the bank of keyframes; ``reset`` and ``load`` replace it."""
        return self.mapper.bank

    @property
    def next_id(self) -> int:
        """Return the id the next selected keyframe gets."""
        return self.mapper.next_id

    @property
    def render_fidelity(self):
        """Return the keyframes' median PSNR against the memory's render (None: not measured).

        Measured on keyframes added since the session (re)started: a map
        loaded from its file starts unmeasured, and the gate's fixed bar holds.
        """
        return self.mapper.render_fidelity.value()

    # ---- input -----------------------------------------------------------

    def add_frame(self, view: CaptureView) -> Optional[CaptureView]:
        """Add a posed camera frame if the selector takes it as a keyframe; return it, or None."""
        keyframe = self.mapper.consider(view)
        if keyframe is not None:
            self._store_keyframe(keyframe)
        return keyframe

    def add_keyframe(self, view: CaptureView) -> Optional[CaptureView]:
        """Add a ready-made keyframe (no selection); return it with its depth, or None."""
        if view.view_id in self.bank:
            self.on_drop('duplicate_id', f'keyframe id {view.view_id} was already received')
            return None
        keyframe = self.mapper.add_keyframe(view)
        if keyframe is not None:
            self._store_keyframe(keyframe)
        return keyframe

    def add_generated(self, frame: GeneratedFrame) -> bool:
        """Fuse a generated view (at the generated weight) and store it; False if dropped."""
        what = f'generated view {frame.segment_id}/{frame.index}'
        if frame.camera.has_distortion:
            self.on_drop('bad_camera_info', f'dropped {what}: generated views must be pinhole '
                         '(no distortion)')
            return False
        unknown = sorted({view_id for view_id in frame.reference_ids
                          if view_id not in self.bank})
        if unknown:
            # Generated from keyframes this map does not hold (another map, or
            # before a reset): its content would not belong here.
            self.on_drop('unknown_reference', f'dropped {what}: it names keyframes {unknown} '
                         'this memory does not hold')
            return False
        try:
            self.memory.insert_view(frame)
        except ValueError as error:
            self.on_drop('fusion_failed', f'dropped {what}: {error}')
            return False
        if frame.depth is not None:
            self.generated_views_fused += 1
        self.generated.append(_placement(frame))
        self._store(lambda store: store.add_generated(frame), what)
        return True

    # ---- the map file ----------------------------------------------------

    def save(self) -> str:
        """Save the memory to the map file (views are stored as they arrive); return a summary."""
        store = self._require_store('save')
        if not self._store_pending():
            raise MapSessionError(f'not saved: {len(self.unstored)} view(s) could not be stored '
                                  f'in {store.path} yet (see map_write_failed); retried at the '
                                  'next save')
        if not self.holds_stored_map:
            raise MapSessionError(
                f'not saved: the memory was reset and no longer holds the map saved in '
                f'{store.path}; load it first, or reset with clear_map to start the file anew')
        try:
            store.save_memory(self.memory)
        except MAP_ERRORS as error:
            raise MapSessionError(f'saving to {store.path} failed: {error}') from None
        return (f'saved {len(self.memory)} points; {len(store.keyframe_ids())} keyframes in '
                f'{store.path}')

    def load(self) -> str:
        """Replace the memory, keyframes and generated views with the map file's; return a summary.

        On failure nothing is replaced: the session keeps what it had.
        """
        store = self._require_store('load')
        try:
            # Every stored view is checked (CRC) now, so a damaged map is refused
            # here; the keyframes' images are read back only when needed.
            damaged = store.verify_views()
            if damaged:
                raise ValueError(f'{len(damaged)} damaged row(s): {"; ".join(damaged[:3])}')
            placements = store.keyframe_placements()
            generated = store.generated_placements()
            memory = store.load_memory()
            if memory is None:
                memory = _fused(GeometryMemory(self.memory_config), store.keyframes(),
                                store.generated())
            else:
                # Views stored after the last save (a crash lost them from memory).
                memory = _fused(memory, *store.views_after_memory())
        except MAP_ERRORS as error:
            raise MapSessionError(f'loading {store.path} failed: {error}') from None
        bank = self._new_bank()
        for placement in placements:
            bank.add_stored(placement)
        self._use(memory, bank, self.next_id)
        self.generated = generated
        self.holds_stored_map = True
        return (f'loaded {len(memory)} points, {len(placements)} keyframes and {len(generated)} '
                f'generated views from {store.path}')

    def reset(self, clear_map: bool = False) -> str:
        """Forget the memory, keyframes and generated views; with ``clear_map`` the file's too."""
        if clear_map:
            store = self._require_store('clear')
            try:
                store.clear()
            except MAP_ERRORS as error:
                raise MapSessionError(f'clearing {store.path} failed: {error}') from None
        self._use(GeometryMemory(self.memory_config), self._new_bank(), self.next_id)
        self.generated = []
        self.holds_stored_map = self.store is None or not self.store.keyframe_ids()
        if clear_map:
            return f'memory, keyframes and the map file {self.store.path} cleared'
        if self.store is None:
            return 'memory and keyframes cleared'
        return (f'memory and keyframes cleared; the map file {self.store.path} keeps its saved '
                'map (load it again, or reset with clear_map to clear it)')

    def close(self) -> str:
        """Save the memory if that loses nothing, close the map file; return what happened.

        The keyframe bank's temporary store, if it made one, is deleted.
        """
        self.bank.close()
        if self.store is None:
            return 'no map file'
        try:
            return self.save()
        except MapSessionError as error:
            return str(error)
        finally:
            self.store.close()
            self.store = None

    # ---- helpers ---------------------------------------------------------

    def _new_bank(self) -> BoundedViewBank:
        """Return an empty bank that keeps to the budget, reading back from the map file."""
        return BoundedViewBank(self.bank_config.budget_bytes, self.store, self.on_drop)

    def _use(self, memory, bank, next_id):
        """Map into ``memory`` and ``bank`` from now on; ids keep growing from ``next_id``."""
        if self.mapper is not None and self.mapper.bank is not bank:
            self.mapper.bank.close()   # its temporary store, if any, goes with it
        self.mapper = Mapper(memory, bank, self.mapping_config, on_drop=self.on_drop)
        for view in bank.placements():
            self.mapper.selector.add(view.camera_to_world, view.camera)
        self.mapper.next_id = max(self.mapper.next_id, next_id)
        if self.store is not None:
            # New keyframe ids follow the stored ones, so they never clash in the file.
            self.mapper.next_id = max(self.mapper.next_id,
                                      max(self.store.keyframe_ids(), default=-1) + 1)

    def _store_keyframe(self, keyframe):
        """Write a keyframe to the map file; once there, the bank may drop it from RAM."""
        # Marked in the bank it was added to: after a reset, a write that
        # succeeds late must not mark a newer keyframe of the same id.
        self._store(lambda store: store.add_keyframe(keyframe), f'keyframe {keyframe.view_id}',
                    on_stored=partial(self.bank.mark_stored, keyframe.view_id))

    def _store(self, write, what, on_stored=None):
        """Write one item to the map file, if one is open, after those that failed before.

        A failed write is counted once (``map_write_failed``) and kept for the
        next try; a conflicting id (``map_conflict``) keeps the stored item
        (and a keyframe stays in RAM). ``on_stored()`` runs once it is written.
        """
        if self.store is None:
            return
        self.unstored.append((write, what, on_stored))
        if not self._store_pending():
            # Writes stop at the first failure, so this item is among those waiting.
            self.on_drop('map_write_failed', f'{what} not stored yet: {self._last_error}; kept, '
                         f'{len(self.unstored)} waiting to be stored')

    def _store_pending(self) -> bool:
        """Write the items waiting to be stored, in order; return whether none is left."""
        while self.unstored:
            write, what, on_stored = self.unstored[0]
            try:
                write(self.store)
            except KeyError as error:
                self.on_drop('map_conflict', f'{what} not stored: {error}; the stored one is '
                             'kept')
            except MAP_ERRORS as error:
                self._last_error = error
                return False
            else:
                if on_stored is not None:
                    on_stored()
            self.unstored.pop(0)
        return True

    def _require_store(self, action):
        if self.store is None:
            raise MapSessionError(f'no map file to {action}: set map_path')
        return self.store


def _open_store(path) -> MapStore:
    try:
        return MapStore(path, create=True)
    except (OSError, sqlite3.Error) as error:
        raise MapSessionError(f'map_path {str(path)!r} cannot be opened: {error}') from None


def _fused(memory: GeometryMemory, keyframes, generated) -> GeometryMemory:
    """Fuse stored views (lists or iterators, read one at a time) into ``memory``; return it."""
    for view in chain(keyframes, generated):
        memory.insert_view(view)
    return memory


def _placement(frame: GeneratedFrame) -> SimpleNamespace:
    return SimpleNamespace(camera=frame.camera, camera_to_world=frame.camera_to_world)
