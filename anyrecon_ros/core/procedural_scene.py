# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The embedded default scene: two seeded, textured rooms joined by a doorway.

It is the demo's input, training data for the generator and ground truth for
evaluation, so it renders exact RGB and metric depth along any camera path on
the CPU (open3d's ray caster) and exposes its ground-truth mesh.
"""

from dataclasses import dataclass

import numpy as np
import open3d as o3d

from anyrecon_ros.core.camera import PinholeCamera
from anyrecon_ros.core.transforms import look_at
from anyrecon_ros.core.transforms import transform_points
from anyrecon_ros.core.view_bank import CaptureView

ROOM_SIZE = (5.0, 4.0, 2.6)      # x (length of one room), y (depth), z (height), metres
WALL_THICKNESS = 0.1
DOOR_WIDTH, DOOR_HEIGHT = 1.0, 2.1
# One ceiling light per room: smooth shading gradients, as real rooms have.
AMBIENT = 0.35
LIGHT_FALLOFF = 0.08   # 1 / (1 + k d^2)

# Texture kinds: each box gets one, so surfaces look different from each other
# and the generator has structure to learn from.
CHECKER, STRIPES, PLANKS, PLAIN = range(4)


@dataclass(frozen=True)
class SceneBox:
    """An axis-aligned box: a wall, floor, ceiling or piece of furniture."""

    minimum: tuple
    maximum: tuple
    colour: tuple          # base RGB in [0, 1]
    texture: int
    period: float          # texture period in metres


def default_camera() -> PinholeCamera:
    """Return the 640x480 pinhole camera the demo and tests use (about 65 deg hfov)."""
    return PinholeCamera(width=640, height=480, fx=500.0, fy=500.0, cx=319.5, cy=239.5,
                         distortion=None)


class ProceduralScene:
    """A seeded indoor scene with exact RGB-D rendering; ``z`` is up, metres."""

    def __init__(self, seed: int = 0):
        self.seed = seed
        rng = np.random.default_rng(seed)
        self.boxes = _room_shell(rng) + _furniture(rng)
        self._raycaster = o3d.t.geometry.RaycastingScene()
        for box in self.boxes:
            self._raycaster.add_triangles(o3d.t.geometry.TriangleMesh.from_legacy(_box_mesh(box)))
        self._colours = np.array([b.colour for b in self.boxes], dtype=np.float32)
        self._textures = np.array([b.texture for b in self.boxes])
        self._periods = np.array([b.period for b in self.boxes], dtype=np.float32)

    @property
    def bounds(self):
        """Return the (min, max) corners of the whole scene."""
        lo = np.min([b.minimum for b in self.boxes], axis=0)
        hi = np.max([b.maximum for b in self.boxes], axis=0)
        return lo, hi

    @property
    def doorway(self):
        """Return the doorway's (y_min, y_max) in the dividing wall at x = ROOM_SIZE[0]."""
        lintel = next(b for b in self.boxes if b.minimum[2] == DOOR_HEIGHT)
        return lintel.minimum[1], lintel.maximum[1]

    def mesh(self) -> o3d.geometry.TriangleMesh:
        """Return the ground-truth mesh: every box, vertex-coloured with its base colour."""
        mesh = o3d.geometry.TriangleMesh()
        for box in self.boxes:
            part = _box_mesh(box)
            part.paint_uniform_color(box.colour)
            mesh += part
        return mesh

    def render(self, camera: PinholeCamera, camera_to_world: np.ndarray):
        """Render (rgb uint8 HxWx3, depth float32 HxW metres along the optical axis).

        Depth is NaN where a ray leaves the scene (never happens inside a room).
        """
        origins, directions = _camera_rays(camera, camera_to_world)
        hits = self._raycaster.cast_rays(
            o3d.core.Tensor(np.hstack([origins, directions]).astype(np.float32)))
        t_hit = hits['t_hit'].numpy()
        hit = np.isfinite(t_hit)
        ids = np.where(hit, hits['geometry_ids'].numpy(), 0).astype(np.int64)
        points = origins + directions * np.where(hit, t_hit, 0.0)[:, None]
        normals = hits['primitive_normals'].numpy()
        rgb = self._shade(points, normals, ids) * hit[:, None]
        # Rays have unit optical-axis component, so the ray parameter is z-depth.
        depth = np.where(hit, t_hit, np.nan).astype(np.float32)
        shape = (camera.height, camera.width)
        return (np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8).reshape(shape + (3,)),
                depth.reshape(shape))

    def capture_view(self, camera: PinholeCamera, camera_to_world, view_id: int,
                     stamp_ns: int = 0) -> CaptureView:
        """Render a pose as a captured RGB-D keyframe."""
        rgb, depth = self.render(camera, camera_to_world)
        return CaptureView(view_id=view_id, rgb=rgb, camera=camera,
                           camera_to_world=np.array(camera_to_world, np.float64), depth=depth,
                           stamp_ns=stamp_ns)

    def camera_path(self, n_frames: int, height: float = 1.4):
        """Return ``n_frames`` camera-to-world poses on a loop through the first room."""
        lo, hi = self.bounds
        centre = np.array([ROOM_SIZE[0] / 2, ROOM_SIZE[1] / 2, height])
        radius = 0.25 * min(ROOM_SIZE[0], ROOM_SIZE[1])
        angles = np.linspace(0.0, 2 * np.pi, n_frames, endpoint=False)
        poses = []
        for angle in angles:
            eye = centre + radius * np.array([np.cos(angle), np.sin(angle), 0.0])
            # Look outwards and ahead, so the loop sees every wall of the room.
            heading = angle + 0.6 * np.pi
            target = eye + np.array([np.cos(heading), np.sin(heading), -0.15])
            poses.append(look_at(eye, target))
        return poses

    def _shade(self, points, normals, ids):
        """Return per-ray RGB in [0, 1]: base colour x texture x Lambert light."""
        # Sample the texture just inside the surface: on a face that lies on a
        # cell boundary (a wall at x = 0) rounding would otherwise speckle it.
        inside = points - 1e-3 * normals
        pattern = _texture_pattern(inside, self._textures[ids], self._periods[ids])
        return self._colours[ids] * (pattern * _lighting(points, normals))[:, None]


