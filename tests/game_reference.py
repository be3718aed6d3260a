"""Independent reference geometry for the tests, in plain Python floats.

Nothing here imports the engine's geometry: the tests recompute what the engine computes with a
different method (per-sample Python, polygon edges instead of rotated frames) so that a shared bug
cannot hide.
"""
from __future__ import annotations

import math

R_AGENT = 0.05
R_GOLD = 1 / 64


def rectangle_corners(wall):
    cx, cy, length, thickness, angle = wall
    ux, uy = math.cos(angle) * length / 2, math.sin(angle) * length / 2
    vx, vy = -math.sin(angle) * thickness / 2, math.cos(angle) * thickness / 2
    return [(cx + ux + vx, cy + uy + vy), (cx + ux - vx, cy + uy - vy),
            (cx - ux - vx, cy - uy - vy), (cx - ux + vx, cy - uy + vy)]


def point_segment_distance(p, a, b):
    ax, ay = a
    bx, by = b
    px, py = p
    dx, dy = bx - ax, by - ay
    t = max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)))
    return math.hypot(px - ax - t * dx, py - ay - t * dy)


def inside_polygon(p, corners):
    """Convex polygon containment by the sign of cross products."""
    signs = []
    for i in range(len(corners)):
        (ax, ay), (bx, by) = corners[i], corners[(i + 1) % len(corners)]
        signs.append((bx - ax) * (p[1] - ay) - (by - ay) * (p[0] - ax))
    return all(s >= 0 for s in signs) or all(s <= 0 for s in signs)


def distance_to_wall(p, wall):
    corners = rectangle_corners(wall)
    if inside_polygon(p, corners):
        return 0.0
    return min(point_segment_distance(p, corners[i], corners[(i + 1) % 4]) for i in range(4))


def min_wall_distance(p, walls):
    return min((distance_to_wall(p, w) for w in walls), default=math.inf)


def relative_angle(target, heading):
    """(target − heading) in [0, 2π) computed with atan2 of a rotated vector (not modulo)."""
    x, y = math.cos(target), math.sin(target)
    c, s = math.cos(-heading), math.sin(-heading)
    a = math.atan2(s * x + c * y, c * x - s * y)
    return a if a >= 0 else a + 2 * math.pi
