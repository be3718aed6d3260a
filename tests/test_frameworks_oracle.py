"""The fast greedy trace, and the three tasks built on the greedy oracle (value, compare, full_move).

The fast `greedy_trace` is checked against the plain step-by-step `simulate_greedy` (one batched
`greedy_move` + `physics.step` per move) on seeded bare and full scenes, with short caps, with
decisions forced onto the engine, and on hand-made stuck scenes. Task labels and targets are
recomputed by a per-sample Python replay (`replay`): the reference predicates of
tests/game_reference.py choose the move, the engine's physics executes it one sample at a time.
"""
import math
from types import SimpleNamespace

import pytest
import torch

import penguin.game.oracle as oracle
from datamodules import registry
from lit_modules.metrics import TaskMetrics
from lit_modules.terms import masked_cross_entropy, run_episode
from penguin.brain import Brain
from penguin.episode import Episode
from game_reference import R_AGENT, R_GOLD, relative_angle
from penguin.game.oracle import greedy_trace, simulate_greedy
from penguin.game.physics import step
from penguin.game.sampling import sample_bare, sample_full
from penguin.game.scene import Scene
from penguin.testing import records


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
    no_gold = scene.replace(gold_valid=torch.tensor([[True], [False]]))
    for trace in (greedy_trace, simulate_greedy):
        with pytest.raises(ValueError, match=r"greedy_trace: sample\(s\) \[1\] hold no valid gold"):
            trace(no_gold)


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


# --------------------------------------------------------------------------------- value
def test_value_target_is_the_discounted_replayed_trace():
    module = registry.get("value")(batch_size=24, seed=2)
    step = module.train_batch(0).steps[0]
    for i, item in enumerate(step.input.scene.to_json()):
        n, stuck = replay(item)
        assert step.facts["trace_length"][i].item() == n and step.facts["stuck"][i].item() == stuck, i
        assert step.value_target[i].item() == pytest.approx(0.0 if stuck else 0.98 ** n, abs=1e-6), i
    assert step.answer_mask.sum() == 0 and step.has_answer is False


def test_value_target_statistics():
    module = registry.get("value")(batch_size=500)
    steps = [module.train_batch(s).steps[0] for s in range(4)]
    value = torch.cat([s.value_target for s in steps])
    stuck = torch.cat([s.facts["stuck"] for s in steps])
    assert (value[stuck] == 0).all() and (value[~stuck] > 0.98 ** 256).all()
    assert 0.03 < stuck.float().mean() < 0.10
    assert 0.6 < value[~stuck].median() < 0.75


# --------------------------------------------------------------------------------- compare
def _first_scene(facts, i):
    return {"agent": facts["first_agent"][i].tolist(), "heading": facts["first_heading"][i].item(),
            "gold": [facts["first_gold"][i].tolist()],
            "walls": [w for w, v in zip(facts["first_walls"][i].tolist(), facts["first_wall_valid"][i].tolist()) if v]}


def test_compare_labels_come_from_replays_of_both_scenes():
    module = registry.get("compare")(batch_size=16, seed=5)
    spec = module.train_batch(0)
    show, ask = spec.steps
    assert show.has_answer is False and show.target is not None and ask.has_answer
    firsts, seconds = show.input.scene.to_json(), ask.input.scene.to_json()
    for i in range(16):
        assert _first_scene(ask.facts, i) == firsts[i]  # the facts name the scene step 1 showed
        n1, stuck1 = replay(firsts[i])
        n2, stuck2 = replay(seconds[i])
        assert not stuck1 and not stuck2 and n1 != n2, i
        assert (ask.facts["first_trace_length"][i].item(), ask.facts["second_trace_length"][i].item()) == (n1, n2)
        assert module.label_names[ask.labels[i]] == ("first" if n1 < n2 else "second"), i


def test_compare_is_balanced_and_never_asks_a_tie():
    module = registry.get("compare")(batch_size=500)
    labels, a, b = [], [], []
    for s in range(4):
        ask = module.train_batch(s).steps[1]
        labels.append(ask.labels)
        a.append(ask.facts["first_trace_length"])
        b.append(ask.facts["second_trace_length"])
    labels, a, b = torch.cat(labels), torch.cat(a), torch.cat(b)
    assert abs(labels.float().mean().item() - 0.5) < 0.04
    assert (a != b).all() and (a > 0).all() and (b > 0).all()
    assert torch.equal(labels, (b < a).long())


# --------------------------------------------------------------------------------- full_move
TOKENS = {1: "<forward>", 3: "<clock>", 4: "<anticlock>"}


