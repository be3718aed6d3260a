"""Every task datamodule: builds, renders, runs a brain step, is a pure function of its
coordinates, and asks questions whose answers an independent reference (`tests/references.py`)
recomputes from the scene (and, for overlays, from the pixels). Parametrized over the registry:
a new task is checked by every test here without editing this file."""
import json
import math

import pytest
import torch
from PIL import Image

from datamodules import registry
from penguin.brain import Brain
from penguin.tasks import main as tasks_main
from penguin.testing import check_labels, check_task, prompt_owners, records, same_batch
from references import REFERENCES

TASKS = registry.names()
QA_TASKS = [t for t in TASKS if any(k.answers for k in registry.get(t).question_kinds)]


def reference_answer(step):
    """The answer of a record's step, recomputed by its kind's reference rule."""
    return REFERENCES[step["question"]](step)


@pytest.fixture(scope="module")
def brain():
    torch.manual_seed(0)
    return Brain.from_preset("tiny64")


def test_registry_has_the_core_set():
    assert set(TASKS) >= {"control", "arrow", "side_qa", "egocentric_side_qa", "facing_gold_qa", "near_gold_qa",
                          "line_facing_qa", "turn_qa", "next_move_qa", "action_names", "language"}
    assert set(QA_TASKS) == {"side_qa", "egocentric_side_qa", "heading_qa", "facing_gold_qa", "near_gold_qa",
                             "line_facing_qa", "turn_qa", "next_move_qa", "action_names", "compare", "full_move"}
    with pytest.raises(ValueError, match="unknown task 'nope'; valid tasks: action_names"):
        registry.get("nope")


@pytest.mark.parametrize("task", TASKS)
def test_a_batch_builds_renders_runs_a_brain_step_and_is_deterministic(task, brain):
    check_task(task, brain)


# --------------------------------------------------------------------------------- reference answers
@pytest.mark.parametrize("task", QA_TASKS)
def test_labels_match_an_independent_reference(task):
    assert check_labels(task, REFERENCES) >= 600


def test_a_task_without_a_reference_fails_the_label_check():
    with pytest.raises(AssertionError, match="near_gold_qa: no reference answer rule for question kind\\(s\\) "
                                             "\\['near_gold'\\]"):
        check_labels("near_gold_qa", {})


def test_the_label_check_catches_a_wrong_answer_rule():
    wrong = {**REFERENCES, "near_gold": lambda step: "yes"}
    with pytest.raises(AssertionError, match="near_gold answered 'no', reference 'yes'"):
        check_labels("near_gold_qa", wrong)


@pytest.mark.parametrize("task", ["line_facing_qa", "turn_qa"])
def test_line_overlay_direction_from_pixels_agrees_with_the_label(task):
    module, spec, samples = records(task, 64)
    image = spec.render(224).steps[0].image
    r, g, b = image[:, 0], image[:, 1], image[:, 2]
    blue = (b > 0.6) & (r < 0.3) & (g < 0.3)
    rows, cols = torch.meshgrid(torch.arange(224.0), torch.arange(224.0), indexing="ij")
    checked = 0
    for i, record in enumerate(samples):
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
    ("side_qa", None), ("egocentric_side_qa", None), ("heading_qa", None), ("facing_gold_qa", None),
    ("near_gold_qa", None),
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


# --------------------------------------------------------------------------------- streams
def test_dataloaders_stream_the_same_batches_and_resume_where_they_stopped():
    module = registry.get("near_gold_qa")(batch_size=4, val_batches=3)
    stream = iter(module.train_dataloader())
    first = [next(stream) for _ in range(3)]
    assert all(same_batch(a, module.train_batch(i)) for i, a in enumerate(first))
    module.load_state_dict({"consumed": 2})
    assert same_batch(next(iter(module.train_dataloader())), module.train_batch(2))
    vals = list(module.val_dataloader())
    assert len(vals) == 3 and same_batch(vals[2], module.val_batch(2))


def test_a_mixture_validates_each_task_on_its_own_batch_count():
    from datamodules.mixture import TaskMixture

    mixture = TaskMixture(tasks=["near_gold_qa", "turn_qa"], task_options={"near_gold_qa": {"val_batches": 3}},
                          batch_size=2, val_batches=1)
    assert mixture.validation_keys() == [("near_gold_qa", 0), ("near_gold_qa", 1), ("near_gold_qa", 2), ("turn_qa", 0)]
    vals = list(mixture.val_dataloader())
    assert len(vals) == 4
    assert same_batch(vals[2], registry.get("near_gold_qa")(batch_size=2, val_batches=3).val_batch(2))


# --------------------------------------------------------------------------------- registry-wide
def test_no_prompt_serves_two_question_kinds_and_answers_are_functions_of_the_scene():
    owners = prompt_owners()
    assert all(len(kinds) == 1 for kinds in owners.values()), {p: k for p, k in owners.items() if len(k) > 1}
    answers: dict[tuple, str] = {}
    for task in TASKS:
        _, _, samples = records(task, 64, seed=1)
        for record in samples:
            for step in record["steps"]:
                if step["question"] is not None:
                    assert owners[step["prompt"]] == {step["question"]}
                if step["answer"] is not None:
                    key = (json.dumps(step["scene"]), json.dumps(step["overlay"]), step["prompt"])
                    assert answers.setdefault(key, step["answer"]) == step["answer"]
                    assert step["answer"] == reference_answer(step)


def test_bad_options_are_one_line_errors():
    with pytest.raises(ValueError, match="image_size"):
        registry.get("arrow")(image_size=16)
    with pytest.raises(ValueError, match="side_qa.kinds: \\['sideways'\\] not valid; choose distinct kinds from "
                                         "gold_left_right, gold_up_down"):
        registry.get("side_qa")(kinds=["gold_left_right", "sideways"])
    with pytest.raises(ValueError, match="arrow.kinds: every arrow episode asks all of its kinds"):
        registry.get("arrow")(kinds=["copy_scene"])
    with pytest.raises(ValueError, match="weights"):
        registry.get("arrow")(weights={"pixels": 1.0})


def test_side_qa_can_ask_only_left_right():
    module = registry.get("side_qa")(batch_size=200, kinds=["gold_left_right", "agent_left_right"])
    step = module.train_batch(0).steps[0]
    assert set(module.label_names[i] for i in step.labels.tolist()) == {"left", "right"}


@pytest.mark.parametrize("kinds", [["next_move"], ["next_move", "straight_collects"]])
def test_a_subset_of_kinds_is_asked_and_answered_by_its_own_rule(kinds):
    module, spec, samples = records("next_move_qa", 300, kinds=kinds)
    assert spec.question_kinds == tuple(kinds)
    assert {s["question"] for r in samples for s in r["steps"]} == set(kinds)
    assert check_labels("next_move_qa", REFERENCES, 300, kinds=kinds) == 300


def test_arrow_targets_hold_the_line_only_on_the_draw_step():
    module, spec, samples = records("arrow", 8)
    episode = spec.render(64)
    for i, record in enumerate(samples):
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
