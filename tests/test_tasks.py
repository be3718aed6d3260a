"""Every task datamodule: builds, renders, runs a brain step, and asks questions whose answers
an independent reference recomputes from the scene (and, for overlays, from the pixels)."""
import json
import math

import pytest
import torch
from PIL import Image

from game_reference import R_AGENT, R_GOLD, relative_angle
from datamodules import registry
from lit_modules.terms import run_episode
from penguin.brain import Brain
from penguin.tasks import describe, main as tasks_main
from penguin.text.prompts import QUESTION_KINDS

TASKS = registry.names()
QA_TASKS = ["side_qa", "egocentric_side_qa", "facing_gold_qa", "near_gold_qa", "line_facing_qa",
            "turn_qa", "next_move_qa", "action_names"]
TOKEN_NAMES = {"<forward>": "forward", "<backward>": "backward", "<clock>": "turn clockwise",
               "<anticlock>": "turn anticlockwise"}
TURN_STEP = math.pi / 30


@pytest.fixture(scope="module")
def brain():
    torch.manual_seed(0)
    return Brain.from_preset("tiny64")


def test_registry_has_the_core_set():
    assert set(TASKS) >= {"control", "arrow", "side_qa", "egocentric_side_qa", "facing_gold_qa", "near_gold_qa",
                          "line_facing_qa", "turn_qa", "next_move_qa", "action_names", "language"}
    with pytest.raises(ValueError, match="unknown task 'nope'; valid tasks: action_names"):
        registry.get("nope")


@pytest.mark.parametrize("task", TASKS)
def test_a_batch_builds_renders_and_runs_a_brain_step(task, brain):
    module = registry.get(task)(batch_size=4, image_size=64)
    episode = module.train_batch(0).render(64)
    for step in episode.steps:
        assert step.has_answer == bool(step.answer_mask.any()) and step.has_lm == bool(step.lm_mask.any())
        for image in (step.image, step.image_target):
            if image is not None:
                assert image.shape == (4, 3, 64, 64) and image.dtype == torch.float32
                assert 0 <= image.min() and image.max() <= 1
    result = run_episode(brain, episode)
    assert result.terms, f"{task} produced no loss term"
    for name, value in result.terms.items():
        assert torch.isfinite(value), (task, name)
    expected = {k for k, w in module.weights.as_dict().items() if w > 0}
    assert set(result.terms) == expected, (task, set(result.terms), expected)


# --------------------------------------------------------------------------------- reference answers
def _prompt_kinds():
    table = {}
    for kind in QUESTION_KINDS.values():
        for text in kind.expand(paraphrases=True):
            table.setdefault(text, set()).add(kind.name)
    return table


PROMPT_KINDS = _prompt_kinds()


def _frame(scene):
    (ax, ay), (gx, gy), th = scene["agent"], scene["gold"][0], scene["heading"]
    gold_angle = math.atan2(gy - ay, gx - ax)
    rel = relative_angle(gold_angle, th)
    dist = math.hypot(gx - ax, gy - ay)
    return ax, ay, gx, gy, th, gold_angle, rel, dist


def _turn(target, heading):
    rel = relative_angle(target, heading)
    tie = min(rel, 2 * math.pi - rel) < TURN_STEP or abs(rel - math.pi) < TURN_STEP
    return ("<clock>" if rel < math.pi else "<anticlock>"), tie


def reference_answer(step):
    """The answer recomputed from the record's scene, overlay and prompt alone."""
    kind = step["question"]
    scene, overlay = step["scene"], step["overlay"]
    if kind == "action_to_name":
        token = next(t for t in TOKEN_NAMES if t in step["prompt"])
        return TOKEN_NAMES[token]
    if kind == "name_to_action":
        # Longest name first: "turn anticlockwise" contains "clockwise".
        name = max((n for n in TOKEN_NAMES.values() if n in step["prompt"]), key=len)
        return {v: k for k, v in TOKEN_NAMES.items()}[name]
    ax, ay, gx, gy, th, gold_angle, rel, dist = _frame(scene)
    ahead, right = dist * math.cos(rel), dist * math.sin(rel)
    facing = ahead > 0 and abs(right) < R_AGENT + R_GOLD
    if kind == "gold_left_right":
        return "left" if gx < ax else "right"
    if kind == "gold_up_down":
        return "up" if gy < ay else "down"
    if kind == "agent_left_right":
        return "left" if ax < gx else "right"
    if kind == "agent_up_down":
        return "up" if ay < gy else "down"
    if kind == "gold_on_your_side":
        assert _turn(gold_angle, th)[1] is False, "a near-tie was asked"
        return "right" if right > 0 else "left"
    if kind in ("facing_gold", "straight_collects"):
        return "yes" if facing else "no"
    if kind == "near_gold":
        return "yes" if dist < 0.15 else "no"
    if kind == "facing_line":
        r = relative_angle(overlay["angle"], th)
        return "yes" if min(r, 2 * math.pi - r) < math.pi / 6 else "no"
    if kind.startswith("turn_") and kind != "turn_toward_gold_word":
        target = gold_angle if kind.endswith("gold") else overlay["angle"]
        target += math.pi if "away" in kind else 0.0
        answer, tie = _turn(target, th)
        assert not tie, "a near-tie was asked"
        return answer
    if kind == "turn_toward_gold_word":
        answer, tie = _turn(gold_angle, th)
        assert not tie
        return "clockwise" if answer == "<clock>" else "anticlockwise"
    if kind == "next_move":
        if facing:
            return "<forward>"
        answer, tie = _turn(gold_angle, th)
        assert not tie
        return answer
    raise AssertionError(f"no reference for question kind {kind}")


