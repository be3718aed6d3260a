"""The Frameworks II tasks whose target moves the agent — `imagine_after_move`, `imagine_closer` —
checked against targets recomputed independently of the tasks' code.

- `imagine_after_move`: the phrase of each prompt is read back from the decoded text, spelled
  into actions by its words (docs/game.md action ids: 1 `<forward>`, 3 `<clock>`, 4
  `<anticlock>`), and replayed on that sample alone, one `physics.step` per action; the target's
  scene and pixels must equal the replay's. Walls stopping walks and gold collected on the way are
  measured from the positions and must occur.
- `imagine_closer`: the midpoint, the heading and the gold rule recomputed from the scene JSON
  (with the wall rule re-derived from the wall geometry), the target pixels against a render of a
  scene built from those numbers, and the eye's direction read from 224-px pixels; constructed
  scenes where the gold must and must not be collected, and where a wall must stop the walk.

The generic checks (build, render, brain step, determinism, prompt ownership) run for every task
in tests/test_tasks.py.
"""
import json
import math

import pytest
import torch

import datamodules.imagine_after_move as after_move_module
import datamodules.imagine_closer as closer_module
from datamodules import registry
from assertions import input_scene_untouched
from game_reference import R_AGENT, R_GOLD, min_wall_distance
from penguin.game.physics import step as physics_step
from penguin.game.readout import read_out
from penguin.game.render import render
from penguin.game.scene import Scene
from penguin.tasks import main as tasks_main
from penguin.testing import records

S = 64
STEP = 1 / 16
REACH = R_AGENT + R_GOLD  # docs/game.md: gold closer than this to the agent centre is collected


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def angle_gap(a, b):
    return abs(math.remainder(a - b, 2 * math.pi))


def gold_pixels(image):
    """Pixels `[S, S]` of pure gold colour (255, 200, 0); at 160 px the coin always covers some."""
    r, g, b = image
    return (r > 0.95) & (g > 0.7) & (g < 0.85) & (b < 0.05)


# ================================================================================ imagine_after_move
TURN_PARTS = ["", "turn a little clockwise", "turn a little anticlockwise", "turn a lot clockwise",
              "turn a lot anticlockwise", "turn around"]
WALK_PARTS = ["", "take one step forward", "take two steps forward", "take three steps forward"]
EXPECTED_PHRASES = {" and ".join(p for p in (t, w) if p) for t in TURN_PARTS for w in WALK_PARTS} - {""}


def spelled(phrase):
    """The actions a phrase names, from its words: turns first (little 5, lot 10, around 30 — all
    clockwise `3` unless "anticlockwise" `4`), then one/two/three `<forward>` `1`."""
    words = phrase.split()
    actions = []
    if "turn" in words:
        count = {"little": 5, "lot": 10, "around": 30}
        (n,) = [count[w] for w in words if w in count]
        actions += [4 if "anticlockwise" in words else 3] * n
    steps = [{"one": 1, "two": 2, "three": 3}[w] for w in words if w in ("one", "two", "three")]
    assert len(steps) <= 1 and ("forward" in words) == bool(steps), phrase
    return actions + [1] * sum(steps)


def phrase_of(prompt):
    """The move phrase of a decoded prompt: the text after its last "you", without the "?"."""
    return prompt.rsplit(" you ", 1)[1].rstrip("?")


def replay(scene, actions):
    """`scene` (one sample) after `actions`, one `physics.step` each; also every position passed."""
    positions = [scene.agent[0].clone()]
    for a in actions:
        scene, _ = physics_step(scene, torch.tensor([a]))
        positions.append(scene.agent[0].clone())
    return scene, positions


def test_the_phrase_table_is_the_rule_spelled_by_its_words():
    module = registry.get("imagine_after_move")(batch_size=2)
    kind = module.kind("imagine_after_move")
    phrases = [p for p, _ in after_move_module.MOVES]
    assert len(phrases) == 23 and set(phrases) == EXPECTED_PHRASES and kind.slot_values == tuple(phrases)
    programs, lengths = after_move_module.PROGRAMS, after_move_module.PROGRAM_LENGTHS
    assert programs.shape == (23, 33)
    for m, (phrase, actions) in enumerate(after_move_module.MOVES):
        want = spelled(phrase)
        assert list(actions) == want, phrase
        assert int(lengths[m]) == len(want) and programs[m, : len(want)].tolist() == want, phrase
        assert (programs[m, len(want):] == -1).all(), phrase
    # Action counts over the whole table: each turn part comes with 4 walk parts (none included),
    # each walk part with 6 turn parts.
    assert int((programs == 3).sum()) == 4 * (5 + 10 + 30) and int((programs == 4).sum()) == 4 * (5 + 10)
    assert int((programs == 1).sum()) == 6 * (1 + 2 + 3) and int((programs >= 0).sum()) == int(lengths.sum())


