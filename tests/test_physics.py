"""Physics property tests over more than 10,000 random actions, checked against reference geometry."""
import math

import pytest
import torch

from game_reference import R_AGENT, R_GOLD, min_wall_distance
from penguin.game.control import jitter, jitter_actions
from penguin.game.physics import repeat, run, run_programs, step
from penguin.game.sampling import sample_full
from penguin.game.scene import Scene

STEP = 1 / 16
TOL = 1e-6


def _walls(scene, i):
    return [w for w, v in zip(scene.walls[i].tolist(), scene.wall_valid[i].tolist()) if v]


def _blocked(p, walls):
    """Reference: the disc at p overlaps a wall or its centre leaves [r_a, 1 − r_a]²."""
    out = not (R_AGENT - 1e-9 <= p[0] <= 1 - R_AGENT + 1e-9 and R_AGENT - 1e-9 <= p[1] <= 1 - R_AGENT + 1e-9)
    return out or min_wall_distance(p, walls) < R_AGENT


@pytest.fixture(scope="module")
def trajectory():
    """500 full scenes (right-angled and free walls) × 24 random actions = 12,000 actions."""
    g = torch.Generator().manual_seed(7)
    scene = Scene.cat([sample_full(g, 250), sample_full(g, 250, right_angles=True)])
    actions = torch.randint(0, 5, (scene.batch_size, 24), generator=g)
    # Bias toward moves so that many of them end against walls.
    actions = torch.where(torch.rand(actions.shape, generator=g) < 0.5, torch.ones_like(actions), actions)
    states = [scene]
    for t in range(actions.shape[1]):
        states.append(step(states[-1], actions[:, t])[0])
    return states, actions


def test_agent_never_overlaps_or_passes_through_a_wall(trajectory):
    states, actions = trajectory
    for t in range(actions.shape[1]):
        before, after = states[t], states[t + 1]
        for i in range(0, before.batch_size, 7):  # a stride keeps the Python reference quick
            walls = _walls(before, i)
            p0, p1 = before.agent[i].tolist(), after.agent[i].tolist()
            assert min_wall_distance(p1, walls) >= R_AGENT - TOL, (t, i)
            for k in range(1, 21):  # the swept segment, not just its end
                q = [p0[0] + (p1[0] - p0[0]) * k / 20, p0[1] + (p1[1] - p0[1]) * k / 20]
                assert min_wall_distance(q, walls) >= R_AGENT - TOL, (t, i, k)


def test_moves_take_the_longest_clear_step(trajectory):
    states, actions = trajectory
    checked_short = 0
    for t in range(actions.shape[1]):
        before, after = states[t], states[t + 1]
        a = actions[:, t]
        moved = (after.agent - before.agent).double().norm(dim=1)
        heading = before.heading.double()
        for i in range(before.batch_size):
            if a[i] not in (1, 2):
                assert moved[i] == 0
                continue
            sign = 1.0 if a[i] == 1 else -1.0
            u = (sign * math.cos(heading[i]), sign * math.sin(heading[i]))
            d = moved[i].item()
            assert d <= STEP + TOL
            if d > TOL:  # the displacement is along the heading
                delta = (after.agent[i] - before.agent[i]).double()
                assert (delta[0] * u[0] + delta[1] * u[1]).item() == pytest.approx(d, abs=1e-6)
            if d < STEP - 1e-4:  # shortened: going 1e-3 further must hit a wall or the room's edge
                p = before.agent[i].tolist()
                q = (p[0] + (d + 1e-3) * u[0], p[1] + (d + 1e-3) * u[1])
                assert _blocked(q, _walls(before, i)), (t, i, d)
                checked_short += 1
    assert checked_short > 500  # the property was exercised, not vacuous


def test_turns_are_exactly_one_thirtieth_of_pi(trajectory):
    states, actions = trajectory
    for t in range(actions.shape[1]):
        before, after = states[t], states[t + 1]
        delta = torch.remainder(after.heading.double() - before.heading.double() + math.pi, 2 * math.pi) - math.pi
        want = torch.zeros_like(delta)
        want[actions[:, t] == 3] = math.pi / 30
        want[actions[:, t] == 4] = -math.pi / 30
        assert torch.allclose(delta, want, atol=1e-6)
        assert ((after.heading >= 0) & (after.heading < 2 * math.pi)).all()