def _lighting(points, normals):
    """Return ambient plus Lambert light from the ceiling lights, in [AMBIENT, 1]."""
    length, depth, height = ROOM_SIZE
    lights = np.array([[length / 2, depth / 2, height - 0.2], [1.5 * length, depth / 2,
                                                               height - 0.2]])
    diffuse = np.zeros(len(points))
    for light in lights:
        to_light = light - points
        distance = np.linalg.norm(to_light, axis=1)
        cosine = np.einsum('ij,ij->i', normals, to_light) / np.maximum(distance, 1e-6)
        diffuse += np.maximum(cosine, 0.0) / (1.0 + LIGHT_FALLOFF * distance ** 2)
    return AMBIENT + (1 - AMBIENT) * np.clip(diffuse, 0.0, 1.0)


def _camera_rays(camera, camera_to_world):
    """Return world-frame ray origins and directions (unit z in the camera frame)."""
    u, v = np.meshgrid(np.arange(camera.width) + 0.0, np.arange(camera.height) + 0.0)
    pixels = np.stack([u.ravel(), v.ravel(), np.ones(u.size)], axis=1)
    directions_cam = pixels @ np.linalg.inv(camera.K).T
    rotation, translation = camera_to_world[:3, :3], camera_to_world[:3, 3]
    directions = transform_points(rotation, directions_cam)
    return np.broadcast_to(translation, directions.shape), directions


def _texture_pattern(points, textures, periods):
    """Return a brightness factor in [0.55, 1] per point for its box's texture."""
    cells = np.floor(points / periods[:, None]).astype(np.int64)
    checker = (cells.sum(axis=1) % 2).astype(np.float32)
    stripes = (cells[:, 2] % 2).astype(np.float32)
    planks = ((cells[:, 0] + cells[:, 1]) % 3 == 0).astype(np.float32)
    pattern = np.select([textures == CHECKER, textures == STRIPES, textures == PLANKS],
                        [checker, stripes, planks], default=0.0)
    return 1.0 - 0.45 * pattern