@pytest.fixture(scope="module")
def after_move_batch():
    module, spec, samples = records("imagine_after_move", 160, image_size=S, paraphrases=True)
    return spec, spec.render(S).steps[0], samples


def test_every_move_replayed_step_by_step_gives_the_target_scene_and_pixels(after_move_batch):
    spec, step, samples = after_move_batch
    source, target = spec.steps[0].input.scene, spec.steps[0].target.scene
    phrases, replayed = set(), []
    for i, record in enumerate(samples):
        info = record["steps"][0]
        assert info["question"] == "imagine_after_move" and info["target"] == "image" and info["answer"] is None
        phrase = phrase_of(info["prompt"])
        actions = spelled(phrase)
        phrases.add(phrase)
        facts = info["facts"]
        assert after_move_module.PHRASES[facts["move"]] == phrase, i
        assert facts["program"][: len(actions)] == actions and facts["program_length"] == len(actions), i
        assert all(a == -1 for a in facts["program"][len(actions):]), i
        alone, _ = replay(source[i], actions)
        assert torch.equal(target.agent[i], alone.agent[0]), (i, phrase)
        assert torch.equal(target.heading[i], alone.heading[0]), (i, phrase)
        assert torch.equal(target.gold_valid[i], alone.gold_valid[0]), (i, phrase)
        assert facts["gold_collected"] == int((~alone.gold_valid[0]).sum())
        assert info["target_scene"]["agent"] == alone.to_json()[0]["agent"], i
        replayed.append(alone)
    assert phrases == EXPECTED_PHRASES  # all 23 moves were replayed
    pixels = render(Scene.cat(replayed), S)
    assert torch.allclose(step.image_target, pixels, atol=1e-6)
    assert torch.allclose(step.image, render(source, S), atol=1e-6)
    # The replayed turns are what the phrases say: the heading moved by the signed count of turns.
    for i, record in enumerate(samples):
        actions = spelled(phrase_of(record["steps"][0]["prompt"]))
        turn = (actions.count(3) - actions.count(4)) * math.pi / 30
        assert angle_gap(float(target.heading[i]), float(source.heading[i]) + turn) < 2e-5, i


def test_walls_stop_walks_and_gold_on_the_way_is_collected():
    """Rates over 3000 samples (the module docstring's numbers): a walk cut short, recognised by
    the distance walked being below `steps · 1/16`, ends with the agent's disc touching a wall
    (or its centre at the room's edge, in an exit gap); the gold is gone exactly where a replayed
    position came within `r_a + r_g` of it."""
    spec = registry.get("imagine_after_move")(batch_size=3000).train_batch(0)
    facts, source, target = spec.steps[0].facts, spec.steps[0].input.scene, spec.steps[0].target.scene
    steps = torch.tensor([spelled(after_move_module.PHRASES[m]).count(1) for m in facts["move"].tolist()])
    walking = steps > 0
    walked = (target.agent.double() - source.agent.double()).norm(dim=1)
    blocked = walking & (walked < steps * STEP - 1e-6)
    assert (walked[~walking] == 0).all() and (walked <= steps * STEP + 1e-6).all()
    blocked_rate = float(blocked.sum() / walking.sum())
    collected = ~target.gold_valid[:, 0]
    collected_rate = float(collected.float().mean())
    assert 0.15 < blocked_rate < 0.25, blocked_rate  # measured 0.20
    assert 0.012 < collected_rate < 0.035, collected_rate  # measured 0.021
    assert not (collected & ~walking).any()  # a turn on the spot never reaches the gold
    scenes = target.to_json()
    for i in blocked.nonzero().squeeze(1)[:40].tolist():
        walls = scenes[i]["walls"]
        x, y = scenes[i]["agent"]
        at_edge = min(x, y, 1 - x, 1 - y) < R_AGENT + 1e-4
        assert abs(min_wall_distance((x, y), walls) - R_AGENT) < 1e-4 or at_edge, i
    for i in collected.nonzero().squeeze(1).tolist() + blocked.nonzero().squeeze(1)[:20].tolist():
        _, positions = replay(source[i], spelled(after_move_module.PHRASES[int(facts["move"][i])]))
        reach = min(float((p - source.gold[i, 0]).norm()) for p in positions)
        assert (reach < REACH) == bool(collected[i]), i
    # The collected coin is gone from the target's pixels too.
    idx = collected.nonzero().squeeze(1)[:10]
    images = render(source[idx], 160), render(target[idx], 160)
    assert all(gold_pixels(im).any() for im in images[0]) and not any(gold_pixels(im).any() for im in images[1])


