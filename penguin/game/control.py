"""Jitter and the control image set (docs/game.md "Rendering").

**Jitter**: 3 segments, each one uniform action from {1, 2, 3, 4} (forward, backward, clockwise,
anticlockwise) repeated U{1..30} times, executed with physics. `jitter_actions` draws the `[B, 90]`
action table (0 = nothing pads the unused tail); `jitter` runs its three segments in closed
form (`penguin.game.physics.repeat`), the same game as running the table step by step.

**Control set** — the reconstruction diet (`sample_control`): full scenes
(interior walls at any angle) shown as

| share | view                                                                       |
|-------|----------------------------------------------------------------------------|
| 1/4   | the whole room                                                             |
| 1/4   | the whole room after a jitter                                              |
| 1/2   | a zoom, factor f1 ~ U(2, 5) or f2 ~ U(3, 21) (half each), centred on the gold, near the agent (its centre plus N(0, r_a) per axis), on a wall corner or a point of a wall edge, or a random point (a quarter each) |

The result is a `ControlViews(scene, zoom_center, zoom_factor)`: scene tensors and view
parameters only (factor 1 means the whole room), so sampling stays cheap on the CPU and the images
are rendered later, on the training device, by `render(scene, size, zoom_center=..., zoom_factor=...)`.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from penguin.game.geometry import wall_corners
from penguin.game.physics import repeat
from penguin.game.sampling import sample_full
from penguin.game.scene import AGENT_RADIUS, Scene

JITTER_SEGMENTS = 3
JITTER_MAX_REPEAT = 30


def jitter_segments(generator: torch.Generator, batch: int) -> tuple[Tensor, Tensor]:
    """The segments of a jitter: `(action [B, 3], repeat [B, 3])` (see module docstring)."""
    action = torch.randint(1, 5, (batch, JITTER_SEGMENTS), generator=generator)
    repeat = torch.randint(1, JITTER_MAX_REPEAT + 1, (batch, JITTER_SEGMENTS), generator=generator)
    return action, repeat


def jitter_actions(generator: torch.Generator, batch: int) -> Tensor:
    """The action table `[B, 90]` of a jitter (see module docstring): the segments of
    `jitter_segments` (same draws) spelled out one action per physics step."""
    action, repeat = jitter_segments(generator, batch)
    # Segment k occupies [start_k, start_k + repeat_k); position t belongs to the segment whose end
    # is the first to exceed t, which a comparison against the running ends finds without a loop.
    ends = repeat.cumsum(1)
    t = torch.arange(JITTER_SEGMENTS * JITTER_MAX_REPEAT)
    segment = (t[None, :, None] >= ends[:, None, :]).sum(-1)
    in_range = segment < JITTER_SEGMENTS
    picked = action.gather(1, segment.clamp(max=JITTER_SEGMENTS - 1))
    return torch.where(in_range, picked, torch.zeros_like(picked))


def jitter(scene: Scene, generator: torch.Generator) -> Scene:
    """The scene after a random jitter (gold met on the way is collected): each segment runs
    through `physics.repeat`, the closed form of its repeated action."""
    action, times = jitter_segments(generator, scene.batch_size)
    for k in range(JITTER_SEGMENTS):
        scene = repeat(scene, action[:, k].to(scene.device), times[:, k])[0]
    return scene


@dataclass(frozen=True)
class ControlViews:
    scene: Scene
    zoom_center: Tensor
    zoom_factor: Tensor


def sample_control(generator: torch.Generator, batch: int) -> ControlViews:
    """A batch of control-set views (see the module docstring for the mix)."""
    scene = sample_full(generator, batch)
    kind = torch.randint(0, 4, (batch,), generator=generator)  # 0 room, 1 jittered room, 2-3 zoom
    jittered = (kind == 1).nonzero().squeeze(1)
    if len(jittered):
        moved = jitter(scene[jittered], generator)
        scene = scene.replace(agent=scene.agent.index_copy(0, jittered, moved.agent),
                              heading=scene.heading.index_copy(0, jittered, moved.heading),
                              gold_valid=scene.gold_valid.index_copy(0, jittered, moved.gold_valid))

    target = torch.randint(0, 4, (batch,), generator=generator)  # gold, agent, wall, random point
    near_agent = scene.agent + AGENT_RADIUS * torch.randn(batch, 2, generator=generator)
    candidates = torch.stack([scene.first_gold(), near_agent, _wall_points(generator, scene),
                              torch.rand(batch, 2, generator=generator)], 1)
    center = candidates[torch.arange(batch), target].clamp(0.0, 1.0)
    f1 = 2 + 3 * torch.rand(batch, generator=generator)
    f2 = 3 + 18 * torch.rand(batch, generator=generator)
    factor = torch.where(torch.rand(batch, generator=generator) < 0.5, f1, f2)
    zoomed = kind >= 2
    return ControlViews(scene,
                        torch.where(zoomed[:, None], center, torch.full_like(center, 0.5)),
                        torch.where(zoomed, factor, torch.ones_like(factor)))


def _wall_points(generator: torch.Generator, scene: Scene) -> Tensor:
    """Per sample, a corner of a random wall (half the time) or a random point of its long edge."""
    b = scene.batch_size
    wall = torch.multinomial(scene.wall_valid.float(), 1, generator=generator).squeeze(1)
    walls = scene.walls[torch.arange(b), wall]
    corners = wall_corners(walls)
    corner = corners[torch.arange(b), torch.randint(0, 4, (b,), generator=generator)]
    along = torch.rand(b, 1, generator=generator)
    edge = corners[:, 0] + along * (corners[:, 2] - corners[:, 0])
    return torch.where(torch.rand(b, 1, generator=generator) < 0.5, corner, edge)