def test_gold_is_collected_exactly_when_the_rule_says(trajectory):
    states, actions = trajectory
    collected_any = 0
    for t in range(actions.shape[1]):
        before, after = states[t], states[t + 1]
        dist = (before.gold - after.agent.unsqueeze(1)).double().norm(dim=-1)
        should_take = before.gold_valid & (dist < R_AGENT + R_GOLD)
        assert torch.equal(after.gold_valid, before.gold_valid & ~should_take)
        collected_any += int(should_take.sum())
    assert collected_any > 0


def test_reward_counts_collected_gold_and_input_is_not_mutated():
    scene = Scene.from_json({"agent": [0.3, 0.5], "heading": 0.0,
                             "gold": [[0.3 + 1 / 16 + 0.05, 0.5], [0.3 + 1 / 16 + 0.05, 0.52], [0.9, 0.9]],
                             "walls": []})
    copy = {k: v.clone() for k, v in vars(scene).items()}
    after, reward = step(scene, torch.tensor([1]))
    assert reward.tolist() == [2.0]
    assert after.gold_valid.tolist() == [[False, False, True]]
    for k, v in copy.items():
        assert torch.equal(getattr(scene, k), v)


def test_no_tunnelling_through_a_thin_wall():
    # A wall thinner than a step stands right ahead: the move must stop before it.
    scene = Scene.from_json({"agent": [0.3, 0.5], "heading": 0.0, "gold": [],
                             "walls": [[0.3 + 0.05 + 0.03, 0.5, 0.4, 0.005, math.pi / 2]]})
    after, _ = step(scene, torch.tensor([1]))
    assert after.agent[0, 0].item() == pytest.approx(0.3 + 0.03 - 0.0025, abs=1e-4)


def test_run_matches_repeated_steps_and_rejects_bad_actions():
    g = torch.Generator().manual_seed(1)
    scene = sample_full(g, 8)
    actions = torch.randint(0, 5, (8, 10), generator=g)
    a, ra = run(scene, actions)
    b, rb = scene, torch.zeros(8)
    for t in range(10):
        b, r = step(b, actions[:, t])
        rb += r
    assert torch.equal(a.agent, b.agent) and torch.equal(ra, rb)
    with pytest.raises(ValueError, match="actions"):
        step(scene, torch.tensor([5] * 8))
    with pytest.raises(ValueError, match="actions"):
        step(scene, torch.ones(3, dtype=torch.long))


def _same_game(a, b, ra, rb):
    """Two scenes are the same game state up to float rounding (positions, headings, gold)."""
    assert torch.allclose(a.agent, b.agent, atol=1e-5, rtol=0)
    turn = torch.remainder(a.heading - b.heading + math.pi, 2 * math.pi) - math.pi
    assert turn.abs().max() < 1e-5
    assert torch.equal(a.gold_valid, b.gold_valid) and torch.equal(ra, rb)


def test_repeat_is_run_of_the_repeated_action_in_closed_form():
    g = torch.Generator().manual_seed(11)
    scene = Scene.cat([sample_full(g, 600), sample_full(g, 600, right_angles=True)])
    b = scene.batch_size
    actions = torch.randint(0, 5, (b,), generator=g)
    times = torch.randint(0, 31, (b,), generator=g)
    table = torch.where(torch.arange(30)[None] < times[:, None], actions[:, None], 0)
    copy = {k: v.clone() for k, v in vars(scene).items() if isinstance(v, torch.Tensor)}
    fast, fast_reward = repeat(scene, actions, times)
    slow, slow_reward = run(scene, table)
    _same_game(fast, slow, fast_reward, slow_reward)
    for k, v in copy.items():
        assert torch.equal(getattr(scene, k), v), k
    # The sample exercises what matters: walks stopped by walls, gold collected mid-walk.
    walked = (actions <= 2) & (actions > 0) & (times > 0)
    short = (fast.agent - scene.agent).norm(dim=1) < times * STEP - 1e-4
    assert int((walked & short).sum()) > 50
    assert int(fast_reward.sum()) > 10