def test_moves_are_uniform_over_the_23_phrases():
    facts = registry.get("imagine_after_move")(batch_size=9200).train_batch(0).steps[0].facts
    counts = torch.bincount(facts["move"], minlength=23)
    assert (counts - 400).abs().max() < 100, counts  # 400 ± 20 each (binomial sd)


def test_imagine_after_move_never_mutates_its_input_scene(monkeypatch):
    scene, spec = input_scene_untouched(monkeypatch, after_move_module, "imagine_after_move", 64)
    assert spec.steps[0].input.scene is scene and spec.steps[0].target.scene is not scene
    assert not torch.equal(spec.steps[0].target.scene.agent, scene.agent)


# ================================================================================ imagine_closer
INNER = 1 / 16  # the side walls' inner edges lie at 1/16 and 1 − 1/16 (docs/game.md thickness)


def blocked(p, walls):
    """The agent's disc at `p` overlaps a wall, or its centre is outside `[r_a, 1 − r_a]²`."""
    inside = R_AGENT - 1e-9 <= p[0] <= 1 - R_AGENT + 1e-9 and R_AGENT - 1e-9 <= p[1] <= 1 - R_AGENT + 1e-9
    return not inside or min_wall_distance(p, walls) < R_AGENT


def closer_expected(scene):
    """`(agent, heading, collected, stopped)` of the target, from a scene's JSON.

    Midpoint `(a + g)/2`, heading `atan2`. The walk toward the gold is cut at the first point of
    the agent→midpoint segment where the disc would touch a wall: found by scanning the segment
    in 200 steps, then bisecting. (A midpoint inside the side walls' inner box `[1/16 + r_a,
    1 − 1/16 − r_a]²` needs no scan: the box is convex and clear of the side walls.)"""
    (ax, ay), (gx, gy) = scene["agent"], scene["gold"][0]
    dx, dy = gx - ax, gy - ay
    walls = scene["walls"]
    at = lambda s: (ax + s * dx, ay + s * dy)  # noqa: E731
    lo, hi = INNER + R_AGENT, 1 - INNER - R_AGENT
    s = 0.5
    if not all(lo <= c <= hi for c in at(0.5)):
        grid = [0.5 * k / 200 for k in range(201)]
        first = next((k for k, t in enumerate(grid) if blocked(at(t), walls)), None)
        if first is not None:
            clear, stuck = grid[first - 1], grid[first]
            for _ in range(50):
                mid = (clear + stuck) / 2
                clear, stuck = (clear, mid) if blocked(at(mid), walls) else (mid, stuck)
            s = clear
    agent = at(s)
    return agent, math.atan2(dy, dx) % (2 * math.pi), math.dist(agent, (gx, gy)) < REACH, s < 0.5


def test_closer_target_is_the_midpoint_facing_the_gold_in_scene_and_pixels():
    module, spec, samples = records("imagine_closer", 400, image_size=S)
    target = spec.steps[0].target.scene
    step = spec.render(S).steps[0]
    built, stopped, collected = [], 0, 0
    for i, record in enumerate(samples):
        info = record["steps"][0]
        assert info["question"] == "imagine_closer" and info["target"] == "image" and info["answer"] is None
        scene = info["scene"]
        agent, heading, gone, cut = closer_expected(scene)
        stopped += cut
        collected += gone
        moved = info["target_scene"]
        assert math.dist(moved["agent"], agent) < 1e-4 if cut else math.dist(moved["agent"], agent) < 1e-6, i
        assert angle_gap(moved["heading"], heading) < 1e-5, i
        assert (moved["gold"] == []) == gone and bool(target.gold_valid[i, 0]) == (not gone), i
        assert moved["walls"] == scene["walls"]
        assert info["facts"]["stopped_by_wall"] == cut and info["facts"]["gold_collected"] == int(gone), i
        if cut:  # stopped with the disc touching a side wall, short of the midpoint
            assert abs(min_wall_distance(moved["agent"], scene["walls"]) - R_AGENT) < 1e-4, i
        built.append({"agent": list(agent), "heading": heading, "gold": [] if gone else scene["gold"],
                      "walls": scene["walls"]})
    assert 15 <= collected <= 45 and stopped <= 10  # about 7 % and 0.5 % (module docstring)
    reference = render(Scene.from_json(built), S)
    diff = (step.image_target - reference).abs()
    assert diff.max() < 2e-3, float(diff.max())  # float32 vs float64 positions: coverage differs by < 1e-3
    assert torch.allclose(step.image, render(Scene.from_json([r["steps"][0]["scene"] for r in samples]), S),
                          atol=1e-6)


