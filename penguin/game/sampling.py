"""Scene generation (docs/game.md "Scene generation"), batched and driven by an explicit `torch.Generator`.

- `side_walls`: the four walls along the room's edges; with probability 0.5 one of them (uniform)
  has an exit gap of width `2·r_a` at its middle and is then two pieces. There are only five
  layouts, so they are a table indexed per sample. Side walls use wall slots 0–4 (slot 4 is unused
  when there is no gap).
- `sample_bare`: the tutorial level — side walls only; agent uniform over positions clear of the
  walls; heading U(0, 2π); one gold uniform in the box `agent ± max_offset` clipped to where it is
  clear of the walls, redrawn while it overlaps the agent.
- `sample_line`: a blue line per sample from the agent's rim — angle φ uniform, or with
  `facing_share=p` a share p of the lines inside the facing cone (|φ − θ| < π/6, `facing_line`)
  and the rest outside, uniform within each; length ℓ ~ U(`LINE_LENGTH`).
- `sample_clear_line`: a line as `sample_line` draws it, but never over the first gold: where the
  bar could reach the coin, φ is uniform outside the arc of directions that would touch it (a
  distractor that leaves every answer about the gold readable).
- `sample_full`: side walls plus 1–2 interior walls (length U(0.375, 0.75), angle U(0, 2π) or
  0/π/2 with `right_angles=True`) placed fully inside the room; 1–2 gold anywhere clear of walls
  and of each other; the agent anywhere clear of walls and gold.

"Clear" means a gap of at least `CLEARANCE` (1e-4 room units): no overlap, and no gold is
collected at construction (collection needs a distance below `r_a + r_g`).

Randomness: every draw comes from the given generator, which lives on the CPU (sampling is cheap
and happens in the data pipeline; the renderer does the heavy lifting on the training device).
Rejection sampling redraws only the failed samples, vectorised, so the same seed gives the same
scenes on any machine. Pass `device` to receive the scene there.
"""
from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor

from penguin.game.geometry import FACING_LINE_HALF_ANGLE, direction_angle, distance_to_walls, wrap_angle
from penguin.game.scene import AGENT_RADIUS, GOLD_RADIUS, LINE_WIDTH, WALL_THICKNESS, Scene

CLEARANCE = 1e-4
SIDE_WALL_SLOTS = 5
FULL_WALL_SLOTS = SIDE_WALL_SLOTS + 2
INTERIOR_LENGTH = (0.375, 0.75)
GAP_WIDTH = 2 * AGENT_RADIUS

LINE_LENGTH = (0.15, 0.35)
_INNER_LO = WALL_THICKNESS  # inner edge of the side walls


def _layouts() -> tuple[Tensor, Tensor]:
    """The five side-wall layouts: `[5, 5, 5]` walls and `[5, 5]` validity (layout 0: no gap)."""
    t, h = WALL_THICKNESS, WALL_THICKNESS / 2
    full = {  # (cx, cy, length, thickness, angle) of each uninterrupted side
        "top": (0.5, h, 1.0, t, 0.0),
        "bottom": (0.5, 1 - h, 1.0, t, 0.0),
        "left": (h, 0.5, 1.0, t, math.pi / 2),
        "right": (1 - h, 0.5, 1.0, t, math.pi / 2),
    }
    piece = (1.0 - GAP_WIDTH) / 2
    offset = GAP_WIDTH / 2 + piece / 2
    walls = torch.zeros(5, SIDE_WALL_SLOTS, 5, dtype=torch.float64)
    walls[..., :2], walls[..., 2:4] = 0.5, 1e-3
    valid = torch.zeros(5, SIDE_WALL_SLOTS, dtype=torch.bool)
    for layout, gap_side in enumerate([None, "top", "bottom", "left", "right"]):
        slot = 0
        for side, (cx, cy, _, thick, angle) in full.items():
            if side != gap_side:
                walls[layout, slot] = torch.tensor(full[side], dtype=torch.float64)
                valid[layout, slot] = True
                slot += 1
                continue
            for sign in (-1.0, 1.0):
                along_x = angle == 0.0
                centre = (0.5 + sign * offset, cy) if along_x else (cx, 0.5 + sign * offset)
                walls[layout, slot] = torch.tensor([*centre, piece, thick, angle], dtype=torch.float64)
                valid[layout, slot] = True
                slot += 1
    return walls.float(), valid


_LAYOUT_WALLS, _LAYOUT_VALID = _layouts()


