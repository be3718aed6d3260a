"""Physics: the five actions of docs/game.md, batched, exact, and pure.

| id | token         | effect                               |
|----|---------------|--------------------------------------|
| 0  | —             | nothing                              |
| 1  | `<forward>`   | move 1/16 along θ                    |
| 2  | `<backward>`  | move 1/16 against θ                  |
| 3  | `<clock>`     | θ ← θ + π/30 (clockwise in the image)|
| 4  | `<anticlock>` | θ ← θ − π/30                         |

**Moves** are swept exactly: the set of agent centres at which the disc overlaps a wall is the
wall rectangle grown by the agent radius (a rounded rectangle = two boxes and four corner discs).
The move goes along the line until the first time the centre would enter any grown wall, less
`CONTACT_GAP` (1e-5 room units, 0.002 px at 224) so the agent ends clear of the wall instead of
exactly touching it, and never past the full step. Because the whole segment is tested, there is
no tunnelling. The agent centre is also kept inside the room (`[r_a, 1 − r_a]²`), so an agent that
walks into an exit gap stops at the room's edge instead of leaving the unit square.

**Gold**: after every action (turns and "nothing" included), every valid gold whose centre is
closer than `r_a + r_g` to the agent centre is collected (its slot becomes invalid) and counts +1
reward.

Entry points: `step` (one action per sample), `run` (an action sequence `[B, T]`, 0-padded) and
`run_programs` (one program per sample with its own length, as if each ran alone).

Nothing here mutates its input: `step` returns a new `Scene`. Arithmetic runs in float64 and is
stored back in the scene's dtype.
"""
from __future__ import annotations

import torch
from torch import Tensor

from penguin.game.geometry import ANTICLOCK, BACKWARD, CLOCK, FORWARD, wrap_angle
from penguin.game.scene import AGENT_RADIUS, GOLD_RADIUS, STEP_LENGTH, TURN_ANGLE, Scene, heading_vector

CONTACT_GAP = 1e-5
_INF = float("inf")


def step(scene: Scene, actions: Tensor) -> tuple[Scene, Tensor]:
    """Apply one action per sample. Returns `(new_scene, reward [B] float)`."""
    actions = _check_actions(scene, actions, ndim=1)
    heading = scene.heading.double()
    new_heading = _turned(heading, _turn_delta(actions))

    sign = torch.where(actions == FORWARD, 1.0, torch.where(actions == BACKWARD, -1.0, 0.0)).double()
    agent = scene.agent.double()
    moving = sign != 0
    new_agent = agent
    if bool(moving.any()):  # the wall sweep is the costly part; turns and no-ops never need it
        direction = heading_vector(heading) * sign.unsqueeze(-1)
        distance = torch.where(moving, free_distance(scene, direction), torch.zeros_like(sign))
        new_agent = agent + direction * distance.unsqueeze(-1)

    moved_agent = new_agent.to(scene.agent.dtype)
    taken = _in_reach(scene.gold, scene.gold_valid, moved_agent)  # collect_gold, in the same new scene
    moved = scene.replace(agent=moved_agent, heading=new_heading.to(scene.heading.dtype),
                          gold_valid=scene.gold_valid & ~taken)
    return moved, taken.sum(dim=1).to(scene.agent.dtype)


def _turn_delta(actions: Tensor) -> Tensor:
    """The heading change (float64, any shape) of each action: ±π/30 for the turns, else 0."""
    turn = torch.where(actions == CLOCK, 1.0, torch.where(actions == ANTICLOCK, -1.0, 0.0)).double()
    return turn * TURN_ANGLE


def _turned(heading: Tensor, delta: Tensor) -> Tensor:
    """θ `[B]` (float64) turned by `delta` (`_turn_delta`), in `[0, 2π)`."""
    return wrap_angle(heading.double() + delta)


def run(scene: Scene, actions: Tensor) -> tuple[Scene, Tensor]:
    """Apply an action sequence `[B, T]` (0 = nothing pads short sequences). Returns `(scene, total reward [B])`."""
    actions = _check_actions(scene, actions, ndim=2)
    reward = scene.agent.new_zeros(scene.batch_size)
    for t in range(actions.shape[1]):
        scene, r = step(scene, actions[:, t])
        reward = reward + r
    return scene, reward