def test_closer_eye_faces_the_gold_read_from_pixels():
    size = 224
    module, spec, samples = records("imagine_closer", 24, seed=3, image_size=size)
    step = spec.render(size).steps[0]
    read = read_out(step.image_target)
    read_in = read_out(step.image)
    for i, record in enumerate(samples):
        scene = record["steps"][0]["scene"]
        agent, heading, gone, _ = closer_expected(scene)
        assert bool(read.eye_present[i]) and bool(read.agent_present[i])
        # Read-out tolerance (docs/game.md: 1.5 px at 224; measured here 0.1 px, 0.5°).
        assert angle_gap(float(read.heading[i]), heading) < math.radians(2), i
        assert math.dist(read.agent[i].tolist(), agent) * size < 0.7, i
        assert bool(read.gold_present[i]) == (not gone), i
        if not gone:
            assert math.dist(read.gold[i].tolist(), read_in.gold[i].tolist()) * size < 0.5, i
        # The input's eye pointed elsewhere in most samples: the turn is visible.
    turned = sum(angle_gap(float(read_in.heading[i]), closer_expected(r["steps"][0]["scene"])[1]) > math.radians(10)
                 for i, r in enumerate(samples))
    assert turned >= 18


def _scene(agent, gold, heading=0.0):
    """A bare scene (side walls, no gap) with one gold."""
    return {"agent": list(agent), "heading": heading, "gold": [list(gold)],
            "walls": [[0.5, 1 / 32, 1.0, 1 / 16, 0.0], [0.5, 1 - 1 / 32, 1.0, 1 / 16, 0.0],
                      [1 / 32, 0.5, 1.0, 1 / 16, math.pi / 2], [1 - 1 / 32, 0.5, 1.0, 1 / 16, math.pi / 2]]}


CONSTRUCTED = [  # (agent, gold, collected?, stopped by a wall?)
    ((0.5, 0.5), (0.62, 0.5), True, False),      # |d| = 0.12: the midpoint is 0.06 < r_a + r_g away
    ((0.5, 0.5), (0.5, 0.37), True, False),      # |d| = 0.13, straight up
    ((0.5, 0.5), (0.5 + 0.135 / math.sqrt(2), 0.5 + 0.135 / math.sqrt(2)), False, False),  # 0.0675 > 0.0656
    ((0.3, 0.7), (0.7, 0.4), False, False),      # far
    ((0.12, 0.5), (0.079, 0.555), True, True),   # midpoint too near the left wall: stop at x = 1/16 + r_a, in reach
    ((0.113, 0.3), (0.09, 0.6), False, True),    # stopped after a sliver of the walk, far from the gold
]


def test_closer_collects_the_gold_exactly_when_in_reach_and_stops_at_walls(monkeypatch):
    scene = Scene.from_json([_scene(a, g) for a, g, _, _ in CONSTRUCTED])
    before = {k: v.clone() for k, v in vars(scene).items()}
    monkeypatch.setattr(closer_module, "sample_bare", lambda generator, batch: scene)
    spec = registry.get("imagine_closer")(batch_size=len(CONSTRUCTED)).train_batch(0)
    for name, value in before.items():
        assert torch.equal(getattr(scene, name), value), f"sample() changed the input scene's {name}"
    out, facts = spec.steps[0].target.scene, spec.steps[0].facts
    assert spec.steps[0].input.scene is scene
    for i, (a, g, gone, cut) in enumerate(CONSTRUCTED):
        assert bool(out.gold_valid[i, 0]) == (not gone), i
        assert bool(facts["stopped_by_wall"][i]) == cut, i
        agent, heading, want_gone, want_cut = closer_expected(_scene(a, g))
        assert (want_gone, want_cut) == (gone, cut), i  # the reference agrees with the hand-made table
        assert math.dist(out.agent[i].tolist(), agent) < 1e-4, i
        assert angle_gap(float(out.heading[i]), heading) < 1e-6, i
    pixels = spec.render(160).steps[0].image_target  # large enough for the 1/64 coin to hold whole pixels
    for i, (_, _, gone, _) in enumerate(CONSTRUCTED):
        assert bool(gold_pixels(pixels[i]).any()) == (not gone), i


# ================================================================================ the CLI
@pytest.mark.parametrize("task, facts", [
    ("imagine_after_move", {"move", "program", "program_length", "gold_collected"}),
    ("imagine_closer", {"walk", "stopped_by_wall", "gold_collected"}),
])
def test_tasks_show_writes_the_moved_scene_and_the_facts(task, facts, tmp_path):
    assert tasks_main(["show", task, "--n", "4", "--size", "64", "--out", str(tmp_path)]) == 0
    assert (tmp_path / f"{task}.png").exists()
    lines = [json.loads(line) for line in (tmp_path / f"{task}.jsonl").read_text().splitlines()]
    assert len(lines) == 4
    for record in lines:
        (info,) = record["steps"]
        assert set(info["facts"]) == facts and info["target_view"] is None
        Scene.from_json(info["target_scene"]).check()
        assert info["target_scene"]["walls"] == info["scene"]["walls"]
