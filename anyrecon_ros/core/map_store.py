# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The map store: one SQLite file (WAL) with keyframes, generated views and the memory.

Images are stored as PNG (lossless), depth as 16-bit PNG in millimetres, poses
and intrinsics as plain numbers, the memory as typed raw arrays: no pickle
anywhere, so opening a map never runs code. Every insert is one transaction
with ``synchronous=FULL``, so a crash at any moment loses nothing that was
committed. Every row (format 2) carries a CRC32 of all its columns, which
``check`` verifies before decoding every row; format-1 maps checksummed only
their images and arrays, and are upgraded when opened for writing.

One writer at a time: a store opened for writing holds an exclusive lock on
the file (``flock``), so a second writer is refused at once with
:class:`MapInUseError`. ``read_only=True`` opens for inspection only (no lock,
no write, works on read-only media). ``durable=False`` (the keyframe bank's
temporary store, deleted when it closes) skips the flush to disk at each
commit.

Keyframes beyond the keyframe bank's RAM budget are read back from here
(``keyframe(view_id, verify=True)`` checks the row's CRC first);
``keyframe_placements`` gives ids, cameras and poses without the images.
"""

import fcntl
import json
import os
from pathlib import Path
import sqlite3
import threading
from types import SimpleNamespace
import zlib

import cv2
import numpy as np

from anyrecon_ros.core.camera import PinholeCamera
from anyrecon_ros.core.geometry_memory import GeometryMemory
from anyrecon_ros.core.geometry_memory import MemoryConfig
from anyrecon_ros.core.transforms import validate_rigid
from anyrecon_ros.core.view_bank import CaptureView
from anyrecon_ros.core.view_bank import GeneratedFrame
from anyrecon_ros.core.view_bank import KeyframePlacement

FORMAT = 'anyrecon_map'
FORMAT_VERSION = 2
# Format 1: CRCs of the blobs only, no CRC on metadata rows.
ROW_CRC_VERSION = 2
SQLITE_MAGIC = b'SQLite format 3\x00'
MEMORY_COVERS = 'memory_covers'
MAX_DEPTH_MM = 65534  # 65535 means "invalid" in 16-bit depth images

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL, crc INTEGER);
CREATE TABLE IF NOT EXISTS keyframes (
    id INTEGER PRIMARY KEY, stamp_ns INTEGER NOT NULL, camera TEXT NOT NULL,
    pose TEXT NOT NULL, image BLOB NOT NULL, depth BLOB, crc INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS generated (
    id INTEGER PRIMARY KEY AUTOINCREMENT, segment_id INTEGER NOT NULL,
    frame_index INTEGER NOT NULL, camera TEXT NOT NULL, pose TEXT NOT NULL,
    reference_ids TEXT NOT NULL, image BLOB NOT NULL, mask BLOB NOT NULL, depth BLOB,
    crc INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS memory_arrays (
    name TEXT PRIMARY KEY, dtype TEXT NOT NULL, shape TEXT NOT NULL, data BLOB NOT NULL,
    crc INTEGER NOT NULL);
"""


class MapFormatError(ValueError):
    """A file is not an anyrecon map, or a map is damaged."""


class MapInUseError(ValueError):
    """Another store (in this or another process) has the map open for writing."""


class MapStore:
    """Open (or create) a map file; use as a context manager or call ``close``.

    A node's executor may call it from any of its threads (one callback at a
    time); transactions are serialised by a lock, so two threads never
    interleave inside one.
    """

    def __init__(self, path, create: bool = True, read_only: bool = False,
                 durable: bool = True):
        self.path = Path(path)
        self.read_only = read_only
        self._lock = threading.RLock()
        self._lock_fd = None
        if read_only:
            self._db = _connect_read_only(self.path)
            try:
                self.format_version = _map_format_version(self._db, self.path)
            except BaseException:
                self._db.close()
                raise
            return
        _refuse_foreign_file(self.path, create)
        self._db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
        try:
            # Only reads until the file is known to be a map (or an empty database):
            # another application's SQLite file is refused exactly as it was.
            is_new = _refuse_foreign_database(self._db, self.path)
            self._lock_fd = _lock_for_writing(self.path)
            self._db.execute('PRAGMA journal_mode=WAL')
            self._db.execute(f'PRAGMA synchronous={"FULL" if durable else "OFF"}')
            with self._transaction():
                _create_schema(self._db)
                if is_new:
                    for key, value in (('format', FORMAT), ('format_version', FORMAT_VERSION)):
                        self._write_meta(key, value)
                elif int(self.meta('format_version')) < ROW_CRC_VERSION:
                    _upgrade_to_row_checksums(self._db)
            self.format_version = FORMAT_VERSION
        except BaseException:
            self.close()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        """Close the file (and release the writer's lock); committed data is already on disk."""
        self._db.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # ---- keyframes -------------------------------------------------------

    def add_keyframe(self, view: CaptureView) -> None:
        """Store a captured keyframe in one transaction; an existing id is refused."""
        image = _encode_rgb(view.rgb)
        depth = None if view.depth is None else _encode_depth(view.depth)
        row = (int(view.view_id), int(view.stamp_ns), _camera_json(view.camera),
               _pose_json(view.camera_to_world), image, depth)
        row += (_row_crc(*row),)
        try:
            with self._transaction():
                self._db.execute('INSERT INTO keyframes VALUES (?, ?, ?, ?, ?, ?, ?)', row)
        except sqlite3.IntegrityError:
            raise KeyError(f'keyframe {view.view_id} is already in {self.path}') from None

    def keyframe_ids(self) -> list:
        """Return the stored keyframe ids in ascending order."""
        return [row[0] for row in self._db.execute('SELECT id FROM keyframes ORDER BY id')]

    def keyframe(self, view_id: int, verify: bool = False) -> CaptureView:
        """Load one keyframe; with ``verify``, a CRC that does not match raises MapFormatError."""
        with self._lock:
            row = self._db.execute('SELECT id, stamp_ns, camera, pose, image, depth, crc FROM '
                                   'keyframes WHERE id = ?', (int(view_id),)).fetchone()
        if row is None:
            raise KeyError(f'no keyframe {view_id} in {self.path}')
        *values, crc = row
        if verify and not self._row_crc_matches('keyframes', values, crc):
            raise MapFormatError(f'keyframe {view_id} in {self.path}: checksum mismatch')
        view_id, stamp_ns, camera, pose, image, depth = values
        return CaptureView(view_id=view_id, rgb=_decode_rgb(image), camera=_camera(camera),
                           camera_to_world=_pose(pose),
                           depth=None if depth is None else _decode_depth(depth),
                           stamp_ns=stamp_ns)

    def keyframes(self):
        """Yield every keyframe in id order."""
        for view_id in self.keyframe_ids():
            yield self.keyframe(view_id)

    def keyframe_placements(self) -> list:
        """Return every keyframe's id, stamp, camera and pose in id order, without its images."""
        rows = self._db.execute('SELECT id, stamp_ns, camera, pose FROM keyframes ORDER BY id')
        return [KeyframePlacement(view_id, _camera(camera), _pose(pose), stamp_ns)
                for view_id, stamp_ns, camera, pose in rows]

    # ---- generated views -------------------------------------------------

    def add_generated(self, frame: GeneratedFrame) -> int:
        """Store a generated view in one transaction; return its row id."""
        image = _encode_rgb(frame.rgb)
        mask = _encode_png(frame.mask.astype(np.uint8) * 255)
        depth = None if frame.depth is None else _encode_depth(frame.depth)
        row = (int(frame.segment_id), int(frame.index), _camera_json(frame.camera),
               _pose_json(frame.camera_to_world), json.dumps([int(i) for i in
                                                              frame.reference_ids]),
               image, mask, depth)
        row += (_row_crc(*row),)
        with self._transaction():
            cursor = self._db.execute(
                'INSERT INTO generated (segment_id, frame_index, camera, pose, reference_ids, '
                'image, mask, depth, crc) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)', row)
        return cursor.lastrowid

    def generated(self, skip: int = 0):
        """Yield the generated views in insertion order (after the first ``skip`` of them)."""
        rows = self._db.execute('SELECT segment_id, frame_index, camera, pose, reference_ids, '
                                'image, mask, depth FROM generated ORDER BY id '
                                'LIMIT -1 OFFSET ?', (skip,))
        for segment_id, index, camera, pose, references, image, mask, depth in rows:
            yield GeneratedFrame(
                segment_id=segment_id, index=index, rgb=_decode_rgb(image),
                mask=_decode_png(mask) > 127, camera=_camera(camera),
                camera_to_world=_pose(pose), reference_ids=tuple(json.loads(references)),
                depth=None if depth is None else _decode_depth(depth))

    def generated_placements(self) -> list:
        """Return every generated view's camera and pose in insertion order, without images."""
        rows = self._db.execute('SELECT camera, pose FROM generated ORDER BY id')
        return [SimpleNamespace(camera=_camera(camera), camera_to_world=_pose(pose))
                for camera, pose in rows]

    # ---- the memory ------------------------------------------------------

    def save_memory(self, memory: GeometryMemory) -> None:
        """Replace the stored memory with ``memory``, atomically."""
        state = memory.state_dict()
        config = state.pop('config')
        with self._transaction():
            self._db.execute('DELETE FROM memory_arrays')
            for name, array in state.items():
                row = (name, array.dtype.str, json.dumps(array.shape),
                       np.ascontiguousarray(array).tobytes())
                self._db.execute('INSERT INTO memory_arrays VALUES (?, ?, ?, ?, ?)',
                                 row + (_row_crc(*row),))
            self._write_meta('memory_config', json.dumps(config))
            # What the saved memory already holds, so views stored after it (and
            # lost from memory by a crash before the next save) can be fused on load.
            keyframe_ids = [row[0] for row in self._db.execute('SELECT id FROM keyframes')]
            generated = self._db.execute('SELECT COUNT(*) FROM generated').fetchone()[0]
            covers = {'keyframes': keyframe_ids, 'generated': generated}
            self._write_meta(MEMORY_COVERS, json.dumps(covers))

    def views_after_memory(self, keyframes=None, generated=None):
        """Return (keyframes, generated views) stored after the memory was last saved.

        Both are empty when no memory was saved, or when it was saved before
        this record existed. ``keyframes`` and ``generated``, when given, are
        the lists ``keyframes()`` and ``generated()`` return, already read:
        they are filtered instead of decoded again.
        """
        covers = self.meta(MEMORY_COVERS)
        if covers is None:
            return [], []
        covers = json.loads(covers)
        saved = set(covers['keyframes'])
        if keyframes is None:
            # Only those after the save are decoded.
            keyframes = [self.keyframe(view_id) for view_id in self.keyframe_ids()
                         if view_id not in saved]
        # Generated views are only ever appended: the first ones were saved.
        generated = (list(self.generated(skip=covers['generated'])) if generated is None
                     else generated[covers['generated']:])
        return [view for view in keyframes if view.view_id not in saved], generated

    def load_memory(self):
        """Return the stored memory exactly as saved, or None if none was saved."""
        # One snapshot: a save committed by another process between the two reads
        # must not pair its arrays with the config of the save before.
        with self._snapshot():
            rows = self._db.execute(
                'SELECT name, dtype, shape, data FROM memory_arrays').fetchall()
            config = self.meta('memory_config')
        if not rows or config is None:
            return None
        state = {name: np.frombuffer(data, dtype=np.dtype(dtype)).reshape(json.loads(shape))
                 for name, dtype, shape, data in rows}
        state['config'] = json.loads(config)
        return GeometryMemory.from_state_dict(state)

    def clear(self) -> None:
        """Delete every keyframe, generated view and the saved memory, in one transaction."""
        with self._transaction():
            for table in ('keyframes', 'generated', 'memory_arrays'):
                self._db.execute(f'DELETE FROM {table}')
            self._db.execute('DELETE FROM meta WHERE key IN (?, ?)',
                             ('memory_config', MEMORY_COVERS))

    # ---- metadata, summary and integrity ---------------------------------

    def meta(self, key: str, default=None):
        """Return a metadata value (text), or ``default``."""
        row = self._db.execute('SELECT value FROM meta WHERE key = ?', (key,)).fetchone()
        return default if row is None else row[0]

    def set_meta(self, key: str, value: str) -> None:
        """Set a metadata value (text) in one transaction."""
        with self._transaction():
            self._write_meta(key, value)

    def _write_meta(self, key: str, value) -> None:
        row = (key, str(value))
        self._db.execute('INSERT OR REPLACE INTO meta VALUES (?, ?, ?)', row + (_row_crc(*row),))

    def info(self) -> dict:
        """Return counts: keyframes, generated views, memory points, file size."""
        count = self._db.execute
        points = count("SELECT shape FROM memory_arrays WHERE name = 'positions'").fetchone()
        return {
            'path': str(self.path),
            'format_version': self.format_version,
            'keyframes': count('SELECT COUNT(*) FROM keyframes').fetchone()[0],
            'keyframes_with_depth': count(
                'SELECT COUNT(*) FROM keyframes WHERE depth IS NOT NULL').fetchone()[0],
            'generated_views': count('SELECT COUNT(*) FROM generated').fetchone()[0],
            'memory_points': json.loads(points[0])[0] if points else 0,
            'file_bytes': self.path.stat().st_size,
        }

    def check(self) -> list:
        """Verify and decode every row; return one line per problem (empty when intact).

        Never writes: a read-only store checks a map on read-only media.
        """
        try:
            problems = [f'sqlite: {row[0]}' for row in self._db.execute('PRAGMA integrity_check')
                        if row[0] != 'ok']
            for table, label, decode in _ROW_CHECKS:
                problems += self._check_table(table, label, decode)
            if not any(problem.startswith(('memory', 'meta')) for problem in problems):
                problems += _problems_of(self.load_memory, 'memory')
        except sqlite3.DatabaseError as error:
            problems = [f'sqlite: {error}']
        return problems

    def verify_views(self) -> list:
        """Check the CRC of every keyframe and generated view, without decoding them.

        Return one line per damaged row (empty when intact): what ``check``
        says of them, less the decoding.
        """
        return (self._check_table('keyframes', 'keyframe')
                + self._check_table('generated', 'generated view'))

    def _check_table(self, table, label, decode=None) -> list:
        problems = []
        for row in self._db.execute(f'SELECT * FROM {table}'):
            *values, crc = row
            if table == 'generated':
                values = values[1:]   # the row id is not part of the checksum
            if not self._row_crc_matches(table, values, crc):
                problems.append(f'{label} {row[0]}: checksum mismatch')
            elif decode is not None:
                problems += _problems_of(lambda: decode(row), f'{label} {row[0]}')
        return problems

    def _row_crc_matches(self, table, values, crc) -> bool:
        if self.format_version >= ROW_CRC_VERSION:
            return _row_crc(*values) == crc
        # Format 1: images and arrays only; metadata carried no checksum.
        blobs = {'keyframes': values[4:6], 'generated': values[5:8],
                 'memory_arrays': values[3:4], 'meta': None}[table]
        return blobs is None or _crc(*blobs) == crc

    def _transaction(self):
        return _Transaction(self._db, self._lock, 'BEGIN IMMEDIATE')

    def _snapshot(self):
        """Read in one transaction: every read sees the same committed state."""
        return _Transaction(self._db, self._lock, 'BEGIN')


class _Transaction:
    """BEGIN (IMMEDIATE to write) ... COMMIT, or ROLLBACK on any exception."""

    def __init__(self, db, lock, begin):
        self._db = db
        self._lock = lock
        self._begin = begin

    def __enter__(self):
        self._lock.acquire()
        try:
            self._db.execute(self._begin)
        except BaseException:
            self._lock.release()
            raise

    def __exit__(self, exc_type, *exc):
        try:
            if exc_type is None:
                self._db.execute('COMMIT')
            elif self._db.in_transaction:
                # SQLite has already rolled back after some errors (a full disk):
                # a second ROLLBACK would hide the real error behind its own.
                self._db.execute('ROLLBACK')
        except BaseException:
            if self._db.in_transaction:
                self._db.execute('ROLLBACK')   # a COMMIT that failed (disk full at commit)
            raise
        finally:
            self._lock.release()


def _create_schema(db):
    # One statement at a time: executescript() would commit the open transaction.
    for statement in _SCHEMA.split(';'):
        if statement.strip():
            db.execute(statement)


def _refuse_foreign_file(path: Path, create: bool, writable: bool = True):
    """Never open (and so never overwrite) a file that is not a SQLite database."""
    folder = path.parent
    if path.exists():
        if not path.is_file():
            raise MapFormatError(f'{path} is not a file')
        with open(path, 'rb') as stream:
            header = stream.read(len(SQLITE_MAGIC))
        if header and header != SQLITE_MAGIC:
            raise MapFormatError(f'{path} exists and is not an anyrecon map (not SQLite); '
                                 'refusing to touch it')
        if not os.access(path, os.R_OK | (os.W_OK if writable else 0)):
            raise PermissionError(f'map file {path} is not readable'
                                  + (' and writable' if writable else ''))
        if not writable:
            return
    elif not create:
        raise FileNotFoundError(f'no map file at {path}')
    elif not folder.is_dir():
        raise FileNotFoundError(f'folder {folder} does not exist')
    # SQLite writes the journal (-wal, -shm) next to the map, even to read it.
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PermissionError(f'folder {folder} is not writable: the map {path.name} and its '
                              'journal files (-wal, -shm) are written there')


def _refuse_foreign_database(db, path: Path) -> bool:
    """Refuse a SQLite file that is not an anyrecon map, reading only; True if it is empty.

    An empty database (a new file, or one whose creation was interrupted before
    its first commit) becomes a map; anything else must carry the map's meta rows.
    """
    try:
        tables = {row[0] for row in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.OperationalError:
        raise  # busy or unreadable just now: no verdict on the file
    except sqlite3.DatabaseError as error:
        raise MapFormatError(f'{path} is not a readable SQLite database (damaged?): '
                             f'{error}') from None
    if not tables:
        return True
    try:
        stored = dict(db.execute('SELECT key, value FROM meta')) if 'meta' in tables else {}
    except sqlite3.OperationalError:
        stored = {}  # a meta table of another shape: another application's
    if stored.get('format') != FORMAT:
        raise MapFormatError(f'{path} is a SQLite file but not an anyrecon map')
    if not str(stored.get('format_version', '')).isdigit():
        raise MapFormatError(f'{path} is a damaged map: its format_version row is missing or '
                             f'malformed ({stored.get("format_version")!r})')
    if int(stored.get('format_version', 0)) > FORMAT_VERSION:
        raise MapFormatError(f'{path} was written by a newer anyrecon_ros '
                             f'(format {stored["format_version"]})')
    return False


def _connect_read_only(path: Path):
    """Open a map for reading only; a map on read-only media is opened immutable."""
    _refuse_foreign_file(path, create=False, writable=False)
    uri = path.resolve().as_uri()
    db = sqlite3.connect(f'{uri}?mode=ro', uri=True, isolation_level=None,
                         check_same_thread=False)
    try:
        db.execute('SELECT 1 FROM sqlite_master LIMIT 1').fetchall()
        return db
    except sqlite3.OperationalError:
        db.close()
        # WAL readers need the -shm file; where the folder is read-only it cannot
        # be made, and nothing can be writing the map either.
        if os.access(path.parent, os.W_OK):
            raise
    return sqlite3.connect(f'{uri}?immutable=1', uri=True, isolation_level=None,
                           check_same_thread=False)


def _map_format_version(db, path: Path) -> int:
    """Return the format version of a map opened read-only; MapFormatError if it is none."""
    if path.stat().st_size == 0:
        raise MapFormatError(f'{path} is empty: not an anyrecon map')
    if _refuse_foreign_database(db, path):
        raise MapFormatError(f'{path} is an empty SQLite database: not an anyrecon map')
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    missing = sorted({'keyframes', 'generated', 'memory_arrays'} - tables)
    if missing:
        raise MapFormatError(f'{path} is a damaged map: table(s) {", ".join(missing)} missing')
    return int(dict(db.execute('SELECT key, value FROM meta'))['format_version'])


def _lock_for_writing(path: Path) -> int:
    """Take the exclusive writer's lock on the map; MapInUseError when another holds it."""
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise MapInUseError(f'map {path} is open for writing elsewhere (another memory node '
                            'or tool); open it read-only, or stop the other writer') from None
    return fd


def _upgrade_to_row_checksums(db):
    """Rewrite a format-1 map's checksums over whole rows (in the caller's transaction)."""
    columns = {row[1] for row in db.execute('PRAGMA table_info(meta)')}
    if 'crc' not in columns:
        db.execute('ALTER TABLE meta ADD COLUMN crc INTEGER')
    db.execute("UPDATE meta SET value = ? WHERE key = 'format_version'", (str(FORMAT_VERSION),))
    for table, key in (('keyframes', 'id'), ('generated', 'id'), ('memory_arrays', 'name'),
                       ('meta', 'key')):
        for row in db.execute(f'SELECT * FROM {table}').fetchall():
            values = row[1:-1] if table == 'generated' else row[:-1]
            db.execute(f'UPDATE {table} SET crc = ? WHERE {key} = ?', (_row_crc(*values), row[0]))


def _problems_of(decode, label) -> list:
    """Return [] if ``decode()`` succeeds, else one line naming what is wrong."""
    try:
        decode()
    except (ValueError, KeyError, TypeError, cv2.error) as error:
        return [f'{label}: {error}']
    return []


def _decode_keyframe_row(row):
    view_id, stamp_ns, camera, pose, image, depth, _ = row
    CaptureView(view_id=view_id, rgb=_decode_rgb(image), camera=_camera(camera),
                camera_to_world=_pose(pose), depth=None if depth is None else _decode_depth(depth),
                stamp_ns=stamp_ns)


def _decode_generated_row(row):
    _, segment_id, index, camera, pose, references, image, mask, depth, _ = row
    GeneratedFrame(segment_id=segment_id, index=index, rgb=_decode_rgb(image),
                   mask=_decode_png(mask) > 127, camera=_camera(camera),
                   camera_to_world=_pose(pose), reference_ids=_reference_ids(references),
                   depth=None if depth is None else _decode_depth(depth))


def _decode_array_row(row):
    name, dtype, shape, data, _ = row
    np.frombuffer(data, dtype=np.dtype(dtype)).reshape(json.loads(shape))


def _decode_meta_row(row):
    key, value, _ = row
    if key == 'memory_config':
        MemoryConfig(**json.loads(value))
    elif key == MEMORY_COVERS:
        covers = json.loads(value)
        if not isinstance(covers.get('generated'), int) or not all(
                isinstance(view_id, int) for view_id in covers.get('keyframes')):
            raise ValueError('malformed record of what the saved memory covers')


# (table, label of its rows, decoder of one row) for every table of a map.
_ROW_CHECKS = (('keyframes', 'keyframe', _decode_keyframe_row),
               ('generated', 'generated view', _decode_generated_row),
               ('memory_arrays', 'memory array', _decode_array_row),
               ('meta', 'meta', _decode_meta_row))


def _reference_ids(text: str) -> tuple:
    ids = json.loads(text)
    if not isinstance(ids, list) or not all(isinstance(view_id, int) for view_id in ids):
        raise ValueError(f'reference ids must be a list of integers, got {text!r}')
    return tuple(ids)


def _row_crc(*values) -> int:
    """Return the CRC32 of a row's values, each length-prefixed (so no two rows collide)."""
    value = 0
    for item in values:
        data = (b'' if item is None else item if isinstance(item, bytes)
                else str(item).encode())
        value = zlib.crc32(bytes([item is None]) + len(data).to_bytes(8, 'little'), value)
        value = zlib.crc32(data, value)
    return value


def _crc(*blobs) -> int:
    value = 0
    for blob in blobs:
        if blob is not None:
            value = zlib.crc32(blob, value)
    return value


def _camera_json(camera: PinholeCamera) -> str:
    distortion = None if camera.distortion is None else camera.distortion.tolist()
    return json.dumps({'width': camera.width, 'height': camera.height, 'fx': camera.fx,
                       'fy': camera.fy, 'cx': camera.cx, 'cy': camera.cy,
                       'distortion': distortion})


def _camera(text: str) -> PinholeCamera:
    return PinholeCamera(**json.loads(text))


def _pose_json(pose) -> str:
    return json.dumps(validate_rigid(pose).tolist())


def _pose(text: str) -> np.ndarray:
    return validate_rigid(np.array(json.loads(text), np.float64))


def _encode_png(image) -> bytes:
    ok, data = cv2.imencode('.png', image)
    if not ok:
        raise ValueError('PNG encoding failed')
    return data.tobytes()


def _decode_png(data: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ValueError('stored image does not decode')
    return image


def _encode_rgb(rgb) -> bytes:
    return _encode_png(cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR))


def _decode_rgb(data: bytes) -> np.ndarray:
    return cv2.cvtColor(_decode_png(data), cv2.COLOR_BGR2RGB)


def stored_depth(depth: np.ndarray) -> np.ndarray:
    """Return ``depth`` (metres) exactly as a map stores and reads it back: whole millimetres.

    Depth beyond MAX_DEPTH_MM millimetres, negative or NaN reads back as NaN.
    """
    return _depth_from_millimetres(_millimetres(depth))


def _millimetres(depth) -> np.ndarray:
    millimetres = np.rint(np.nan_to_num(depth, nan=0.0) * 1000.0)
    millimetres[(millimetres < 0) | (millimetres > MAX_DEPTH_MM)] = 0
    return millimetres.astype(np.uint16)


def _depth_from_millimetres(millimetres) -> np.ndarray:
    depth = millimetres.astype(np.float32) / 1000.0
    depth[(millimetres == 0) | (millimetres == 65535)] = np.nan
    return depth


def _encode_depth(depth) -> bytes:
    return _encode_png(_millimetres(depth))


def _decode_depth(data: bytes) -> np.ndarray:
    return _depth_from_millimetres(_decode_png(data))
