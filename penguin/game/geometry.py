"""Angles and the geometry predicates of docs/game.md — the one module that does angle arithmetic.

Conventions (docs/game.md): x grows right, y grows down; heading θ ∈ [0, 2π), θ = 0 faces +x and
increasing θ turns **clockwise as seen in the image**. So the agent's right-hand side points along
θ + π/2.

Agent frame: for a point `p`, `d = p − agent`; `f = d · (cos θ, sin θ)` is how far ahead it is and
`l = d · (−sin θ, cos θ)` how far to the agent's **right** (negative: to its left).

| predicate                  | definition                                                        |
|----------------------------|-------------------------------------------------------------------|
| `gold_left`                | `gold.x < agent.x` (image direction)                              |
| `gold_up`                  | `gold.y < agent.y` (image direction)                              |
| `agent_left` / `agent_up`  | the mirrors: `agent.x < gold.x` / `agent.y < gold.y`              |
| `gold_on_agents_left`      | `l < 0` — egocentric, relative to the heading                     |
| `near`                     | `|d| < 0.15`                                                      |
| `facing_gold`              | `f > 0` and `|l| < r_a + r_g` (going straight collects it, walls ignored) |
| `turn_clockwise_toward(φ)` | `(φ − θ) mod 2π < π`                                              |
| `turn_is_ambiguous(φ)`     | `(φ − θ) mod 2π` within one turn step (π/30) of 0 or π            |
| `facing_line(φ)`           | circular `|φ − θ| < π/6`                                          |
| `greedy_move`              | `<forward>` (1) if `facing_gold`, else `<clock>` (3) or `<anticlock>` (4) toward the gold |

One-gold questions are about `scene.first_gold()`. Every function is batched and pure.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from penguin.game.scene import AGENT_RADIUS, GOLD_RADIUS, NEAR_DISTANCE, TURN_ANGLE, Scene

TAU = 2.0 * math.pi
FACING_LINE_HALF_ANGLE = math.pi / 6.0

FORWARD, BACKWARD, CLOCK, ANTICLOCK, NOTHING = 1, 2, 3, 4, 0


# ---------------------------------------------------------------------------- angles
def wrap_angle(angle: Tensor) -> Tensor:
    """Angle in `[0, 2π)`."""
    return torch.remainder(angle, TAU)


def angle_difference(a: Tensor, b: Tensor) -> Tensor:
    """Signed `a − b` in `[−π, π)`; positive means `a` lies clockwise of `b` (in the image)."""
    return torch.remainder(a - b + math.pi, TAU) - math.pi


def direction_angle(vector: Tensor) -> Tensor:
    """Heading `[...]` in `[0, 2π)` of vectors `[..., 2]`."""
    return wrap_angle(torch.atan2(vector[..., 1], vector[..., 0]))


def agent_frame(scene: Scene, point: Tensor) -> tuple[Tensor, Tensor]:
    """`(f, l)`: `point − agent` ahead of and to the right of the agent (see module docstring)."""
    d = point - scene.agent
    c, s = torch.cos(scene.heading), torch.sin(scene.heading)
    return d[:, 0] * c + d[:, 1] * s, -d[:, 0] * s + d[:, 1] * c


def gold_direction(scene: Scene) -> Tensor:
    """Angle `[B]` of the agent→gold direction."""
    return direction_angle(scene.first_gold() - scene.agent)


def gold_distance(scene: Scene) -> Tensor:
    return (scene.first_gold() - scene.agent).norm(dim=-1)


# ---------------------------------------------------------------------------- predicates
def gold_left(scene: Scene) -> Tensor:
    return scene.first_gold()[:, 0] < scene.agent[:, 0]


def gold_up(scene: Scene) -> Tensor:
    return scene.first_gold()[:, 1] < scene.agent[:, 1]


def agent_left(scene: Scene) -> Tensor:
    return scene.agent[:, 0] < scene.first_gold()[:, 0]


def agent_up(scene: Scene) -> Tensor:
    return scene.agent[:, 1] < scene.first_gold()[:, 1]


def gold_on_agents_left(scene: Scene) -> Tensor:
    return agent_frame(scene, scene.first_gold())[1] < 0


def near(scene: Scene) -> Tensor:
    return gold_distance(scene) < NEAR_DISTANCE


def facing_gold(scene: Scene) -> Tensor:
    f, l = agent_frame(scene, scene.first_gold())
    return (f > 0) & (l.abs() < AGENT_RADIUS + GOLD_RADIUS)


def turn_clockwise_toward(heading: Tensor, target: Tensor) -> Tensor:
    """True where turning clockwise is the shorter way from `heading` to angle `target`."""
    return wrap_angle(target - heading) < math.pi


def turn_is_ambiguous(heading: Tensor, target: Tensor) -> Tensor:
    """True where `target` is within one turn step of straight ahead or straight behind."""
    delta = wrap_angle(target - heading)
    return (delta < TURN_ANGLE) | (delta > TAU - TURN_ANGLE) | ((delta - math.pi).abs() < TURN_ANGLE)


def facing_line(heading: Tensor, line_angle: Tensor) -> Tensor:
    return angle_difference(line_angle, heading).abs() < FACING_LINE_HALF_ANGLE


def greedy_move(scene: Scene) -> Tensor:
    """The greedy oracle's next action `[B]` (long): forward if facing the gold, else turn toward it."""
    clockwise = turn_clockwise_toward(scene.heading, gold_direction(scene))
    turn = torch.where(clockwise, CLOCK, ANTICLOCK)
    return torch.where(facing_gold(scene), FORWARD, turn).long()


# ---------------------------------------------------------------------------- walls
def distance_to_walls(points: Tensor, walls: Tensor, wall_valid: Tensor) -> Tensor:
    """Distance `[B, N]` from points `[B, N, 2]` to the nearest valid wall rectangle
    (`walls [B, W, 5]` as in the scene JSON); 0 inside a wall, inf when a sample has no walls."""
    rel = points.unsqueeze(2) - walls[:, None, :, :2]
    c, s = torch.cos(walls[:, None, :, 4]), torch.sin(walls[:, None, :, 4])
    x = (rel[..., 0] * c + rel[..., 1] * s).abs() - walls[:, None, :, 2] / 2
    y = (-rel[..., 0] * s + rel[..., 1] * c).abs() - walls[:, None, :, 3] / 2
    outside = torch.stack([x.clamp(min=0), y.clamp(min=0)], -1).norm(dim=-1)
    d = torch.where(wall_valid.unsqueeze(1), outside, torch.full_like(outside, float("inf")))
    return d.min(dim=2).values


def wall_corners(walls: Tensor) -> Tensor:
    """The four corners `[..., 4, 2]` of walls `[..., 5]`, in the order (+u+v, +u−v, −u+v, −u−v)
    where u runs along the wall's length and v across its thickness."""
    c, s = torch.cos(walls[..., 4]), torch.sin(walls[..., 4])
    u = torch.stack([c, s], -1) * (walls[..., 2:3] / 2)
    v = torch.stack([-s, c], -1) * (walls[..., 3:4] / 2)
    signs = torch.tensor([[1, 1], [1, -1], [-1, 1], [-1, -1]], dtype=walls.dtype, device=walls.device)
    centre = walls[..., None, :2]
    return centre + signs[:, 0:1] * u.unsqueeze(-2) + signs[:, 1:2] * v.unsqueeze(-2)