def side_walls(generator: torch.Generator, batch: int) -> tuple[Tensor, Tensor]:
    """Side walls `[B, 5, 5]` and their validity `[B, 5]` (half the samples get an exit gap)."""
    gap = torch.rand(batch, generator=generator) < 0.5
    side = torch.randint(1, 5, (batch,), generator=generator)
    layout = torch.where(gap, side, torch.zeros_like(side))
    return _LAYOUT_WALLS[layout], _LAYOUT_VALID[layout]


def sample_bare(generator: torch.Generator, batch: int, *, max_offset: float = 0.5,
                device: torch.device | str = "cpu") -> Scene:
    """Bare scenes: side walls, an agent, one gold within `max_offset` of it (per axis)."""
    _check_batch(batch)
    if not (isinstance(max_offset, (int, float)) and max_offset > 0 and math.isfinite(max_offset)):
        raise ValueError(f"max_offset: expected a positive number, got {max_offset!r}")
    walls, wall_valid = side_walls(generator, batch)
    lo_a, hi_a = _INNER_LO + AGENT_RADIUS + CLEARANCE, 1 - _INNER_LO - AGENT_RADIUS - CLEARANCE
    agent = lo_a + (hi_a - lo_a) * torch.rand(batch, 2, generator=generator)
    heading = 2 * math.pi * torch.rand(batch, generator=generator)
    lo_g, hi_g = _INNER_LO + GOLD_RADIUS + CLEARANCE, 1 - _INNER_LO - GOLD_RADIUS - CLEARANCE
    box_lo = (agent - max_offset).clamp(min=lo_g)
    box_hi = (agent + max_offset).clamp(max=hi_g)

    def draw(idx: Tensor) -> Tensor:
        return box_lo[idx] + (box_hi[idx] - box_lo[idx]) * torch.rand(len(idx), 2, generator=generator)

    def clear(idx: Tensor, gold: Tensor) -> Tensor:
        return (gold - agent[idx]).norm(dim=-1) >= AGENT_RADIUS + GOLD_RADIUS + CLEARANCE

    gold = _draw_until(batch, draw, clear)
    scene = Scene(agent, heading, gold.unsqueeze(1), torch.ones(batch, 1, dtype=torch.bool), walls, wall_valid)
    return scene.to(device)


def sample_line(generator: torch.Generator, scene: Scene, *,
                facing_share: float | None = None) -> tuple[Tensor, Tensor]:
    """`(angle φ [B], length ℓ [B])` of a line from each agent's rim (see the module docstring)."""
    batch = scene.batch_size
    if facing_share is None:
        angle = 2 * math.pi * torch.rand(batch, generator=generator)
    else:
        cone = FACING_LINE_HALF_ANGLE
        inside = torch.rand(batch, generator=generator) < facing_share
        offset_in = (2 * torch.rand(batch, generator=generator) - 1) * cone
        offset_out = cone + torch.rand(batch, generator=generator) * (2 * math.pi - 2 * cone)
        angle = wrap_angle(scene.heading + torch.where(inside, offset_in, offset_out))
    lo, hi = LINE_LENGTH
    return angle, lo + (hi - lo) * torch.rand(batch, generator=generator)


LINE_GOLD_GAP = GOLD_RADIUS + LINE_WIDTH / 2 + 1.0 / 64
"""The least distance `sample_clear_line` keeps between the gold's centre and the bar's axis: the
coin's radius, half the bar's width, and one 64-px pixel for antialiasing."""


def sample_clear_line(generator: torch.Generator, scene: Scene) -> tuple[Tensor, Tensor]:
    """`(angle φ [B], length ℓ [B])` of a line from each agent's rim that does not cover the first
    gold: ℓ ~ U(`LINE_LENGTH`); φ uniform over the directions whose bar stays at least
    `LINE_GOLD_GAP` from the gold's centre (all directions where the bar ends short of the coin)."""
    batch = scene.batch_size
    lo, hi = LINE_LENGTH
    length = lo + (hi - lo) * torch.rand(batch, generator=generator)
    offset = scene.first_gold() - scene.agent
    distance = offset.norm(dim=1)
    reach = torch.hypot(AGENT_RADIUS + length, torch.full_like(length, LINE_WIDTH / 2)) + LINE_GOLD_GAP
    # the bar's axis passes the gold at distance·sin(Δ) for a direction Δ off the gold's
    half_arc = torch.where(distance < reach, torch.asin((LINE_GOLD_GAP / distance).clamp(max=1.0)),
                           torch.zeros_like(distance))
    free = torch.rand(batch, generator=generator) * (2 * math.pi - 2 * half_arc)
    return wrap_angle(direction_angle(offset) + half_arc + free), length


