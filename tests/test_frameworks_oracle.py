"""The fast greedy trace, and the three tasks built on the greedy oracle (value, compare, full_move).

The fast `greedy_trace` is checked against the plain step-by-step `simulate_greedy` (one batched
`greedy_move` + `physics.step` per move) on seeded bare and full scenes, with short caps, with
decisions forced onto the engine, and on hand-made stuck scenes. Task labels and targets are
recomputed by a per-sample Python replay (`replay`): the reference predicates of
tests/game_reference.py choose the move, the engine's physics executes it one sample at a time.
"""
import math

import pytest
import torch

import penguin.game.oracle as oracle
from game_reference import R_AGENT, R_GOLD, relative_angle
from penguin.game.oracle import greedy_trace, simulate_greedy
from penguin.game.physics import step
from penguin.game.sampling import sample_bare, sample_full
from penguin.game.scene import Scene


def _same(a, b):
    return torch.equal(a.length, b.length) and torch.equal(a.stuck, b.stuck)


# --------------------------------------------------------------------------------- the oracle
@pytest.mark.parametrize("draw, seed", [
    (sample_bare, 1), (sample_bare, 2), (sample_full, 3), (lambda g, n: sample_full(g, n, right_angles=True), 4)])
def test_fast_trace_equals_the_plain_simulation(draw, seed):
    scenes = draw(torch.Generator().manual_seed(seed), 1500)
    fast, plain = greedy_trace(scenes, 256), simulate_greedy(scenes, 256)
    assert _same(fast, plain)
    assert plain.stuck.any() and (~plain.stuck).any()
    assert (plain.length == 256).any() or draw is not sample_bare  # orbiting the gold until the cap


def test_fast_trace_equals_the_plain_simulation_at_short_caps():
    scenes = sample_bare(torch.Generator().manual_seed(6), 600)
    for cap in (1, 7, 20, 33):
        fast, plain = greedy_trace(scenes, cap), simulate_greedy(scenes, cap)
        assert _same(fast, plain), cap
        assert (plain.length == cap).any()


def test_the_engine_takes_every_close_call_and_agrees(monkeypatch):
    # A huge margin sends most decisions to the engine's own greedy_move + physics.step.
    scenes = sample_full(torch.Generator().manual_seed(7), 300)
    calls = []
    engine = oracle._engine_step
    monkeypatch.setattr(oracle, "MARGIN", 2e-2)
    monkeypatch.setattr(oracle, "_engine_step", lambda *a: calls.append(len(a[0]["px"])) or engine(*a))
    assert _same(greedy_trace(scenes, 200), simulate_greedy(scenes, 200))
    assert sum(calls) > 300


def test_stuck_and_degenerate_scenes():
    scenes = Scene.from_json([
        # a wall between agent and gold: walks into it, blocked
        {"agent": [0.3, 0.5], "heading": 0.0, "gold": [[0.7, 0.5]], "walls": [[0.5, 0.5, 0.5, 0.0625, math.pi / 2]]},
        # the same wall at a slant: slides to a stop against it
        {"agent": [0.3, 0.45], "heading": 0.3, "gold": [[0.7, 0.55]], "walls": [[0.5, 0.5, 0.5, 0.0625, 1.3]]},
        # gold within reach at the start: the first move collects it
        {"agent": [0.5, 0.5], "heading": 2.0, "gold": [[0.53, 0.5]], "walls": []},
        # gold behind the agent, two gold (only the first is the goal)
        {"agent": [0.5, 0.5], "heading": 0.0, "gold": [[0.2, 0.5], [0.6, 0.5]], "walls": []},
    ])
    fast, plain = greedy_trace(scenes), simulate_greedy(scenes)
    assert _same(fast, plain)
    assert fast.stuck.tolist() == [True, True, False, False] and fast.length[2] == 1
    assert fast.length[0] < 20


def test_bad_cap_is_a_one_line_error():
    scene = sample_bare(torch.Generator().manual_seed(0), 2)
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match="cap: expected a positive int"):
            greedy_trace(scene, bad)


# --------------------------------------------------------------------------------- per-sample replay
def reference_move(scene_json):
    """greedy_move by the reference predicates: forward if facing the first gold, else turn toward it."""
    (ax, ay), th = scene_json["agent"], scene_json["heading"]
    gx, gy = scene_json["gold"][0]
    rel = relative_angle(math.atan2(gy - ay, gx - ax), th)
    dist = math.hypot(gx - ax, gy - ay)
    if dist * math.cos(rel) > 0 and abs(dist * math.sin(rel)) < R_AGENT + R_GOLD:
        return 1
    return 3 if rel < math.pi else 4


def replay(scene_json, cap=256):
    """(trace length, stuck) of one scene: reference moves, engine physics, one sample at a time."""
    scene = Scene.from_json(scene_json)
    for n in range(1, cap + 1):
        move = reference_move(scene.to_json()[0])
        nxt, _ = step(scene, torch.tensor([move]))
        if not nxt.gold_valid[0, 0]:
            return n, False
        (x0, y0), (x1, y1) = scene.agent[0].tolist(), nxt.agent[0].tolist()
        if move == 1 and math.hypot(x1 - x0, y1 - y0) < 1e-4:
            return n, True
        scene = nxt
    return cap, True


def test_the_plain_simulation_matches_a_per_sample_replay():
    scenes = sample_full(torch.Generator().manual_seed(8), 40)
    plain = simulate_greedy(scenes, 256)
    for i, item in enumerate(scenes.to_json()):
        assert (plain.length[i].item(), plain.stuck[i].item()) == replay(item), i
