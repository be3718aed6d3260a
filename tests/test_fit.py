"""`python -m penguin.fit` end to end on the CPU: TensorBoard curves for every task and the
layout it opens on, exact resume, one-line config errors, `--help`, and `python -m penguin.evaluate`
on the checkpoint it wrote."""
import json
import re
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.custom_scalar import layout_pb2, metadata

from datamodules import registry
from penguin import evaluate, fit
from penguin.brain import Brain

TINY = ["--model.preset", "tiny64", "--data.batch_size", "4", "--data.val_batches", "1",
        "--trainer.accelerator", "cpu", "--trainer.enable_progress_bar", "false",
        "--trainer.enable_model_summary", "false", "--trainer.log_every_n_steps", "1"]


def _fit(root: Path, *extra: str) -> int:
    return fit.main([*TINY, "--trainer.default_root_dir", str(root), *extra])


def _scalars(run: Path) -> dict[str, list[tuple[int, float]]]:
    out: dict[str, list] = {}
    for events in sorted(run.glob("version_*/events.out.tfevents.*")):
        acc = EventAccumulator(str(events), size_guidance={"scalars": 0})
        acc.Reload()
        for tag in acc.Tags()["scalars"]:
            out.setdefault(tag, []).extend((e.step, e.value) for e in acc.Scalars(tag))
    return out


@pytest.fixture(scope="module")
def all_tasks_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("fit")
    assert _fit(root, "--name", "all", "--data.tasks", "all", "--data.sampler", "round_robin",
                "--trainer.max_steps", "30", "--trainer.val_check_interval", "15") == 0
    return root / "all"


def test_a_30_step_fit_logs_train_and_val_curves_for_every_task(all_tasks_run):
    scalars = _scalars(all_tasks_run)
    for task in registry.names():
        assert any(t.startswith(f"train/{task}/") for t in scalars), f"no train curve for {task}"
        assert f"train/{task}/total" in scalars
        assert f"val/{task}/loss" in scalars and len(scalars[f"val/{task}/loss"]) == 2, task
        assert f"sampler/{task}/share" in scalars
    for task in ("side_qa", "near_gold_qa", "turn_qa"):
        assert f"val/{task}/exact_acc" in scalars and f"val/{task}/token_acc" in scalars
    assert "val/arrow/psnr" in scalars and "val/arrow/edit_ratio" in scalars and "val/control/mse" in scalars
    assert "val/side_qa/gold_left_right/exact_acc" in scalars
    assert {"val/arrow/draw_line_to_gold/mse", "val/arrow/copy_scene/mse"} <= set(scalars)
    train = [v for _, v in scalars["train/loss"]]
    assert len(train) == 30 and all(v == v for v in train)
    assert (all_tasks_run / "checkpoints" / "last.ckpt").is_file()
    assert "epoch" not in scalars and "hp_metric" not in scalars


def test_tensorboard_opens_on_a_chart_per_task_and_the_task_shares(all_tasks_run):
    layouts = []
    for events in all_tasks_run.glob("version_*/events.out.tfevents.*"):
        acc = EventAccumulator(str(events), size_guidance={"tensors": 0})
        acc.Reload()
        if metadata.CONFIG_SUMMARY_TAG in acc.Tags()["tensors"]:
            proto = acc.Tensors(metadata.CONFIG_SUMMARY_TAG)[0].tensor_proto
            layouts.append(layout_pb2.Layout.FromString(proto.string_val[0]))
    assert len(layouts) == 1, "the layout is written once"
    charts = {(c.title, chart.title): list(chart.multiline.tag) for c in layouts[0].category for chart in c.chart}
    scalars = set(_scalars(all_tasks_run))

    def shown(tags):  # the scalar tags a chart's regular expressions select
        return {s for s in scalars if any(re.search(t, s) for t in tags)}

    for task in registry.names():
        assert shown(charts["tasks", task]) == {f"train/{task}/total", f"val/{task}/loss"}, task
    assert shown(charts["sampler", "shares"]) == {f"sampler/{task}/share" for task in registry.names()}
    assert len(charts) == len(registry.names()) + 1


