"""Read-out goals: "imagine yourself closer to / further from the gold", "the gold nearer the upper-left corner".

A read-out task has no target image. The brain draws the imagined room, `penguin.game.readout`
reads the agent and the gold back out of that drawing, and the rules here say whether the read-out
scene is what was asked (`lit_modules/readout_loss.py` turns them into a loss, `lit_modules/
metrics.py` into `readout_acc`). A `ReadoutGoal` (one per step, per-sample tensors) records the
goal kind and the input scene; it rides on `Step.readout` to the device.

Notation: input agent `a₀` and gold `g₀` (`scene.agent`, `scene.first_gold()`), read-out agent `â`
and gold `ĝ`, `d(u, v) = √((u_x − v_x)² + (u_y − v_y)²)` — both coordinates, every time;
`c = r_a + r_g` (contact: the agent would collect the gold), `m = MARGIN = 0.1` room units
(6.4 px at 64 px). The moved object must lie where the game allows it: its centre inside its box
`AGENT_BOX` / `GOLD_BOX` (clear of the side walls' inner edges by its radius).

| kind (index)                  | moved | kept  | constraint on the read-out scene                              |
|-------------------------------|-------|-------|---------------------------------------------------------------|
| `readout_closer` (0)          | agent | gold  | `c ≤ d(â, ĝ) ≤ d(a₀, g₀) / 2` (at least halfway to the gold, not touching it) |
| `readout_further` (1)         | agent | gold  | `d(â, ĝ) ≥ d(a₀, g₀) + m`                                    |
| `readout_gold_upper_left` (2) | gold  | agent | `d(ĝ, 0) ≤ d(g₀, 0) − m` and `d(ĝ, â) ≥ c` (not touching the agent) |

`shortfall(goal, â, ĝ)` is the distance (room units, ≥ 0, differentiable) by which a read-out
misses its constraint: the sum of the violated inequalities' gaps plus the moved object's excess
outside its box (per axis); 0 exactly when the constraint holds. `satisfied(goal, readout)` — the
hard check the metric uses — asks for more: both objects present, both radii within
`RADIUS_TOLERANCE` (relative) of `r_a` / `r_g`, the kept object within `KEEP_TOLERANCE` of its input
position, and a zero shortfall.

Feasibility. Not every scene allows every goal (a gold next to the agent leaves no room to come
halfway closer; an agent in a corner cannot move further). `example(goal)` places the moved object
where the constraint holds with `SLACK` to spare — closer: on the segment from the gold to the
agent, in the middle of the allowed distances; further: `m + 2·SLACK` further along the gold→agent
ray, else the agent box's corner farthest from the gold; upper-left: along the ray to the corner,
else the gold box's upper-left corner — each clamped into its box shrunk by `SLACK`. `feasible`
is "the example holds with every bound, the box included, tightened by `SLACK`", and
`sample_goal_scenes` redraws bare scenes (`sample_bare`) until every sample is feasible (about 75 %
of bare scenes allow closer, 98 % further and upper-left). The example also serves as the moved object's
position in `readout_scene` — the scene a drawing shows, rendered as the loss's "looks like a game"
target and in the TensorBoard grids — when the drawing lost that object.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from penguin.game.readout import ReadOut
from penguin.game.sampling import sample_bare
from penguin.game.scene import AGENT_RADIUS, GOLD_RADIUS, WALL_THICKNESS, Scene

READOUT_KINDS = ("readout_closer", "readout_further", "readout_gold_upper_left")
CLOSER, FURTHER, GOLD_UPPER_LEFT = range(3)

MARGIN = 0.1  # room units: how much further, or how much nearer the corner, counts as a change
CONTACT = AGENT_RADIUS + GOLD_RADIUS  # centre distance below which the agent collects the gold
SLACK = 0.025  # room units (1.6 px at 64 px) of room to spare a feasible scene's example keeps
AGENT_BOX = (WALL_THICKNESS + AGENT_RADIUS, 1.0 - WALL_THICKNESS - AGENT_RADIUS)
GOLD_BOX = (WALL_THICKNESS + GOLD_RADIUS, 1.0 - WALL_THICKNESS - GOLD_RADIUS)
RADIUS_TOLERANCE = 0.3  # relative radius error `satisfied` accepts (a 64-px coin is 1 px in radius)
KEEP_TOLERANCE = GOLD_RADIUS  # room units (1 px at 64 px) the kept object may drift under `satisfied`
MAX_ROUNDS = 200  # redraw rounds of `sample_goal_scenes` (each keeps about 3/4 of the scenes it tries)
_EPS = 1e-6  # inside the square root of `distance`: a finite gradient where two points coincide


@dataclass(frozen=True)
class ReadoutGoal:
    """What a read-out step's drawing is scored against: `kind [B]` (long, indexes `READOUT_KINDS`)
    and the input `scene` (its agent and first gold are `a₀`, `g₀`)."""

    kind: Tensor
    scene: Scene

    def __post_init__(self) -> None:
        if not isinstance(self.kind, Tensor) or self.kind.dtype != torch.long or self.kind.shape != (len(self.scene),):
            raise ValueError(f"ReadoutGoal.kind: expected a long tensor [B={len(self.scene)}] of indices into "
                             f"{READOUT_KINDS}, got {getattr(self.kind, 'dtype', type(self.kind).__name__)} "
                             f"{list(getattr(self.kind, 'shape', []))}")

    @staticmethod
    def of(kind: int, scene: Scene) -> "ReadoutGoal":
        """The goal `READOUT_KINDS[kind]` for every sample of `scene`."""
        return ReadoutGoal(torch.full((len(scene),), kind, dtype=torch.long, device=scene.device), scene)

    @property
    def agent(self) -> Tensor:
        """`a₀ [B, 2]`."""
        return self.scene.agent

    @property
    def gold(self) -> Tensor:
        """`g₀ [B, 2]`."""
        return self.scene.first_gold()

    @property
    def moves_gold(self) -> Tensor:
        """`[B]` bool: the gold is the moved object (else the agent is)."""
        return self.kind == GOLD_UPPER_LEFT

    def to(self, device: torch.device | str) -> "ReadoutGoal":
        return ReadoutGoal(self.kind.to(device), self.scene.to(device))

    def __getitem__(self, index) -> "ReadoutGoal":
        """The goals of some samples: `goal[:4]`, `goal[mask]`, `goal[idx_tensor]`."""
        if isinstance(index, int):
            index = slice(index, index + 1)
        return ReadoutGoal(self.kind[index], self.scene[index])


def distance(u: Tensor, v: Tensor) -> Tensor:
    """`[B]`: `√((u_x − v_x)² + (u_y − v_y)² + ε²)` of points `[B, 2]` (finite gradient at `u = v`)."""
    dx, dy = u[:, 0] - v[:, 0], u[:, 1] - v[:, 1]
    return torch.sqrt(dx * dx + dy * dy + _EPS * _EPS)


def box_excess(point: Tensor, box: tuple[float, float], slack: float = 0.0) -> Tensor:
    """`[B]`: how far `point [B, 2]` lies outside the square `box²` shrunk by `slack` on every
    side, summed over x and y."""
    lo, hi = box
    return (torch.relu(lo + slack - point) + torch.relu(point - (hi - slack))).sum(-1)


def _inner(box: tuple[float, float]) -> tuple[float, float]:
    """`box` shrunk by `SLACK` on every side: where the examples go."""
    return box[0] + SLACK, box[1] - SLACK


def input_measure(goal: ReadoutGoal) -> Tensor:
    """`[B]`: the input quantity each constraint compares with — `d(a₀, g₀)` for closer and further,
    `d(g₀, 0)` for upper-left."""
    corner = torch.zeros_like(goal.gold)
    return torch.where(goal.moves_gold, distance(goal.gold, corner), distance(goal.agent, goal.gold))


def bound(goal: ReadoutGoal) -> Tensor:
    """`[B]`: the constraint's bound on the read-out measure — at most `d₀ / 2` (closer), at least
    `d₀ + m` (further), at most `d(g₀, 0) − m` (upper-left)."""
    measure = input_measure(goal)
    return torch.where(goal.kind == CLOSER, measure / 2, torch.where(goal.kind == FURTHER, measure + MARGIN,
                                                                      measure - MARGIN))


def shortfall(goal: ReadoutGoal, agent: Tensor, gold: Tensor, slack: float = 0.0) -> Tensor:
    """`[B]`, room units, ≥ 0: how far read-out positions `agent`, `gold` `[B, 2]` miss the goal's
    constraint (module table), with every bound tightened by `slack`; 0 where it holds."""
    apart = distance(agent, gold)
    to_corner = distance(gold, torch.zeros_like(gold))
    limit = bound(goal)
    closer = torch.relu(apart - (limit - slack)) + torch.relu(CONTACT + slack - apart)
    further = torch.relu(limit + slack - apart)
    upper_left = torch.relu(to_corner - (limit - slack)) + torch.relu(CONTACT + slack - apart)
    moved_out = torch.where(goal.moves_gold, box_excess(gold, GOLD_BOX, slack), box_excess(agent, AGENT_BOX, slack))
    kind = goal.kind
    return torch.where(kind == CLOSER, closer, torch.where(kind == FURTHER, further, upper_left)) + moved_out


def example(goal: ReadoutGoal) -> Tensor:
    """`[B, 2]`: a position of the moved object that meets the goal (module docstring,
    "Feasibility"); with the kept object at its input position."""
    a0, g0 = goal.agent, goal.gold
    apart = distance(a0, g0).unsqueeze(1)
    away = (a0 - g0) / apart  # unit vector gold → agent
    # closer: the middle of the allowed distances [c, d₀/2] on the segment gold → agent
    closer = g0 + away * (CONTACT + apart / 2) / 2
    # further: m + 2·slack further along gold → agent, else the agent box's corner farthest from the gold
    along = (g0 + away * (apart + MARGIN + 2 * SLACK)).clamp(*_inner(AGENT_BOX))
    lo, hi = _inner(AGENT_BOX)
    corner = torch.where(g0 < 0.5, torch.full_like(g0, hi), torch.full_like(g0, lo))
    further = _first_that_holds(goal, along, corner)
    # upper-left: toward the corner along its ray, else the gold box's upper-left corner
    to_corner = distance(g0, torch.zeros_like(g0)).unsqueeze(1)
    ray = (g0 * (to_corner - MARGIN - 2 * SLACK).clamp(min=0) / to_corner).clamp(*_inner(GOLD_BOX))
    upper_left = _first_that_holds(goal, ray, torch.full_like(g0, _inner(GOLD_BOX)[0]))
    kind = goal.kind.unsqueeze(1)
    moved = torch.where(kind == CLOSER, closer, torch.where(kind == FURTHER, further, upper_left))
    return torch.where(goal.moves_gold.unsqueeze(1), moved.clamp(*_inner(GOLD_BOX)), moved.clamp(*_inner(AGENT_BOX)))


def _first_that_holds(goal: ReadoutGoal, first: Tensor, second: Tensor) -> Tensor:
    """Per sample, `first` where it meets the goal with `SLACK` to spare, else `second`."""
    return torch.where((_shortfall_of_moved(goal, first, SLACK) == 0).unsqueeze(1), first, second)


def _shortfall_of_moved(goal: ReadoutGoal, moved: Tensor, slack: float) -> Tensor:
    """`shortfall` with the moved object at `moved [B, 2]` and the kept one at its input position."""
    gold_moves = goal.moves_gold.unsqueeze(1)
    agent = torch.where(gold_moves, goal.agent, moved)
    gold = torch.where(gold_moves, moved, goal.gold)
    return shortfall(goal, agent, gold, slack)


def feasible(goal: ReadoutGoal) -> Tensor:
    """`[B]` bool: the goal's `example` meets it with every bound tightened by `SLACK`."""
    return _shortfall_of_moved(goal, example(goal), SLACK) == 0