def test_repeat_collects_gold_passed_on_the_way_and_stops_at_walls():
    # Gold on the path at 0.45 (reached after 2-3 steps), a wall further on: a 10-step walk
    # collects the gold and stops clear of the wall, as ten single steps do.
    scene = Scene.from_json({"agent": [0.2, 0.5], "heading": 0.0, "gold": [[0.45, 0.5]],
                             "walls": [[0.7, 0.5, 0.4, 0.02, math.pi / 2]]})
    fast, reward = repeat(scene, torch.tensor([1]), torch.tensor([10]))
    slow, slow_reward = run(scene, torch.ones(1, 10, dtype=torch.long))
    _same_game(fast, slow, reward, slow_reward)
    assert reward.tolist() == [1.0] and fast.agent[0, 0] < 0.7 - 0.01 - R_AGENT + 1e-4
    unchanged, none = repeat(scene, torch.tensor([1]), torch.tensor([0]))
    assert torch.equal(unchanged.agent, scene.agent) and none.tolist() == [0.0]
    with pytest.raises(ValueError, match="times"):
        repeat(scene, torch.tensor([1]), torch.tensor([-1]))
    with pytest.raises(ValueError, match="times"):
        repeat(scene, torch.tensor([1]), torch.tensor([1.5]))


def test_jitter_in_closed_form_is_its_action_table_run_step_by_step():
    scene = sample_full(torch.Generator().manual_seed(3), 400)
    fast = jitter(scene, torch.Generator().manual_seed(5))
    slow, _ = run(scene, jitter_actions(torch.Generator().manual_seed(5), 400))
    _same_game(fast, slow, torch.zeros(1), torch.zeros(1))

def test_run_programs_equals_each_sample_stepped_alone():
    """Programs of every length 0..12 with moves, turns and no-ops anywhere (some end in turns, so
    the no-sweep path runs while other samples still move), on full scenes where walls stop
    moves, plus one scene whose gold starts in reach: each sample is replayed alone, one `step`
    per action of its own program, and must match bit for bit."""
    g = torch.Generator().manual_seed(5)
    scene = sample_full(g, 60)
    agent = scene.agent.clone()
    gx = float(scene.gold[0, 0, 0])
    agent[0] = scene.gold[0, 0] + torch.tensor([0.03 if gx < 0.5 else -0.03, 0.0])  # gold in reach at the start
    scene = scene.replace(agent=agent)
    width = 12
    programs = torch.randint(0, 5, (60, width), generator=g)
    programs = torch.where(torch.rand(60, width, generator=g) < 0.4, torch.ones_like(programs), programs)
    lengths = (torch.arange(60) + 1) % (width + 1)
    programs[0, 0] = 3  # a turn first: the gold in reach is collected where the agent stands
    # A heading that float32 rounded up to 2π: a no-op would re-wrap it; a sample not running keeps it.
    heading = scene.heading.clone()
    heading[12] = torch.nextafter(torch.tensor(2 * math.pi, dtype=torch.float32), torch.tensor(7.0))
    scene = scene.replace(heading=heading)
    assert lengths[12] == 0
    programs = torch.where(torch.arange(width)[None, :] < lengths[:, None], programs, -torch.ones_like(programs))
    before = {k: v.clone() for k, v in vars(scene).items()}
    out, reward = run_programs(scene, programs, lengths)
    for name, value in before.items():
        assert torch.equal(getattr(scene, name), value), name
    collected = moved = 0
    for b in range(60):
        alone, total = scene[b], 0.0
        for a in programs[b, : lengths[b]].tolist():
            alone, r = step(alone, torch.tensor([a]))
            total += float(r)
        assert torch.equal(out.agent[b], alone.agent[0]) and torch.equal(out.heading[b], alone.heading[0]), b
        assert torch.equal(out.gold_valid[b], alone.gold_valid[0]) and float(reward[b]) == total, b
        collected += total > 0
        moved += not torch.equal(alone.agent[0], scene.agent[b])
    assert collected >= 1 and moved >= 30
    assert float(reward[0]) >= 1
    # Gold in reach at the start, collected by a turn in a loop step where nobody moves.
    pair = scene[torch.tensor([0, 1])]
    out, reward = run_programs(pair, torch.tensor([[3, -1, -1], [3, 4, 3]]), torch.tensor([1, 3]))
    alone, r = step(pair[0], torch.tensor([3]))
    assert float(r) == 1 and float(reward[0]) == 1 and torch.equal(out.gold_valid[0], alone.gold_valid[0])
    with pytest.raises(ValueError, match="lengths"):
        run_programs(scene, programs, lengths + width)
    with pytest.raises(ValueError, match="actions"):
        run_programs(scene, programs.clamp(min=0) + 5, lengths)