def _records(task, n, seed=0, **options):
    module = registry.get(task)(batch_size=n, seed=seed, **options)
    spec = module.train_batch(0)
    return module, spec, describe(spec, module.tokenizer, seed)


@pytest.mark.parametrize("task", QA_TASKS)
def test_labels_match_an_independent_reference(task):
    _, _, records = _records(task, 600)
    for record in records:
        for step in record["steps"]:
            kinds = PROMPT_KINDS[step["prompt"]]
            assert kinds == {step["question"]}, (step["prompt"], kinds)  # the prompt alone says the kind
            assert step["answer"] == reference_answer(step), step


@pytest.mark.parametrize("task", ["line_facing_qa", "turn_qa"])
def test_line_overlay_direction_from_pixels_agrees_with_the_label(task):
    module, spec, records = _records(task, 64)
    image = spec.render(224).steps[0].image
    r, g, b = image[:, 0], image[:, 1], image[:, 2]
    blue = (b > 0.6) & (r < 0.3) & (g < 0.3)
    rows, cols = torch.meshgrid(torch.arange(224.0), torch.arange(224.0), indexing="ij")
    checked = 0
    for i, record in enumerate(records):
        step = record["steps"][0]
        mask = blue[i]
        if mask.sum() < 20:  # the line left the room almost at once
            continue
        cx, cy = (cols[mask].mean() + 0.5) / 224, (rows[mask].mean() + 0.5) / 224
        ax, ay = step["scene"]["agent"]
        pixel_angle = math.atan2(cy - ay, cx - ax)
        assert abs(math.remainder(pixel_angle - step["overlay"]["angle"], 2 * math.pi)) < 0.15, i
        # Far from the decision boundary, the answer recomputed with the pixel angle is the label.
        pixel_step = {**step, "overlay": {**step["overlay"], "angle": pixel_angle}}
        try:
            if reference_answer(pixel_step) == step["answer"]:
                checked += 1
                continue
        except AssertionError:
            pass
        th = step["scene"]["heading"]
        boundaries = [math.pi / 6, -math.pi / 6] if task == "line_facing_qa" else [0.0, math.pi]
        assert min(abs(math.remainder(pixel_angle - th - bd, 2 * math.pi)) for bd in boundaries) < 0.2, i
    assert checked > 40


@pytest.mark.parametrize("task, answers", [
    ("side_qa", None), ("egocentric_side_qa", None), ("facing_gold_qa", None), ("near_gold_qa", None),
    ("line_facing_qa", None), ("turn_qa", None), ("next_move_qa", None), ("action_names", None)])
def test_balanced_answer_rates_over_2000_samples(task, answers):
    module = registry.get(task)(batch_size=500)
    labels, kinds = [], []
    for s in range(4):
        step = module.train_batch(s).steps[0]
        labels.append(step.labels)
        kinds.append(step.question)
    labels, kinds = torch.cat(labels), torch.cat(kinds)
    for k in kinds.unique():
        answers_k = labels[kinds == k]
        counts = torch.bincount(answers_k, minlength=len(module.label_names)).float()
        counts = counts[counts > 0]
        rates = counts / counts.sum()
        expected = 1 / len(counts)
        assert (rates - expected).abs().max() < 0.06, (task, int(k), rates)
    kind_rates = torch.bincount(kinds).float() / len(kinds)
    assert (kind_rates - 1 / len(kind_rates)).abs().max() < 0.05


def test_unbalanced_rates_follow_the_scenes_and_are_reported():
    module = registry.get("near_gold_qa")(batch_size=500, balanced=False)
    rates = module.label_rates(2000)
    assert 0.06 < rates["yes"] < 0.15 and abs(rates["yes"] + rates["no"] - 1) < 1e-6
    balanced = registry.get("near_gold_qa")(batch_size=500).label_rates(2000)
    assert abs(balanced["yes"] - 0.5) < 0.05