def repeat(scene: Scene, actions: Tensor, times: Tensor) -> tuple[Scene, Tensor]:
    """Apply `actions [B]` `times [B]` times each (0 times: unchanged) — the same as `run` on the
    table of each action repeated, in closed form (a handful of tensor ops, however many repeats).
    Returns `(scene, total reward [B])`.

    Why the closed form is the same game: a turn leaves the centre where it is, so the turns add
    up to one turn of `times · π/30` and collect what the first one collects; a straight walk of
    `n` steps, each the longest clear step of `1/16`, ends at `min(n/16, contact − CONTACT_GAP)`
    along the line (the contact is the same for every step of one line), and gold is collected
    wherever the centre stops after a step, i.e. at `min(k/16, that)` for `k = 1..n`. Only
    rounding differs from `run` (float64 here against a float32 scene after every step there,
    about 1e-7 room units).
    """
    actions = _check_actions(scene, actions, ndim=1)
    if (not isinstance(times, Tensor) or times.shape != actions.shape or times.dtype.is_floating_point
            or bool((times < 0).any())):
        raise ValueError(f"times: expected non-negative integer repeat counts of shape [{scene.batch_size}]")
    times = times.to(scene.device)
    acting = times > 0
    heading = scene.heading.double()
    turn = torch.where(actions == CLOCK, 1.0, torch.where(actions == ANTICLOCK, -1.0, 0.0)).double()
    new_heading = wrap_angle(heading + turn * times.double() * TURN_ANGLE)

    sign = torch.where(actions == FORWARD, 1.0, torch.where(actions == BACKWARD, -1.0, 0.0)).double()
    sign = torch.where(acting, sign, torch.zeros_like(sign))
    direction = heading_vector(heading) * sign.unsqueeze(-1)
    moving = sign != 0
    walk = times.double() * STEP_LENGTH
    distance = torch.where(moving, _free_distance_to(scene, direction, walk), torch.zeros_like(sign))
    # Where the centre stops after each step k = 1..n (n = max repeat), and whether step k happens.
    k = torch.arange(1, max(int(times.max()), 1) + 1, device=scene.device, dtype=torch.float64)
    stops = scene.agent.double()[:, None] + direction[:, None] * torch.minimum(
        k[None] * STEP_LENGTH, distance[:, None]).unsqueeze(-1)  # [B, n, 2]
    happens = (k[None] <= times[:, None]) & acting[:, None]
    reach = (scene.gold.double()[:, None] - stops[:, :, None]).norm(dim=-1) < AGENT_RADIUS + GOLD_RADIUS
    taken = scene.gold_valid & (reach & happens[..., None]).any(dim=1)
    new_agent = scene.agent.double() + direction * distance.unsqueeze(-1)
    moved = scene.replace(agent=new_agent.to(scene.agent.dtype), heading=new_heading.to(scene.heading.dtype),
                          gold_valid=scene.gold_valid & ~taken)
    return moved, taken.sum(dim=1).to(scene.agent.dtype)