def _box_mesh(box: SceneBox) -> o3d.geometry.TriangleMesh:
    size = np.subtract(box.maximum, box.minimum)
    mesh = o3d.geometry.TriangleMesh.create_box(*size)
    return mesh.translate(box.minimum)


def _room_shell(rng):
    """Return floor, ceiling and walls of two rooms with a doorway between them."""
    length, depth, height = ROOM_SIZE
    t = WALL_THICKNESS
    total = 2 * length
    door_lo = rng.uniform(0.8, depth - 0.8 - DOOR_WIDTH)
    wall_colour = tuple(rng.uniform(0.6, 0.95, 3))
    other_colour = tuple(rng.uniform(0.5, 0.9, 3))
    floor = SceneBox((0, 0, -t), (total, depth, 0), tuple(rng.uniform(0.3, 0.7, 3)), CHECKER, 0.5)
    boxes = [
        floor,
        SceneBox((0, 0, height), (total, depth, height + t), (0.9, 0.9, 0.88), PLAIN, 1.0),
        SceneBox((-t, 0, 0), (0, depth, height), wall_colour, STRIPES, 0.3),
        SceneBox((total, 0, 0), (total + t, depth, height), other_colour, STRIPES, 0.4),
        SceneBox((0, -t, 0), (length, 0, height), wall_colour, PLANKS, 0.25),
        SceneBox((length, -t, 0), (total, 0, height), other_colour, CHECKER, 0.35),
        SceneBox((0, depth, 0), (length, depth + t, height), wall_colour, CHECKER, 0.45),
        SceneBox((length, depth, 0), (total, depth + t, height), other_colour, PLANKS, 0.3),
        # The dividing wall, with a doorway: below-door-side, above-door-side, lintel.
        SceneBox((length, 0, 0), (length + t, door_lo, height), wall_colour, STRIPES, 0.2),
        SceneBox((length, door_lo + DOOR_WIDTH, 0), (length + t, depth, height),
                 wall_colour, STRIPES, 0.2),
        SceneBox((length, door_lo, DOOR_HEIGHT), (length + t, door_lo + DOOR_WIDTH, height),
                 wall_colour, PLAIN, 1.0),
    ]
    return boxes


def _furniture(rng):
    """Return a seeded table, cabinets and free-standing occluders in both rooms."""
    length, depth, _ = ROOM_SIZE
    boxes = []
    for room in range(2):
        x0 = room * length
        # A table: top and four legs.
        cx, cy = x0 + rng.uniform(1.5, length - 1.5), rng.uniform(1.2, depth - 1.2)
        colour = tuple(rng.uniform(0.3, 0.8, 3))
        boxes.append(SceneBox((cx - 0.6, cy - 0.4, 0.72), (cx + 0.6, cy + 0.4, 0.76),
                              colour, PLANKS, 0.15))
        for sx in (-0.55, 0.5):
            for sy in (-0.35, 0.3):
                leg_min = (cx + sx, cy + sy, 0)
                leg_max = (cx + sx + 0.05, cy + sy + 0.05, 0.72)
                boxes.append(SceneBox(leg_min, leg_max, colour, PLAIN, 1.0))
        # Cabinets against the back wall and a tall occluder (shelf or pillar).
        for _ in range(2):
            w, d, h = rng.uniform(0.5, 1.2), rng.uniform(0.3, 0.6), rng.uniform(0.6, 1.8)
            x = x0 + rng.uniform(0.3, length - 0.3 - w)
            boxes.append(SceneBox((x, depth - d, 0), (x + w, depth, h),
                                  tuple(rng.uniform(0.2, 0.9, 3)), STRIPES, 0.1))
        # Near the front wall, clear of the default camera loop.
        px, py = x0 + rng.uniform(0.8, length - 0.8), rng.uniform(0.25, 0.5)
        boxes.append(SceneBox((px, py, 0), (px + 0.35, py + 0.35, 2.0),
                              tuple(rng.uniform(0.2, 0.9, 3)), CHECKER, 0.2))
    return boxes