def test_full_move_replays_move_by_move_with_masking():
    module, spec, records_ = records("full_move", 200, seed=3)
    finished = 0
    for i, record in enumerate(records_):
        scene = Scene.from_json(record["steps"][0]["scene"])
        done, taken = False, []
        for t, (made, info) in enumerate(zip(spec.steps, record["steps"])):
            assert info["scene"] == scene.to_json()[0], (i, t)  # the step shows the replayed scene
            assert made.target.scene.to_json()[i] == info["scene"]  # and reconstructs it
            prompt = spec.steps[t].prompt_ids[i].tolist()
            moves = [module.tokenizer.decode([x]) for x in prompt if x in module.action_ids[1:].tolist()]
            assert moves == [TOKENS[m] for m in taken], (i, t)  # moves so far, as tokens
            if done:
                assert info["answer"] is None and info["question"] is None and made.labels[i] == -1
                assert not made.answer_mask[i].any() and not info["facts"]["active"]
                continue
            move = reference_move(scene.to_json()[0])
            assert info["answer"] == TOKENS[move] and info["facts"] == {"move": move, "active": True}, (i, t)
            scene, _ = step(scene, torch.tensor([move]))
            taken.append(move)
            done = not scene.gold_valid[0, 0]
        finished += done
    assert finished > 0  # some episodes finish early and are masked


def test_full_move_masked_samples_carry_no_answer_loss():
    module, spec, _ = records("full_move", 200, seed=3)
    episode = spec.render(32)
    last = episode.steps[-1]
    masked = ~last.answer_mask.any(dim=1)
    assert masked.any() and (last.labels[masked] == -1).all() and (last.question[masked] == -1).all()
    logits = torch.randn(200, last.reply_ids.shape[1] - 1, 300)
    loss = masked_cross_entropy(logits, last.reply_ids[:, 1:], last.answer_mask)
    logits[masked] = torch.randn_like(logits[masked]) * 100  # whatever a masked sample predicts
    assert torch.equal(loss, masked_cross_entropy(logits, last.reply_ids[:, 1:], last.answer_mask))


def test_metrics_skip_masked_samples():
    module, spec, _ = records("full_move", 200, seed=3)
    episode = spec.render(32)
    last = episode.steps[-1]
    masked = ~last.answer_mask.any(dim=1)
    vocab = 300
    # A prediction that is right on every answered sample and wrong elsewhere: exact_acc is 1.
    logits = torch.nn.functional.one_hot(last.reply_ids[:, 1:], vocab).float()
    out = SimpleNamespace(text_logits=torch.cat([logits, logits[:, :1]], 1), image=None, value=None,
                          prompt_logits=None)
    step_only = Episode(spec.task, (last,), spec.weights, spec.label_names, spec.question_kinds)
    metrics = TaskMetrics(spec.question_kinds)
    metrics.update(step_only, SimpleNamespace(outputs=[out]), torch.tensor(0.0))
    assert masked.any() and metrics.exact_acc.compute() == 1.0
    assert metrics.kind_sums[1, 0] == (~masked).sum()  # answered samples of solve_game


def test_full_move_refuses_a_prompt_limit_that_cuts_moves():
    longest = int(registry.get("full_move")().templates.lengths.max())
    registry.get("full_move")(max_prompt_len=longest + 3)  # room for the three moves: accepted
    with pytest.raises(ValueError, match=f"full_move.max_prompt_len: {longest + 2} cannot hold a prompt of "
                                         f"{longest} tokens plus 3 moves so far; use max_prompt_len >= {longest + 3}"):
        registry.get("full_move")(max_prompt_len=longest + 2)


# --------------------------------------------------------------------------------- one training step
@pytest.mark.parametrize("task, reached", [
    ("value", ("value_head", "image_encoder", "kind_head")),
    ("compare", ("text_decoder", "image_decoder", "image_encoder", "memory_encoder", "kind_head")),
    ("full_move", ("text_decoder", "image_decoder", "image_encoder", "kind_head")),
])
def test_one_training_step_reaches_the_task_parameters(task, reached):
    torch.manual_seed(0)
    brain = Brain.from_preset("tiny64", image_size=32)
    module = registry.get(task)(batch_size=4, image_size=32)
    result = run_episode(brain, module.train_batch(0).render(32))
    weights = module.weights.as_dict()
    loss = sum(weights[name] * value for name, value in result.terms.items())
    assert torch.isfinite(loss)
    loss.backward()
    for part in reached:
        grads = [p.grad for n, p in brain.named_parameters() if n.startswith(part)]
        assert grads and all(g is not None and torch.isfinite(g).all() for g in grads), (task, part)
        assert any(g.abs().sum() > 0 for g in grads), (task, part)