def run_programs(scene: Scene, programs: Tensor, lengths: Tensor) -> tuple[Scene, Tensor]:
    """Run one action program per sample: sample `b` applies `programs[b, :lengths[b]]` in order
    (entries past its length are ignored, e.g. −1 padding). Returns `(scene, total reward [B])`.

    The result is exactly that of calling `step` on sample `b` alone once per action of its
    program (tests/test_physics.py replays it so, bit for bit). In the batched loop a sample
    whose program is not running keeps its whole state — a masked step, not a no-op action (even
    a no-op collects gold and re-wraps the heading). Programs are aligned at their ends (sample
    `b` starts at step `max(lengths) − lengths[b]`), so programs that end with their moves (turn,
    then walk) make their moves in the same few last steps. A loop step in which no running sample
    moves is `step` without the wall sweep, done on the state tensors directly: the same turn
    (`_turned`) and the same gold collection (`_in_reach`) at the unchanged position.
    """
    if not isinstance(programs, Tensor) or programs.dim() != 2 or programs.shape[0] != scene.batch_size:
        got = list(programs.shape) if isinstance(programs, Tensor) else type(programs).__name__
        raise ValueError(f"programs: expected a tensor of shape [B, T] with B={scene.batch_size}, got {got}")
    if (not isinstance(lengths, Tensor) or lengths.shape != (scene.batch_size,) or lengths.dtype.is_floating_point
            or ((lengths < 0) | (lengths > programs.shape[1])).any()):
        raise ValueError(f"lengths: expected integers [B] in 0..{programs.shape[1]} (the programs' width)")
    programs, lengths = programs.to(scene.device), lengths.to(scene.device)
    total = int(lengths.max()) if scene.batch_size else 0
    k = torch.arange(total, device=scene.device)[None, :] - (total - lengths)[:, None]  # program index per step
    running = k >= 0
    actions = _check_actions(scene, torch.where(running, programs.gather(1, k.clamp(min=0)), torch.zeros_like(k)), 2)
    moves = ((actions == FORWARD) | (actions == BACKWARD)).any(dim=0).tolist()
    delta = _turn_delta(actions)
    agent, heading, gold_valid = scene.agent, scene.heading, scene.gold_valid
    for t in range(total):
        on = running[:, t]
        if moves[t]:
            nxt, _ = step(scene.replace(agent=agent, heading=heading, gold_valid=gold_valid), actions[:, t])
            agent = torch.where(on[:, None], nxt.agent, agent)
            new_heading, taken = nxt.heading, ~nxt.gold_valid
        else:
            new_heading = _turned(heading, delta[:, t]).to(heading.dtype)
            taken = _in_reach(scene.gold, gold_valid, agent)
        heading = torch.where(on, new_heading, heading)
        gold_valid = gold_valid & ~(taken & on[:, None])
    # Gold only ever leaves by collection, one reward per coin.
    reward = (scene.gold_valid.sum(dim=1) - gold_valid.sum(dim=1)).to(scene.agent.dtype)
    return scene.replace(agent=agent, heading=heading, gold_valid=gold_valid), reward


def collect_gold(scene: Scene) -> tuple[Scene, Tensor]:
    """Remove every gold within `r_a + r_g` of the agent; returns `(scene, reward [B])`."""
    taken = _in_reach(scene.gold, scene.gold_valid, scene.agent)
    return scene.replace(gold_valid=scene.gold_valid & ~taken), taken.sum(dim=1).to(scene.agent.dtype)


def _in_reach(gold: Tensor, gold_valid: Tensor, agent: Tensor) -> Tensor:
    """The valid gold `[B, G]` whose centre is closer than `r_a + r_g` to the agent centre."""
    return gold_valid & ((gold - agent.unsqueeze(1)).norm(dim=-1) < AGENT_RADIUS + GOLD_RADIUS)


def free_distance(scene: Scene, direction: Tensor, length: float = STEP_LENGTH) -> Tensor:
    """How far `[B]` (≤ `length`) the agent can move along unit `direction` `[B, 2]` without
    its disc overlapping any wall at any point of the way, or its centre leaving the room."""
    return _free_distance_to(scene, direction, torch.full((scene.batch_size,), float(length),
                                                          dtype=torch.float64, device=scene.device))


def _free_distance_to(scene: Scene, direction: Tensor, length: Tensor) -> Tensor:
    """`free_distance` with a per-sample `length [B]`."""
    p = scene.agent.double()
    u = direction.double()
    hit = torch.minimum(_wall_entry(scene, p, u), _room_exit(p, u))
    return torch.clamp(torch.minimum(hit - CONTACT_GAP, length.double()), min=0.0)


