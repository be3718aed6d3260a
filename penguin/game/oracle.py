"""The greedy oracle (docs/game.md): follow `greedy_move` with physics until the gold is collected.

`greedy_trace(scene, cap=1024)` returns `GreedyTrace(length [B] long, stuck [B] bool)`: `length`
counts moves until the goal gold (the first valid gold, the one every one-gold question is about)
is collected; for a stuck sample it counts the moves made before giving up. A sample is **stuck**
when the cap is reached, or earlier when a forward move advances the agent less than `BLOCKED`
(1e-4 room units, 1/625 of a step): the greedy policy is deterministic, so it would press into the
wall between it and the gold forever — the state frozen, or creeping along the wall by float
rounding (a creeping agent would otherwise run to the cap without ever getting anywhere).

Two implementations with the same results:

- `simulate_greedy(scene, cap)` — the plain one: one batched `greedy_move` + `physics.step` per
  move, finished samples dropping out. Exact by definition, but a move costs ~100 tensor ops, so a
  batch costs about a millisecond per move of its longest trace (65 samples/s at batch 64).
- `greedy_trace(scene, cap)` — the fast one. The greedy path is a chain of **phases**: turn toward
  the gold until facing it (the gold's direction does not change while turning, so the number of
  turns is a closed form in the angle between heading and gold), then walk straight (the agent's
  sideways offset `l` from the gold does not change while walking, so the walk collects the gold at
  the first step whose forward offset `f` lies within `sqrt((r_a + r_g)² − l²)`). A step can jump
  over that chord when `|l|` is close to `r_a + r_g`: the agent passes the gold and a new phase
  starts from there (it may orbit the gold until the cap). Whether a wall cuts the walk short is one
  float64 ray cast against the grown walls (the mirror of `physics.free_distance`), skipped where
  the walk stays in the open middle of a room with side walls only; the short step itself and the
  blocked move after it are taken by `_short_step` (the same free distance, rounded like the
  engine).

  The state is kept **exact**: the turns and full steps a phase decides are replayed with the
  engine's own float32 rounding (`_replay_turns`, `_replay_steps`), so every phase starts from the
  very float32 state `simulate_greedy` would hold. Each decision (facing, turn direction, which
  step collects, where a wall stops the walk, whether a move is blocked) must clear its threshold by
  `MARGIN` (1e-6) plus the rounding the closed form ignores within the phase; a decision that does
  not is left to the engine (`_engine_step`: `greedy_move` + `physics.step` on that sample, after the
  moves that are certain). Phases run in numpy, vectorised over the samples still going (≈ 10
  phases for a batch: the skips and orbits form the tail). Identity with the plain simulation is
  tested on bare and full scenes, short caps, hand-made stuck scenes and with every close call
  forced onto the engine (tests/test_frameworks_oracle.py). Measured on one (shared) core at batch
  64: ~10,000 bare scenes/s and ~9,000 full scenes/s with cap 256 (~7,000 with cap 1024, the
  orbits running longer), against 65 bare scenes/s for the plain simulation.

Used by the tasks that need the length of the greedy path (`value`, `compare`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from penguin.game.geometry import FORWARD, greedy_move
from penguin.game.physics import CONTACT_GAP, step
from penguin.game.scene import AGENT_RADIUS, GOLD_RADIUS, STEP_LENGTH, TURN_ANGLE, WALL_THICKNESS, Scene

BLOCKED = 1e-4
MARGIN = 1e-6
COLLECT = AGENT_RADIUS + GOLD_RADIUS
_TAU = 2.0 * math.pi


@dataclass(frozen=True)
class GreedyTrace:
    length: Tensor
    stuck: Tensor


def greedy_trace(scene: Scene, cap: int = 1024) -> GreedyTrace:
    """The greedy trace of every sample, by phases (see the module docstring)."""
    _check(scene, cap)
    b = scene.batch_size
    as64 = lambda t: t.detach().double().cpu().numpy().copy()  # float32 values, held exactly in float64
    goal = as64(scene.first_gold())
    st = {"px": as64(scene.agent[:, 0]), "py": as64(scene.agent[:, 1]), "th": as64(scene.heading),
          "gx": goal[:, 0], "gy": goal[:, 1]}
    walls, wall_valid = as64(scene.walls), scene.wall_valid.cpu().numpy()
    st["banded"] = _side_walls_only(walls, wall_valid)
    length = np.zeros(b, dtype=np.int64)
    stuck = np.zeros(b, dtype=bool)
    active = np.arange(b)
    while len(active):
        at_cap = length[active] >= cap
        stuck[active[at_cap]], length[active[at_cap]] = True, cap
        active = active[~at_cap]
        if not len(active):
            break
        s = {k: v[active] for k, v in st.items()}
        w, wv = walls[active], wall_valid[active]
        turns, sign, engine = _turn_plan(s)
        s["th"] = _replay_turns(s["th"], sign, turns)
        u = _heading_vector(s["th"])
        steps, collects, short, walk_engine = _walk_plan(s, u, w, wv, ~engine)
        engine |= walk_engine
        s["px"], s["py"] = _replay_steps(s["px"], s["py"], u, steps)
        n = length[active] + turns + steps
        over = n > cap  # the cap falls inside this phase's certain moves
        finished = over | collects
        stuck[active[over]] = True
        n = np.minimum(n, cap)
        for kind, todo in (("short", short), ("engine", engine)):
            todo = todo & ~over & (n < cap)
            if not todo.any():
                continue
            i = np.nonzero(todo)[0]
            sub = {k: v[i] for k, v in s.items()}
            moved = _short_step(sub, w[i], wv[i]) if kind == "short" else _engine_step(sub, w[i], wv[i])
            ok = ~moved["unsure"]
            engine[i[~ok]] = True
            i = i[ok]
            for k in ("px", "py", "th"):
                s[k][i] = moved[k][ok]
            n[i] += 1
            finished[i] |= moved["collected"][ok] | moved["blocked"][ok]
            stuck[active[i[moved["blocked"][ok]]]] = True
        for k in ("px", "py", "th"):
            st[k][active] = s[k]
        length[active] = n
        active = active[~finished]
    return GreedyTrace(torch.from_numpy(length).to(scene.device), torch.from_numpy(stuck).to(scene.device))


def simulate_greedy(scene: Scene, cap: int = 1024) -> GreedyTrace:
    """The greedy trace by plain simulation: one batched `greedy_move` + `physics.step` per move."""
    _check(scene, cap)
    b = scene.batch_size
    goal = scene.gold_valid.float().argmax(dim=1)
    length = torch.zeros(b, dtype=torch.long, device=scene.device)
    stuck = torch.zeros(b, dtype=torch.bool, device=scene.device)
    active = torch.arange(b, device=scene.device)
    current = scene[active]
    for _ in range(cap):
        if len(active) == 0:
            break
        move = greedy_move(current)
        nxt, _ = step(current, move)
        length[active] += 1
        done = ~nxt.gold_valid[torch.arange(len(active), device=scene.device), goal[active]]
        advanced = (nxt.agent.double() - current.agent.double()).norm(dim=1)
        blocked = (move == FORWARD) & (advanced < BLOCKED) & ~done
        stuck[active[blocked]] = True
        keep = ~(done | blocked)
        active, current = active[keep], nxt[keep]
    stuck[active] = True
    return GreedyTrace(length, stuck)


def _turn_plan(s: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """How many turns `[n]` toward the gold are certain, their sign (+1 clockwise), and whether the
    engine must take the move after them (the facing or turn decision lies within `MARGIN`)."""
    dx, dy = s["gx"] - s["px"], s["gy"] - s["py"]
    dist = np.hypot(dx, dy)
    alpha = np.arcsin(np.minimum(COLLECT / dist, 1.0))  # facing ⟺ the gold lies within ±alpha of θ
    delta = np.mod(np.arctan2(dy, dx) - s["th"], _TAU)  # (φ_gold − θ) mod 2π
    facing = (delta < alpha) | (delta > _TAU - alpha)
    clockwise = delta < math.pi
    to_turn = np.where(clockwise, delta, _TAU - delta)
    turns = np.where(facing, 0, np.floor((to_turn - alpha) / TURN_ANGLE) + 1).astype(np.int64)
    left = to_turn - turns * TURN_ANGLE  # the angle from the heading to the gold after the turns
    # The closed form turns by exact multiples of π/30; the engine rounds the heading to float32
    # after every turn (≤ 2.4e-7 rad each).
    m = MARGIN / dist + 2.4e-7 * (turns + 1)
    near_edge = (np.abs(delta - alpha) < m) | (np.abs(delta - (_TAU - alpha)) < m)
    # Gold within reach before the move: whichever move comes next collects it (or walks past it).
    unsure_dir = (~facing & (np.abs(delta - math.pi) < m)) | (dist < COLLECT + MARGIN)
    unsure_before = ~facing & (left + TURN_ANGLE - alpha < m)  # facing already one turn earlier?
    unsure_land = ~facing & ((alpha - left < m) | (left + alpha < m))
    certain = np.where(unsure_dir | (facing & near_edge), 0, np.where(unsure_before, turns - 1, turns))
    engine = unsure_dir | (facing & near_edge) | unsure_before | unsure_land
    return certain, np.where(clockwise, 1.0, -1.0), engine


def _walk_plan(s: dict, u: tuple[np.ndarray, np.ndarray], walls: np.ndarray, wall_valid: np.ndarray,
               walking: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For the samples `walking` (certainly facing the gold): how many full forward steps are certain,
    whether the last of them collects the gold, whether the next move is a forward step cut short
    by a wall, and whether the engine must take the next move."""
    dx, dy = s["gx"] - s["px"], s["gy"] - s["py"]
    ux, uy = u
    ahead, side = dx * ux + dy * uy, np.abs(-dx * uy + dy * ux)  # f, |l|: l stays while walking
    chord = np.sqrt(np.maximum(COLLECT ** 2 - side ** 2, 0.0))
    reach = np.maximum(np.floor((ahead - chord) / STEP_LENGTH) + 1, 1)  # the first step with f < chord
    # A walk that starts and ends inside the open middle of a room with only side walls is clear
    # (the middle is convex); only the others need the ray cast.
    ex, ey = s["px"] + reach * STEP_LENGTH * ux, s["py"] + reach * STEP_LENGTH * uy
    inner = s["banded"] & _in_middle(s["px"], s["py"]) & _in_middle(ex, ey)
    free = np.full(len(ux), np.inf)
    cast = walking & ~inner
    if cast.any():
        hit = _hit_time(s["px"][cast], s["py"][cast], ux[cast], uy[cast], walls[cast], wall_valid[cast])
        free[cast] = np.maximum(hit - CONTACT_GAP, 0.0)
    m = MARGIN + 1e-7 * reach  # float32 rounding of the position after every step
    rest = (ahead - chord) - (reach - 1) * STEP_LENGTH
    count_ok = (rest > m) & (STEP_LENGTH - rest > m) & (COLLECT - side > m) & (ahead > m)
    walked = reach * STEP_LENGTH
    clear, blocked = walked < free - m, walked > free + m
    after = ahead - walked
    collects = clear & (after > -chord + m)
    passes = clear & (after < -chord - m)
    sure = walking & count_ok & (collects | passes)
    certain_full = np.floor(np.maximum(free - m, 0.0) / STEP_LENGTH)
    before = np.maximum(np.minimum(certain_full, reach - 1) - (~count_ok), 0)  # steps before the event
    steps = np.where(sure, reach, np.where(walking, before, 0)).astype(np.int64)
    # A wall stops the walk before the collecting step: after the full steps the next move is
    # still forward, a short one (`_short_step`).
    short = walking & count_ok & blocked
    return steps, sure & collects, short, walking & ~sure & ~short


