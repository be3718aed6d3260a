"""The greedy oracle (docs/game.md): follow `greedy_move` with physics until the gold is collected.

`greedy_trace(scene, cap=1024)` runs every sample of the batch in lock-step: one batched physics
step per move, samples that finished (gold collected) or got stuck drop out of the work. A sample
is **stuck** when the cap is reached, or earlier when a move leaves its state unchanged — the greedy
policy is deterministic, so an unchanged state repeats forever (typically a wall between the agent
and the gold: facing it, the forward move is blocked).

Returns `GreedyTrace(length [B] long, stuck [B] bool)`: `length` counts moves until the first
gold is collected (the number of moves made before giving up, for stuck samples). Only the first
valid gold is the goal; it is the one every one-gold question is about.

Used by the tasks that need the length of the greedy path (`value`, `compare`, `full_move`, next
in the frameworks) and by tests; kept and tested ahead of them.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from penguin.game.geometry import greedy_move
from penguin.game.physics import step
from penguin.game.scene import Scene


@dataclass(frozen=True)
class GreedyTrace:
    length: Tensor
    stuck: Tensor


def greedy_trace(scene: Scene, cap: int = 1024) -> GreedyTrace:
    if not isinstance(cap, int) or cap < 1:
        raise ValueError(f"cap: expected a positive int, got {cap!r}")
    b = scene.batch_size
    goal = scene.gold_valid.float().argmax(dim=1)
    length = torch.zeros(b, dtype=torch.long, device=scene.device)
    stuck = torch.zeros(b, dtype=torch.bool, device=scene.device)
    active = torch.arange(b, device=scene.device)
    current = scene[active]
    for _ in range(cap):
        if len(active) == 0:
            break
        nxt, _ = step(current, greedy_move(current))
        length[active] += 1
        done = ~nxt.gold_valid[torch.arange(len(active), device=scene.device), goal[active]]
        frozen = (nxt.agent == current.agent).all(dim=1) & (nxt.heading == current.heading) & ~done
        stuck[active[frozen]] = True
        keep = ~(done | frozen)
        active, current = active[keep], nxt[keep]
    stuck[active] = True
    return GreedyTrace(length, stuck)
