"""The `readout` loss term: score a drawing by what can be read out of it, not by its pixels alone.

A read-out step ("imagine yourself closer to the gold", `penguin.game.readout_goal`) has no target
image: many drawings are right. The brain's prediction `P [B, 3, S, S]` is read out with the
differentiable `soft_read_out` (agent `â`, gold `ĝ`, radii `r̂_a`, `r̂_g`), and per sample

    radius     = ρ((r̂_a − r_a) / r_a) + ρ((r̂_g − r_g) / r_g)
    keep       = ρ(d(ô, o₀) / r_a)          o = the kept object: the gold for closer / further,
                                            the agent for upper-left; o₀ its input position
    constraint = ρ(shortfall(goal, â, ĝ) / r_a)
    game       = mean over pixels and channels of (P − render(R, S))²

    readout    = mean over the batch of  radius + keep + constraint + GAME_WEIGHT · game

with `ρ(x) = 2·(√(1 + x²) − 1)` (pseudo-Huber: `x²` for small errors, `2·|x|` for large ones, so a
drawing whose objects are far off or missing — the untrained brain's — gets a bounded gradient),
`r_a = AGENT_RADIUS`, `r_g = GOLD_RADIUS`, `d(u, v) = √((u_x − v_x)² + (u_y − v_y)² + ε²)` (both
coordinates; ε keeps the gradient finite where two points coincide) and `shortfall` the distance
by which the read-out misses the goal's constraint (`penguin.game.readout_goal`: closer
`c ≤ d(â, ĝ) ≤ d₀/2`, further `d(â, ĝ) ≥ d₀ + m`, upper-left `d(ĝ, 0) ≤ d(g₀, 0) − m` and
`d(ĝ, â) ≥ c`, the moved object inside its box). Lengths are measured in agent radii: an error of
one agent radius in `keep` or `constraint` costs 0.83, a missing object 0.83 in `radius`, and a
drawing of the right scene about 0.01 in all (the read-out's own error at 64 px).

**The read-out scene `R`** ("looks like a game", `penguin.game.readout_goal.readout_scene`): the
input scene with the agent moved to `â` and turned to the read-out heading, and the gold moved to
`ĝ` — both objects, whichever the goal moves — all detached (the term teaches clean game pixels
where the drawing put its objects; the positions are taught by the other terms). An object the
drawing lost (`*_present` false) stays where the goal wants it instead: the kept one at its input
position, the moved one at the goal's `example`; a lost eye keeps the input heading. Positions are
clamped into the objects' boxes so `R` is a legal scene, and it is drawn by the one renderer
(`penguin.game.render`) at the prediction's size.

Finite everywhere: on blank, black, noise and agent-less drawings the read-out's empty masks sit at
the room centre with radius ~0 (`soft_read_out`), no square root sees 0, and the heading (an
`atan2`) only enters the detached target.
"""
from __future__ import annotations

import torch
from torch import Tensor

from penguin.game.readout import ReadOut, soft_read_out
from penguin.game.readout_goal import ReadoutGoal, distance, readout_scene, shortfall
from penguin.game.render import render
from penguin.game.scene import AGENT_RADIUS, GOLD_RADIUS

GAME_WEIGHT = 1.0  # the "looks like a game" MSE next to the read-out parts (each ~1 per agent radius of error)
SHARPNESS = 40.0  # `soft_read_out`'s sigmoid slope


def readout_loss(prediction: Tensor, goal: ReadoutGoal) -> Tensor:
    """The `readout` term (module docstring): a scalar, differentiable in `prediction [B, 3, S, S]`."""
    parts = readout_parts(prediction, goal)
    return (parts["radius"] + parts["keep"] + parts["constraint"] + GAME_WEIGHT * parts["game"]).mean()


def readout_parts(prediction: Tensor, goal: ReadoutGoal) -> dict[str, Tensor]:
    """The four per-sample parts `[B]` of the term: `radius`, `keep`, `constraint`, `game`."""
    if prediction.dim() != 4 or prediction.shape[0] != len(goal.scene):
        raise ValueError(f"prediction: expected [B={len(goal.scene)}, 3, S, S] images for the read-out goal, "
                         f"got {list(prediction.shape)}")
    image = prediction.float()
    read = soft_read_out(image, sharpness=SHARPNESS)
    radius = pseudo_huber((read.agent_radius - AGENT_RADIUS) / AGENT_RADIUS) + pseudo_huber(
        (read.gold_radius - GOLD_RADIUS) / GOLD_RADIUS)
    kept = torch.where(goal.moves_gold, distance(read.agent, goal.agent), distance(read.gold, goal.gold))
    keep = pseudo_huber(kept / AGENT_RADIUS)
    constraint = pseudo_huber(shortfall(goal, read.agent, read.gold) / AGENT_RADIUS)
    target = game_target(goal, read, image.shape[-1])
    game = (image - target).pow(2).mean(dim=(1, 2, 3))
    return {"radius": radius, "keep": keep, "constraint": constraint, "game": game}


def pseudo_huber(x: Tensor) -> Tensor:
    """`ρ(x) = 2·(√(1 + x²) − 1)`: `x²` near 0, `2·|x|` far from it (its gradient stays below 2)."""
    return 2 * (torch.sqrt(1 + x * x) - 1)


def game_target(goal: ReadoutGoal, read: ReadOut, size: int) -> Tensor:
    """`render(readout_scene(goal, read), size)`: the "looks like a game" target, no gradient."""
    with torch.no_grad():
        return render(readout_scene(goal, read), size)