def _wall_entry(scene: Scene, p: Tensor, u: Tensor) -> Tensor:
    """First time `[B]` at which `p + t·u` enters any wall grown by the agent radius (inf if never)."""
    walls = scene.walls.double()
    c, s = torch.cos(walls[..., 4]), torch.sin(walls[..., 4])
    rel = p.unsqueeze(1) - walls[..., :2]
    # Into each wall's own frame: x along its length, y across its thickness.
    px, py = rel[..., 0] * c + rel[..., 1] * s, -rel[..., 0] * s + rel[..., 1] * c
    ux, uy = u[:, None, 0] * c + u[:, None, 1] * s, -u[:, None, 0] * s + u[:, None, 1] * c
    hx, hy, r = walls[..., 2] / 2, walls[..., 3] / 2, AGENT_RADIUS
    t = torch.minimum(_box_entry(px, py, ux, uy, hx + r, hy), _box_entry(px, py, ux, uy, hx, hy + r))
    for cx in (-1.0, 1.0):
        for cy in (-1.0, 1.0):
            t = torch.minimum(t, _disc_entry(px - cx * hx, py - cy * hy, ux, uy, r))
    t = torch.where(scene.wall_valid, t, torch.full_like(t, _INF))
    return t.min(dim=1).values


def _box_entry(px: Tensor, py: Tensor, ux: Tensor, uy: Tensor, ex: Tensor, ey: Tensor) -> Tensor:
    """Entry time of the ray into the box `|x| ≤ ex, |y| ≤ ey` (slab method; 0 if it starts inside)."""
    near_x, far_x = _slab(px, ux, ex)
    near_y, far_y = _slab(py, uy, ey)
    t_in, t_out = torch.maximum(near_x, near_y), torch.minimum(far_x, far_y)
    hit = (t_in <= t_out) & (t_out >= 0)
    return torch.where(hit, t_in.clamp(min=0.0), torch.full_like(t_in, _INF))


def _slab(p: Tensor, u: Tensor, e: Tensor) -> tuple[Tensor, Tensor]:
    parallel = u.abs() < 1e-12
    safe_u = torch.where(parallel, torch.ones_like(u), u)
    t1, t2 = (-e - p) / safe_u, (e - p) / safe_u
    inside = p.abs() <= e
    near = torch.where(parallel, torch.where(inside, -_INF, _INF), torch.minimum(t1, t2))
    far = torch.where(parallel, torch.where(inside, _INF, -_INF), torch.maximum(t1, t2))
    return near, far


def _disc_entry(px: Tensor, py: Tensor, ux: Tensor, uy: Tensor, r: float) -> Tensor:
    """Entry time of the ray (unit direction) into the disc of radius `r` at the origin."""
    b = px * ux + py * uy
    c = px * px + py * py - r * r
    disc = b * b - c
    root = torch.sqrt(disc.clamp(min=0.0))
    t_in, t_out = -b - root, -b + root
    hit = (disc >= 0) & (t_out >= 0)
    return torch.where(hit, t_in.clamp(min=0.0), torch.full_like(t_in, _INF))


def _room_exit(p: Tensor, u: Tensor) -> Tensor:
    """Time `[B]` at which the centre would leave `[r_a, 1 − r_a]²`."""
    lo, hi = AGENT_RADIUS, 1.0 - AGENT_RADIUS
    safe_u = torch.where(u.abs() < 1e-12, torch.ones_like(u), u)
    t = torch.where(u > 1e-12, (hi - p) / safe_u, torch.where(u < -1e-12, (lo - p) / safe_u, _INF))
    return t.min(dim=1).values.clamp(min=0.0)


def _check_actions(scene: Scene, actions: Tensor, ndim: int) -> Tensor:
    if not isinstance(actions, Tensor) or actions.dim() != ndim or actions.shape[0] != scene.batch_size:
        shape = "[B]" if ndim == 1 else "[B, T]"
        got = list(actions.shape) if isinstance(actions, Tensor) else type(actions).__name__
        raise ValueError(f"actions: expected a tensor of shape {shape} with B={scene.batch_size}, got {got}")
    if actions.dtype.is_floating_point or ((actions < 0) | (actions > 4)).any():
        raise ValueError("actions: expected integer action ids in 0..4 (see docs/game.md, Actions)")
    return actions.to(scene.device)