def _side_walls_only(walls: np.ndarray, wall_valid: np.ndarray) -> np.ndarray:
    """`[B]`: every valid wall is axis-aligned and lies in the band of side-wall thickness along the
    room's edge (the side walls of docs/game.md, with or without an exit gap)."""
    a = np.mod(walls[..., 4], math.pi)
    horizontal = (a < 1e-6) | (a > math.pi - 1e-6)
    vertical = np.abs(a - math.pi / 2) < 1e-6
    across = np.where(horizontal, walls[..., 1], walls[..., 0])
    half = walls[..., 3] / 2
    banded = (horizontal | vertical) & ((across + half <= WALL_THICKNESS + 1e-6) | (across - half >= 1 - WALL_THICKNESS - 1e-6))
    return np.all(banded | ~wall_valid, axis=1)


def _in_middle(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Inside the square where the agent's disc is clear of any side wall (`1e-4` inside its edge)."""
    lo, hi = WALL_THICKNESS + AGENT_RADIUS + 1e-4, 1 - WALL_THICKNESS - AGENT_RADIUS - 1e-4
    return (x > lo) & (x < hi) & (y > lo) & (y < hi)


def _replay_turns(th: np.ndarray, sign: np.ndarray, turns: np.ndarray) -> np.ndarray:
    """The heading after `turns` turns, rounded to float32 after each as `physics.step` does."""
    th = th.copy()
    for k in range(int(turns.max(initial=0))):
        i = turns > k
        th[i] = np.float32(np.mod(th[i] + sign[i] * TURN_ANGLE, _TAU))
    return th


def _replay_steps(px: np.ndarray, py: np.ndarray, u: tuple[np.ndarray, np.ndarray],
                  steps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The position after `steps` full forward steps along `u`, rounded to float32 after each as
    `physics.step` does."""
    px, py = px.copy(), py.copy()
    ux, uy = u
    for k in range(int(steps.max(initial=0))):
        i = steps > k
        px[i] = np.float32(px[i] + ux[i] * STEP_LENGTH)
        py[i] = np.float32(py[i] + uy[i] * STEP_LENGTH)
    return px, py


def _heading_vector(th: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """cos θ, sin θ by torch's kernels, bit for bit what `physics.step` moves along."""
    t = torch.from_numpy(th)
    return torch.cos(t).numpy(), torch.sin(t).numpy()


def _engine_step(s: dict, walls: np.ndarray, wall_valid: np.ndarray) -> dict:
    """One `greedy_move` + `physics.step` from the exact float32 state: where a decision is too close
    to call in float64, the engine itself takes the move."""
    n = len(s["px"])
    f32 = lambda a: torch.from_numpy(np.asarray(a)).float()
    scene = Scene(agent=f32(np.stack([s["px"], s["py"]], 1)), heading=f32(s["th"]),
                  gold=f32(np.stack([s["gx"], s["gy"]], 1)).unsqueeze(1), gold_valid=torch.ones(n, 1, dtype=torch.bool),
                  walls=f32(walls), wall_valid=torch.from_numpy(wall_valid))
    move = greedy_move(scene)
    nxt, _ = step(scene, move)
    advanced = (nxt.agent.double() - scene.agent.double()).norm(dim=1)
    collected = ~nxt.gold_valid[:, 0]
    blocked = (move == FORWARD) & (advanced < BLOCKED) & ~collected
    agent, heading = nxt.agent.double().numpy(), nxt.heading.double().numpy()
    return {"px": agent[:, 0], "py": agent[:, 1], "th": heading, "collected": collected.numpy(),
            "blocked": blocked.numpy(), "unsure": np.zeros(n, dtype=bool)}


def _short_step(s: dict, walls: np.ndarray, wall_valid: np.ndarray) -> dict:
    """A forward move (certainly the greedy move) that a wall may cut short: `physics.step`'s free
    distance by the float64 mirror, the position rounded to float32. `unsure` where the move's length
    or its outcome lies within `MARGIN` of a threshold (the engine then takes the move)."""
    ux, uy = _heading_vector(s["th"])
    free = np.maximum(_hit_time(s["px"], s["py"], ux, uy, walls, wall_valid) - CONTACT_GAP, 0.0)
    d = np.minimum(free, STEP_LENGTH)
    px, py = np.float32(s["px"] + ux * d).astype(np.float64), np.float32(s["py"] + uy * d).astype(np.float64)
    dist = np.hypot(s["gx"] - px, s["gy"] - py)
    collected = dist < COLLECT
    blocked = (np.hypot(px - s["px"], py - s["py"]) < BLOCKED) & ~collected
    unsure = (np.abs(d - BLOCKED) < MARGIN) | (np.abs(dist - COLLECT) < MARGIN) | (np.abs(free - STEP_LENGTH) < MARGIN)
    return {"px": px, "py": py, "th": s["th"], "collected": collected, "blocked": blocked, "unsure": unsure}


def _hit_time(px, py, ux, uy, walls, wall_valid) -> np.ndarray:
    """When `[n]` the ray `p + t·u` first enters a valid wall grown by the agent radius, or leaves
    the room's `[r_a, 1 − r_a]²` (the float64 mirror of `physics.free_distance` before its gap).
    The grown wall is two boxes and four corner discs, stacked on a last axis."""
    c, s = np.cos(walls[..., 4]), np.sin(walls[..., 4])
    rx, ry = px[:, None] - walls[..., 0], py[:, None] - walls[..., 1]
    qx, qy = (rx * c + ry * s)[..., None], (-rx * s + ry * c)[..., None]  # wall frame [n, W, 1]
    vx, vy = (ux[:, None] * c + uy[:, None] * s)[..., None], (-ux[:, None] * s + uy[:, None] * c)[..., None]
    hx, hy, r = walls[..., 2, None] / 2, walls[..., 3, None] / 2, AGENT_RADIUS
    boxes = _box_entry(qx, qy, vx, vy, hx + r * _GROW[0], hy + r * _GROW[1])
    discs = _disc_entry(qx - _CORNER[0] * hx, qy - _CORNER[1] * hy, vx, vy, r)
    t = np.minimum(boxes.min(axis=-1), discs.min(axis=-1))
    t = np.where(wall_valid, t, np.inf).min(axis=1)
    lo, hi = AGENT_RADIUS, 1.0 - AGENT_RADIUS
    p, u = np.stack([px, py], 1), np.stack([ux, uy], 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        exit_ = np.where(u > 1e-12, (hi - p) / u, np.where(u < -1e-12, (lo - p) / u, np.inf))
    return np.minimum(t, np.maximum(exit_.min(axis=1), 0.0))


_GROW = np.array([[1.0, 0.0], [0.0, 1.0]])  # box 1 grown along the wall, box 2 across it
_CORNER = np.array([[-1.0, -1.0, 1.0, 1.0], [-1.0, 1.0, -1.0, 1.0]])


def _box_entry(px, py, ux, uy, ex, ey) -> np.ndarray:
    """Entry time of the ray into the box `|x| ≤ ex, |y| ≤ ey` (slab method; 0 if it starts inside)."""
    near_x, far_x = _slab(px, ux, ex)
    near_y, far_y = _slab(py, uy, ey)
    t_in, t_out = np.maximum(near_x, near_y), np.minimum(far_x, far_y)
    return np.where((t_in <= t_out) & (t_out >= 0), np.maximum(t_in, 0.0), np.inf)


def _slab(p, u, e):
    parallel = np.abs(u) < 1e-12
    with np.errstate(divide="ignore", invalid="ignore"):
        t1, t2 = (-e - p) / u, (e - p) / u
    inside = np.abs(p) <= e
    near = np.where(parallel, np.where(inside, -np.inf, np.inf), np.minimum(t1, t2))
    far = np.where(parallel, np.where(inside, np.inf, -np.inf), np.maximum(t1, t2))
    return near, far


def _disc_entry(px, py, ux, uy, r) -> np.ndarray:
    """Entry time of the ray (unit direction) into the disc of radius `r` at the origin."""
    b = px * ux + py * uy
    c = px * px + py * py - r * r
    disc = b * b - c
    root = np.sqrt(np.maximum(disc, 0.0))
    return np.where((disc >= 0) & (-b + root >= 0), np.maximum(-b - root, 0.0), np.inf)


def _check(scene: Scene, cap: int) -> None:
    if not isinstance(cap, int) or isinstance(cap, bool) or cap < 1:
        raise ValueError(f"cap: expected a positive int, got {cap!r}")
    empty = (~scene.gold_valid.any(dim=1)).nonzero().flatten().tolist()
    if empty:
        raise ValueError(f"greedy_trace: sample(s) {empty[:5]} hold no valid gold; the greedy oracle needs "
                         "a gold to walk to (drop those samples)")