def sample_full(generator: torch.Generator, batch: int, *, right_angles: bool = False,
                device: torch.device | str = "cpu") -> Scene:
    """Full scenes: side walls, 1–2 interior walls, 1–2 gold, an agent — nothing overlapping."""
    _check_batch(batch)
    side, side_valid = side_walls(generator, batch)
    interior = _interior_walls(generator, batch, right_angles)
    walls = torch.cat([side, interior], 1)
    wall_valid = torch.cat([side_valid, torch.stack([
        torch.ones(batch, dtype=torch.bool), torch.rand(batch, generator=generator) < 0.5], 1)], 1)

    def inside(idx: Tensor, radius: float) -> Tensor:
        lo, hi = _INNER_LO + radius + CLEARANCE, 1 - _INNER_LO - radius - CLEARANCE
        return lo + (hi - lo) * torch.rand(len(idx), 2, generator=generator)

    def clear_of_walls(idx: Tensor, points: Tensor, radius: float) -> Tensor:
        d = distance_to_walls(points.unsqueeze(1), walls[idx], wall_valid[idx]).squeeze(1)
        return d >= radius + CLEARANCE

    gold0 = _draw_until(batch, lambda i: inside(i, GOLD_RADIUS), lambda i, p: clear_of_walls(i, p, GOLD_RADIUS))
    gold1 = _draw_until(batch, lambda i: inside(i, GOLD_RADIUS), lambda i, p: clear_of_walls(i, p, GOLD_RADIUS)
                        & ((p - gold0[i]).norm(dim=-1) >= 2 * GOLD_RADIUS + CLEARANCE))
    gold = torch.stack([gold0, gold1], 1)
    gold_valid = torch.stack([torch.ones(batch, dtype=torch.bool), torch.rand(batch, generator=generator) < 0.5], 1)

    def agent_clear(idx: Tensor, p: Tensor) -> Tensor:
        d_gold = (gold[idx] - p.unsqueeze(1)).norm(dim=-1)
        d_gold = torch.where(gold_valid[idx], d_gold, torch.full_like(d_gold, float("inf")))
        return clear_of_walls(idx, p, AGENT_RADIUS) & (d_gold.min(1).values >= AGENT_RADIUS + GOLD_RADIUS + CLEARANCE)

    agent = _draw_until(batch, lambda i: inside(i, AGENT_RADIUS), agent_clear)
    heading = 2 * math.pi * torch.rand(batch, generator=generator)
    return Scene(agent, heading, gold, gold_valid, walls, wall_valid).to(device)


def _interior_walls(generator: torch.Generator, batch: int, right_angles: bool) -> Tensor:
    """Two candidate interior walls `[B, 2, 5]`, each fully inside the room (inside the side walls)."""
    if right_angles:
        angle = (math.pi / 2) * torch.randint(0, 2, (batch, 2), generator=generator).float()
    else:
        angle = 2 * math.pi * torch.rand(batch, 2, generator=generator)
    lo, hi = INTERIOR_LENGTH
    length = lo + (hi - lo) * torch.rand(batch, 2, generator=generator)
    thickness = torch.full_like(length, WALL_THICKNESS)
    c, s = torch.cos(angle).abs(), torch.sin(angle).abs()
    extent = torch.stack([length / 2 * c + thickness / 2 * s, length / 2 * s + thickness / 2 * c], -1)
    span_lo, span_hi = _INNER_LO + extent, 1 - _INNER_LO - extent
    centre = span_lo + (span_hi - span_lo) * torch.rand(batch, 2, 2, generator=generator)
    return torch.cat([centre, length[..., None], thickness[..., None], angle[..., None]], -1)


def _draw_until(batch: int, draw: Callable[[Tensor], Tensor], accept: Callable[[Tensor, Tensor], Tensor],
                max_rounds: int = 1000) -> Tensor:
    """Vectorised rejection sampling: redraw only the rejected samples until all are accepted."""
    idx = torch.arange(batch)
    values = draw(idx)
    todo = idx[~accept(idx, values)]
    for _ in range(max_rounds):
        if len(todo) == 0:
            return values
        values[todo] = draw(todo)
        todo = todo[~accept(todo, values[todo])]
    raise RuntimeError("scene sampling: rejection sampling did not converge; the constraints leave no room")


def _check_batch(batch: int) -> None:
    if not isinstance(batch, int) or isinstance(batch, bool) or batch < 1:
        raise ValueError(f"batch: expected a positive int, got {batch!r}")