def satisfied(goal: ReadoutGoal, readout: ReadOut) -> Tensor:
    """`[B]` bool: the read-out scene is what the goal asks (module docstring: presence, radii,
    the kept object in place, a zero shortfall)."""
    present = readout.agent_present & readout.gold_present
    radii = (((readout.agent_radius / AGENT_RADIUS - 1).abs() <= RADIUS_TOLERANCE)
             & ((readout.gold_radius / GOLD_RADIUS - 1).abs() <= RADIUS_TOLERANCE))
    kept_moved = torch.where(goal.moves_gold, distance(readout.agent, goal.agent), distance(readout.gold, goal.gold))
    return present & radii & (kept_moved <= KEEP_TOLERANCE) & (shortfall(goal, readout.agent, readout.gold) == 0)


def readout_scene(goal: ReadoutGoal, read: ReadOut) -> Scene:
    """The scene a drawing shows, as far as the goal cares (detached; a new scene, `goal.scene` is
    untouched): the input scene with the agent at `read.agent`, turned to `read.heading`, and the
    first gold at `read.gold`, clamped into their boxes. An object the read-out lost stays where
    the goal wants it: the kept one at its input position, the moved one at `example(goal)`; a lost
    eye keeps the input heading. The `readout` term's "looks like a game" target renders it."""
    scene = goal.scene
    with torch.no_grad():
        moved = example(goal)
        gold_moves = goal.moves_gold.unsqueeze(1)
        agent_fallback = torch.where(gold_moves, goal.agent, moved)
        gold_fallback = torch.where(gold_moves, moved, goal.gold)
        agent = torch.where(read.agent_present.unsqueeze(1), read.agent.detach(), agent_fallback).clamp(*AGENT_BOX)
        gold = torch.where(read.gold_present.unsqueeze(1), read.gold.detach(), gold_fallback).clamp(*GOLD_BOX)
        turned = read.eye_present & read.agent_present
        heading = torch.where(turned, read.heading.detach(), scene.heading)
        slot = scene.gold_valid.float().argmax(dim=1)  # the first gold, the one the goal names
        first = F.one_hot(slot, scene.gold.shape[1]).bool().unsqueeze(2)
        golds = torch.where(first, gold.unsqueeze(1).to(scene.gold.dtype), scene.gold)
    return scene.replace(agent=agent.to(scene.agent.dtype), heading=heading.to(scene.heading.dtype), gold=golds)


def sample_goal_scenes(generator: torch.Generator, batch: int, kind: int) -> Scene:
    """Bare scenes (`sample_bare`) in which the goal `READOUT_KINDS[kind]` is feasible: infeasible
    samples are redrawn, all of them at once, from `generator`."""
    scene = sample_bare(generator, batch)
    for _ in range(MAX_ROUNDS):
        bad = ~feasible(ReadoutGoal.of(kind, scene))
        n = int(bad.sum())
        if n == 0:
            return scene
        fresh = sample_bare(generator, n)
        idx = bad.nonzero().squeeze(1)
        scene = Scene(**{name: _put(getattr(scene, name), idx, getattr(fresh, name))
                         for name in ("agent", "heading", "gold", "gold_valid", "walls", "wall_valid")})
    raise RuntimeError(f"{READOUT_KINDS[kind]}: no feasible scene after {MAX_ROUNDS} rounds of redrawing")


def _put(values: Tensor, idx: Tensor, fresh: Tensor) -> Tensor:
    """A copy of `values` with rows `idx` replaced by `fresh` (the input stays untouched)."""
    out = values.clone()
    out[idx] = fresh
    return out
