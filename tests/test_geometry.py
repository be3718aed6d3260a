"""Geometry predicates and the greedy oracle, recomputed per sample by an independent reference."""
import math

import pytest
import torch

from game_reference import R_AGENT, R_GOLD, relative_angle
from penguin.game import geometry as G
from penguin.game.oracle import greedy_trace
from penguin.game.sampling import sample_bare
from penguin.game.scene import Scene

TURN = math.pi / 30


@pytest.fixture(scope="module")
def scenes():
    return sample_bare(torch.Generator().manual_seed(11), 3000)


def _reference(scene, i):
    (ax, ay), th = scene.agent[i].tolist(), scene.heading[i].item()
    gx, gy = scene.first_gold()[i].tolist()
    # Rotate the gold into a frame where the agent looks along +x; its y is then "to the right".
    ang = relative_angle(math.atan2(gy - ay, gx - ax), th)
    dist = math.hypot(gx - ax, gy - ay)
    ahead, right = dist * math.cos(ang), dist * math.sin(ang)
    facing = ahead > 0 and abs(right) < R_AGENT + R_GOLD
    return {
        "gold_left": gx < ax, "gold_up": gy < ay, "agent_left": ax < gx, "agent_up": ay < gy,
        "gold_on_agents_left": right < 0, "near": dist < 0.15, "facing_gold": facing,
        "greedy_move": 1 if facing else (3 if ang < math.pi else 4),
    }


def test_predicates_match_the_reference(scenes):
    ours = {name: getattr(G, name)(scenes).tolist() for name in
            ["gold_left", "gold_up", "agent_left", "agent_up", "gold_on_agents_left", "near", "facing_gold", "greedy_move"]}
    for i in range(scenes.batch_size):
        ref = _reference(scenes, i)
        for name, value in ref.items():
            assert ours[name][i] == value, (name, i)
    assert 0.03 < sum(ours["facing_gold"]) / scenes.batch_size < 0.15  # docs/game.md: 8.5 % of bare scenes
    assert 0.05 < sum(ours["near"]) / scenes.batch_size < 0.17


def test_turn_and_line_predicates_against_reference():
    g = torch.Generator().manual_seed(2)
    heading = 2 * math.pi * torch.rand(4000, generator=g)
    target = 2 * math.pi * torch.rand(4000, generator=g)
    cw = G.turn_clockwise_toward(heading, target).tolist()
    amb = G.turn_is_ambiguous(heading, target).tolist()
    face = G.facing_line(heading, target).tolist()
    for i in range(4000):
        rel = relative_angle(target[i].item(), heading[i].item())
        assert cw[i] == (rel < math.pi)
        assert amb[i] == (min(rel, 2 * math.pi - rel) < TURN or abs(rel - math.pi) < TURN)
        assert face[i] == (min(rel, 2 * math.pi - rel) < math.pi / 6)


def test_turning_clockwise_toward_the_target_brings_it_closer():
    # Physical meaning of "clockwise": θ grows, and the image y axis points down.
    scene = Scene.from_json({"agent": [0.5, 0.5], "heading": 0.0, "gold": [[0.5, 0.8]], "walls": []})
    assert G.greedy_move(scene).item() == G.CLOCK  # gold straight below = θ π/2, clockwise from 0
    assert not G.gold_on_agents_left(scene).item()  # facing right, "down" is the agent's right


def test_angle_helpers():
    a = torch.tensor([0.1, 6.2, 3.0])
    b = torch.tensor([6.2, 0.1, 0.0])
    assert torch.allclose(G.angle_difference(a, b), torch.tensor([0.1 + 2 * math.pi - 6.2, 6.2 - 0.1 - 2 * math.pi, 3.0]), atol=1e-5)
    assert torch.allclose(G.wrap_angle(torch.tensor([-0.5, 7.0])), torch.tensor([2 * math.pi - 0.5, 7.0 - 2 * math.pi]))
    assert torch.allclose(G.direction_angle(torch.tensor([[0.0, 1.0], [-1.0, 0.0]])), torch.tensor([math.pi / 2, math.pi]))


def _reference_trace(scene_json, cap):
    """Greedy trace by the reference predicates plus the engine's single-sample physics."""
    from penguin.game.physics import step
    scene = Scene.from_json(scene_json)
    for n in range(1, cap + 1):
        move = _reference(scene, 0)["greedy_move"]
        nxt, _ = step(scene, torch.tensor([move]))
        if not nxt.gold_valid[0, 0]:
            return n, False
        (x0, y0), (x1, y1) = scene.agent[0].tolist(), nxt.agent[0].tolist()
        if move == 1 and math.hypot(x1 - x0, y1 - y0) < 1e-4:  # blocked: pressing into a wall
            return n, True
        scene = nxt
    return cap, True


def test_greedy_trace_matches_a_sample_by_sample_reference():
    scenes = sample_bare(torch.Generator().manual_seed(5), 60)
    trace = greedy_trace(scenes, cap=200)
    for i, item in enumerate(scenes.to_json()):
        n, stuck = _reference_trace(item, 200)
        assert (trace.length[i].item(), trace.stuck[i].item()) == (n, stuck), i


def test_greedy_trace_statistics_on_bare_scenes():
    trace = greedy_trace(sample_bare(torch.Generator().manual_seed(9), 2000))
    finished = trace.length[~trace.stuck].float()
    assert 15 <= finished.median().item() <= 23  # docs/game.md: a median of 19 moves
    assert 0.01 < trace.stuck.float().mean().item() < 0.10


def test_a_wall_between_agent_and_gold_makes_the_greedy_solver_stuck():
    scene = Scene.from_json({"agent": [0.3, 0.5], "heading": 0.0, "gold": [[0.7, 0.5]],
                             "walls": [[0.5, 0.5, 0.5, 0.0625, math.pi / 2]]})
    trace = greedy_trace(scene)
    assert trace.stuck.item() and trace.length.item() < 10