def test_the_fit_writes_image_grids_and_answer_samples(all_tasks_run):
    tags = {"images": set(), "tensors": set()}
    for events in all_tasks_run.glob("version_*/events.out.tfevents.*"):
        acc = EventAccumulator(str(events), size_guidance={"images": 0, "tensors": 0})
        acc.Reload()
        for kind in tags:
            tags[kind] |= set(acc.Tags()[kind])
    assert {"images/arrow", "images/control"} <= tags["images"]
    assert {"answers/side_qa/text_summary", "answers/turn_qa/text_summary"} <= tags["tensors"]


def test_evaluate_a_subset_of_a_run_with_sampler_weights(all_tasks_run, tmp_path):
    """A run whose sampler has base weights over every task still evaluates one task (the weights
    name tasks the subset leaves out; evaluation samples no task)."""
    checkpoint = torch.load(all_tasks_run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    names = list(checkpoint["datamodule_hyper_parameters"]["tasks"])
    checkpoint["datamodule_hyper_parameters"].update(
        sampler="adaptive", sampler_options={"weights": {t: 1.0 + i for i, t in enumerate(names)}})
    torch.save(checkpoint, tmp_path / "weighted.ckpt")
    table = evaluate.evaluate(tmp_path / "weighted.ckpt", tasks=["side_qa"], batch_size=3, val_batches=1)
    assert set(table) == {"side_qa"} and 0 <= table["side_qa"]["exact_acc"] <= 1


def test_evaluate_prints_every_task_and_writes_prediction_grids(all_tasks_run, tmp_path, capsys):
    ckpt = all_tasks_run / "checkpoints" / "last.ckpt"
    assert evaluate.main(["--ckpt", str(ckpt), "--json", "--batch-size", "3", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    printed = json.loads(out[out.index("{"):])
    assert set(printed) == set(registry.names()) and "loss" in printed["language"]
    language = printed["language"]  # its perplexity, beside the unigram model's of the same pool
    assert language["perplexity"] > 1
    assert language["unigram_perplexity"] == pytest.approx(registry.get("language")().baselines()["unigram_perplexity"])
    assert "unigram_perplexity" not in printed["side_qa"]
    assert 0 < printed["side_qa"]["chance_exact_acc"] < 1 and "chance_exact_acc" not in printed["arrow"]
    table = evaluate.evaluate(ckpt, tasks=["side_qa", "arrow"], batch_size=3, out=tmp_path)
    assert set(table) == {"side_qa", "arrow"}
    assert 0 <= table["side_qa"]["exact_acc"] <= 1 and table["arrow"]["psnr"] > 0
    # Every arrow episode has one draw and one copy step: the per-kind MSEs average to the task's.
    arrow = table["arrow"]
    assert (arrow["draw_line_to_gold/mse"] + arrow["copy_scene/mse"]) / 2 == pytest.approx(arrow["mse"], rel=1e-5)
    assert arrow["draw_line_to_gold/mse"] != arrow["copy_scene/mse"]
    rows = evaluate.format_table(table).splitlines()
    draw = next(r for r in rows if r.split()[0] == "draw_line_to_gold")
    assert float(draw.split()[1]) == pytest.approx(arrow["draw_line_to_gold/mse"], abs=1e-4)
    assert (tmp_path / "arrow.png").is_file() and (tmp_path / "control.png").is_file()
    assert not (tmp_path / "side_qa.png").exists()  # no image target, no grid


def test_evaluate_resolves_best_and_best_of_a_task_through_the_manifest(all_tasks_run, tmp_path, capsys):
    manifest = json.loads((all_tasks_run / "checkpoints" / "best.json").read_text())
    for spec, entry in (("best", manifest["overall"]), ("best:side_qa", manifest["tasks"]["side_qa"])):
        assert evaluate.main(["--ckpt", spec, "--run", str(all_tasks_run), "--json", "--tasks", "side_qa",
                              "--batch-size", "3", "--val-batches", "1", "--out", str(tmp_path)]) == 0
        assert (all_tasks_run / "checkpoints" / entry["file"]).is_file()
        assert "side_qa" in json.loads(capsys.readouterr().out)
    assert evaluate.main(["--ckpt", "best:nope", "--run", str(all_tasks_run), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "nope" in err and "\n" not in err


def test_evaluate_rejects_missing_and_corrupt_checkpoints(tmp_path, capsys):
    assert evaluate.main(["--ckpt", str(tmp_path / "nothing.ckpt")]) == 2
    assert capsys.readouterr().err.strip() == f"error: --ckpt {tmp_path / 'nothing.ckpt'}: no such file"
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(b"\x00not a checkpoint")
    assert evaluate.main(["--ckpt", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: --ckpt {bad}: not a readable Penguin checkpoint") and "\n" not in err


def test_evaluate_names_the_weights_a_checkpoint_of_another_brain_lacks(all_tasks_run, tmp_path, capsys):
    checkpoint = torch.load(all_tasks_run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    del checkpoint["state_dict"]["brain.kind_head.weight"]  # as written before the head existed
    old = tmp_path / "old.ckpt"
    torch.save(checkpoint, old)
    assert evaluate.main(["--ckpt", str(old)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: --ckpt {old}: its weights are for a brain of another shape") and "\n" not in err
    assert '"brain.kind_head.weight"' in err


def _parameters(ckpt: Path) -> dict[str, torch.Tensor]:
    return torch.load(ckpt, map_location="cpu", weights_only=False)["state_dict"]


def _assert_same(a, b, where):
    """Equal to the bit, through nested dicts, lists and tensors (NaN equal to NaN)."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and torch.allclose(a, b, rtol=0, atol=0, equal_nan=True), where
    elif isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), where
        for k in a:
            _assert_same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same(x, y, f"{where}[{i}]")
    else:
        assert a == b or (a != a and b != b), where


def _without_paths(state, run):
    """`state` with the run's folder name replaced in every string, however deep."""
    if isinstance(state, str):
        return state.replace(f"/{run}/", "/RUN/")
    if isinstance(state, dict):
        return {k: _without_paths(v, run) for k, v in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(_without_paths(v, run) for v in state)
    return state


CARRY = ["--memory.hard_reset", "every_n_steps", "--memory.every_n_steps", "5"]


WARM_START = ["--model.init_from", "{earlier}"]  # the average holds its decay from the first step


@pytest.mark.parametrize("extra", [[], CARRY, ["--model.ema_decay", "null"], WARM_START],
                         ids=["fresh-state", "carried-state", "no-average", "warm-start"])
def test_resume_continues_exactly(tmp_path, extra):
    memory = extra == CARRY
    if extra == WARM_START:
        torch.manual_seed(7)
        torch.save(Brain.from_preset("tiny64").state_dict(), tmp_path / "earlier.pt")
        extra = [arg.format(earlier=tmp_path / "earlier.pt") for arg in extra]
    common = ["--data.tasks", "[side_qa, arrow, near_gold_qa]", "--data.sampler", "adaptive",
              "--data.sampler_options", "{tolerance: 0.0, patience: 1, epsilon: 0.0}",
              "--model.weighting", "loss_ratio", "--trainer.val_check_interval", "6", *extra]
    assert _fit(tmp_path, "--name", "straight", *common, "--trainer.max_steps", "18") == 0
    # Stopped at step 8, between the validations at 6 and 12: last.ckpt must still be at step 8.
    assert _fit(tmp_path, "--name", "resumed", *common, "--trainer.max_steps", "8") == 0
    stopped = torch.load(tmp_path / "resumed/checkpoints/last.ckpt", map_location="cpu", weights_only=False)
    assert stopped["global_step"] == 8 and stopped["TaskMixture"]["consumed"] == 8
    carried = next(v for k, v in stopped["callbacks"].items() if k.startswith("MemoryReset"))["state"]
    assert (carried is not None) == memory  # step 8 starts from step 7's state when carrying
    assert _fit(tmp_path, "--name", "resumed", *common, "--trainer.max_steps", "18", "--ckpt_path", "last") == 0
    a = torch.load(tmp_path / "straight/checkpoints/last.ckpt", map_location="cpu", weights_only=False)
    b = torch.load(tmp_path / "resumed/checkpoints/last.ckpt", map_location="cpu", weights_only=False)
    assert a["global_step"] == b["global_step"] == 18
    assert any(k.startswith("averaged.brain.") for k in a["state_dict"]) == ("--model.ema_decay" not in extra)
    for name, value in a["state_dict"].items():  # bit-exact (unused loss-ratio slots hold NaN on both)
        if isinstance(value, torch.Tensor):
            assert torch.allclose(value, b["state_dict"][name], rtol=0, atol=0, equal_nan=True), name
        else:  # a module's extra state
            assert value == b["state_dict"][name], name
    assert a["TaskMixture"] == b["TaskMixture"] and a["TaskMixture"]["consumed"] == 18
    _assert_same(a["optimizer_states"], b["optimizer_states"], "optimizer")
    # The callbacks' own state: the carried memory, the throttle, the best-checkpoint selection.
    for key in ("MemoryReset", "TemperatureThrottle", "LastCheckpoint"):
        ka = next(k for k in a["callbacks"] if k.startswith(key))
        kb = next(k for k in b["callbacks"] if k.startswith(key))
        state_a, state_b = dict(a["callbacks"][ka]), dict(b["callbacks"][kb])
        if key == "LastCheckpoint":  # paths name each run's own folder
            state_a, state_b = (_without_paths(s, r) for s, r in ((state_a, "straight"), (state_b, "resumed")))
        _assert_same(state_a, state_b, key)
    # Step by step, the resumed run trained the same losses as the uninterrupted one.
    la, lb = dict(_scalars(tmp_path / "straight")["train/loss"]), dict(_scalars(tmp_path / "resumed")["train/loss"])
    assert sorted(la) == sorted(lb) == list(range(18))
    assert all(la[s] == lb[s] for s in range(18))


@pytest.mark.parametrize("args, message", [
    (["--data.tasks", "[side_qa, nope]"], "error: data.tasks: unknown task 'nope'; valid tasks:"),
    (["--data.image_size", "16"], "error: data.image_size: 16 is below 32"),
    (["--data.image_size", "96"], "error: data.image_size=96 does not match model.preset tiny64"),
    (["--data.task_options", "{side_qa: {kinds: [sideways]}}", "--data.tasks", "[side_qa]"],
     "error: data.task_options.side_qa: side_qa.kinds:"),
    (["--data.sampler", "clever"], "error: unknown task sampler 'clever'; valid:"),
    (["--model.weighting", "magic"], "error: "),
    (["--model.preset", "huge"], "error: model.preset/model.brain:"),
    (["--model.brain", "{question_kinds: 8}"], "error: the tasks ask more than 8 question kinds"),
    (["--model.edit_weight", "-1"], "error: model.edit_weight: expected a non-negative number, got -1"),
    (["--model.ema_decay", "1"], "error: model.ema_decay: expected a number in (0, 1) such as 0.99"),
    (["--model.sample_every_n_validations", "0"],
     "error: model.sample_every_n_validations: expected a positive integer, got 0"),
    (["--ckpt_path", "nowhere.ckpt"], "error: --ckpt_path nowhere.ckpt: no such file"),
])
def test_config_errors_are_one_line(tmp_path, capsys, args, message):
    assert _fit(tmp_path, "--trainer.max_steps", "1", *args) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith(message), err


def test_help_names_the_command(capsys):
    with pytest.raises(SystemExit) as exit_:
        fit.main(["--help"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.startswith("usage: python -m penguin.fit ")


def test_malformed_config_file_is_an_error(tmp_path, capsys):
    config = tmp_path / "bad.yaml"
    config.write_text("model: [this is: not a mapping\n")
    with pytest.raises(SystemExit) as exit_:
        _fit(tmp_path, "--config", str(config))
    assert exit_.value.code != 0
    assert "error" in capsys.readouterr().err.lower()