# --------------------------------------------------------------------------------- determinism
def _flat(spec):
    out = []
    for step in spec.steps:
        out += [step.prompt_ids, step.reply_ids]
        for view in (step.input, step.target):
            if view is not None:
                out += [view.scene.agent, view.scene.heading, view.scene.gold, view.zoom_factor, view.line_angle]
    return out


def _same(a, b):
    return all(torch.equal(x, y) for x, y in zip(_flat(a), _flat(b)))


@pytest.mark.parametrize("task", TASKS)
def test_batches_are_pure_functions_of_seed_rank_and_step(task):
    module = registry.get(task)(batch_size=6, seed=3)
    assert _same(module.train_batch(5, rank=1), module.train_batch(5, rank=1))
    assert not _same(module.train_batch(5, rank=0), module.train_batch(5, rank=1))
    assert not _same(module.train_batch(5), module.train_batch(6))
    assert _same(module.val_batch(0), module.val_batch(0))
    other = registry.get(task)(batch_size=6, seed=4)
    assert _same(module.val_batch(1), other.val_batch(1))  # validation ignores the training seed


def test_dataloaders_stream_the_same_batches_and_resume_where_they_stopped():
    module = registry.get("near_gold_qa")(batch_size=4, val_batches=3)
    stream = iter(module.train_dataloader())
    first = [next(stream) for _ in range(3)]
    assert all(_same(a, module.train_batch(i)) for i, a in enumerate(first))
    module.load_state_dict({"consumed": 2})
    assert _same(next(iter(module.train_dataloader())), module.train_batch(2))
    vals = list(module.val_dataloader())
    assert len(vals) == 3 and _same(vals[2], module.val_batch(2))


# --------------------------------------------------------------------------------- registry-wide
def test_no_prompt_serves_two_question_kinds_and_answers_are_functions_of_the_scene():
    seen: dict[str, set] = {}
    answers: dict[tuple, str] = {}
    for task in TASKS:
        _, _, records = _records(task, 64, seed=1)
        for record in records:
            for step in record["steps"]:
                if step["question"] is not None:
                    seen.setdefault(step["prompt"], set()).add(step["question"])
                if step["answer"] is not None:
                    key = (json.dumps(step["scene"]), json.dumps(step["overlay"]), step["prompt"])
                    assert answers.setdefault(key, step["answer"]) == step["answer"]
                    assert step["answer"] == reference_answer(step)
    assert all(len(kinds) == 1 for kinds in seen.values()), {p: k for p, k in seen.items() if len(k) > 1}


def test_bad_options_are_one_line_errors():
    with pytest.raises(ValueError, match="image_size"):
        registry.get("arrow")(image_size=16)
    with pytest.raises(ValueError, match="side_qa.kinds"):
        registry.get("side_qa")(kinds=["gold_left_right", "sideways"])
    with pytest.raises(ValueError, match="weights"):
        registry.get("arrow")(weights={"pixels": 1.0})


def test_side_qa_can_ask_only_left_right():
    module = registry.get("side_qa")(batch_size=200, kinds=["gold_left_right", "agent_left_right"])
    step = module.train_batch(0).steps[0]
    assert set(module.label_names[i] for i in step.labels.tolist()) == {"left", "right"}


def test_arrow_targets_hold_the_line_only_on_the_draw_step():
    module, spec, records = _records("arrow", 8)
    episode = spec.render(64)
    for i, record in enumerate(records):
        for step, info in zip(episode.steps, record["steps"]):
            blue = ((step.image_target[i, 2] > 0.6) & (step.image_target[i, 0] < 0.3)).sum().item()
            drew = info["question"] == "draw_line_to_gold"
            assert (blue > 0) == drew and (info["target_overlay"] is not None) == drew
            assert torch.equal(step.image[i], episode.steps[0].image[i])
        assert {s["question"] for s in record["steps"]} == {"draw_line_to_gold", "copy_scene"}


# --------------------------------------------------------------------------------- the CLI
def test_tasks_show_writes_a_png_and_a_jsonl_whose_labels_verify(tmp_path, capsys):
    assert tasks_main(["show", "turn_qa", "--n", "6", "--size", "64", "--out", str(tmp_path)]) == 0
    png, jsonl = tmp_path / "turn_qa.png", tmp_path / "turn_qa.jsonl"
    image = Image.open(png)
    assert image.size[0] >= 64 and image.size[1] >= 6 * 64
    lines = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert len(lines) == 6 and [r["index"] for r in lines] == list(range(6))
    for record in lines:
        step = record["steps"][0]
        assert record["task"] == "turn_qa" and step["overlay"]["kind"] == "line" and step["target"] == "answer"
        assert step["answer"] == reference_answer(step)


def test_tasks_list_and_unknown_task(capsys):
    assert tasks_main(["list"]) == 0
    out = capsys.readouterr().out
    assert all(task in out for task in TASKS)
    assert tasks_main(["show", "nope"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: unknown task 'nope'; valid tasks:") and "\n" not in err
