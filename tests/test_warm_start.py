"""Warm start (`--model.init_from`): a new run takes an earlier checkpoint's brain weights — all or
some components — with a fresh optimizer, schedule and sampler over its own task list."""
import pytest
import torch

from lit_modules.warm_start import load_brain_weights
from penguin.brain import Brain
from penguin.fit import main

BASE = ["--data.batch_size", "4", "--data.val_batches", "1", "--trainer.enable_progress_bar", "false",
        "--trainer.enable_model_summary", "false", "--trainer.val_check_interval", "2"]


@pytest.fixture(scope="module")
def earlier(tmp_path_factory):
    """A 2-step run on near_gold_qa and arrow without an average (the checkpoints of runs before
    `model.ema_decay`, and of runs that turn it off): its last.ckpt."""
    root = tmp_path_factory.mktemp("earlier")
    assert main([*BASE, "--name", "a", "--data.tasks", "[near_gold_qa, arrow]", "--trainer.max_steps", "2",
                 "--model.ema_decay", "null", "--trainer.default_root_dir", str(root)]) == 0
    return root / "a" / "checkpoints" / "last.ckpt"


def _brain_weights(path):
    state = torch.load(path, map_location="cpu", weights_only=False)["state_dict"]
    return {k[len("brain."):]: v for k, v in state.items() if k.startswith("brain.") and isinstance(v, torch.Tensor)}


def test_all_weights_load_and_the_kind_classes_keep_their_names(earlier):
    torch.manual_seed(1)
    brain = Brain.from_preset("tiny64")
    brain.kind_vocabulary.add(["gold_left_right"])
    report = load_brain_weights(brain, earlier)
    assert report.startswith(f"warm start from {earlier}: ") and "missing (kept fresh): none" in report
    for name, value in _brain_weights(earlier).items():
        assert torch.equal(brain.state_dict()[name], value), name
    names = brain.kind_vocabulary.names
    assert names[:3] == ["near_gold", "draw_line_to_gold", "copy_scene"] and names[3] == "gold_left_right"


def test_a_warm_start_from_a_run_with_an_average_takes_the_average(tmp_path):
    """The averaged weights are what the earlier run validated and chose its best checkpoints by."""
    assert main([*BASE, "--name", "a", "--data.tasks", "[near_gold_qa, arrow]", "--trainer.max_steps", "3",
                 "--trainer.default_root_dir", str(tmp_path)]) == 0  # the default keeps an average
    path = tmp_path / "a" / "checkpoints" / "last.ckpt"
    state = torch.load(path, map_location="cpu", weights_only=False)["state_dict"]
    averaged = {k[len("averaged.brain."):]: v for k, v in state.items()
                if k.startswith("averaged.brain.") and isinstance(v, torch.Tensor)}
    trained = _brain_weights(path)
    assert set(averaged) == set(trained) and any(not torch.equal(averaged[k], trained[k]) for k in trained)
    torch.manual_seed(1)
    brain = Brain.from_preset("tiny64")
    report = load_brain_weights(brain, path)
    assert report.startswith(f"warm start from {path}: {len(trained) + 1} averaged weights; "  # + the kind names
                             "missing (kept fresh): none")
    assert "unexpected (ignored): none" in report
    for name, value in averaged.items():
        assert torch.equal(brain.state_dict()[name], value), name


def test_some_components_load_and_the_rest_stay_fresh(earlier):
    torch.manual_seed(1)
    brain = Brain.from_preset("tiny64")
    fresh = {k: v.clone() for k, v in brain.state_dict().items() if isinstance(v, torch.Tensor)}
    brain.kind_vocabulary.add(["gold_left_right"])
    report = load_brain_weights(brain, earlier, ["image_encoder"])
    saved = _brain_weights(earlier)
    for name, value in brain.state_dict().items():
        if not isinstance(value, torch.Tensor):
            continue
        expected = saved[name] if name.startswith("image_encoder.") else fresh[name]
        assert torch.equal(value, expected), name
    assert brain.kind_vocabulary.names == ["gold_left_right"]  # the run's own kind classes stay
    assert "of image_encoder" in report


def test_bad_warm_starts_are_one_line_errors(earlier, tmp_path):
    with pytest.raises(ValueError, match="model.init_from: no checkpoint at"):
        load_brain_weights(Brain.from_preset("tiny64"), tmp_path / "nope.ckpt")
    with pytest.raises(ValueError, match="model.init_components: \\['eyes'\\] are not brain components; valid: "):
        load_brain_weights(Brain.from_preset("tiny64"), earlier, ["eyes"])
    with pytest.raises(ValueError, match="holds weights of another shape \\(.*choose a checkpoint of the same preset"):
        load_brain_weights(Brain.from_preset("tiny64", width=64), earlier)
    (tmp_path / "junk.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="junk.ckpt is not a readable checkpoint"):
        load_brain_weights(Brain.from_preset("tiny64"), tmp_path / "junk.ckpt")


def test_a_fit_warm_starts_on_a_new_task_list_with_a_fresh_optimizer(earlier, tmp_path, capsys):
    args = [*BASE, "--name", "b", "--data.tasks", "[side_qa, near_gold_qa]", "--trainer.max_steps", "2",
            "--trainer.default_root_dir", str(tmp_path), "--model.init_from", str(earlier)]
    assert main(args) == 0
    assert f"warm start from {earlier}" in capsys.readouterr().out
    new = torch.load(tmp_path / "b" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    old = torch.load(earlier, map_location="cpu", weights_only=False)
    assert new["global_step"] == 2 and new["TaskMixture"]["consumed"] == 2  # counted from zero
    assert set(new["TaskMixture"]["sampler"]["tracks"]) == {"side_qa", "near_gold_qa"}
    names = new["state_dict"]["brain.kind_vocabulary._extra_state"]["names"]
    assert names[:3] == old["state_dict"]["brain.kind_vocabulary._extra_state"]["names"]
    assert main([*args[:-2], "--name", "c", "--model.init_from", str(tmp_path / "missing.ckpt")]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("error: model.init_from: no checkpoint at")


def test_a_warm_start_takes_a_runs_best_through_its_manifest(earlier):
    import json

    run = earlier.parent.parent
    manifest = json.loads((earlier.parent / "best.json").read_text())
    brain = Brain.from_preset("tiny64")
    report = load_brain_weights(brain, f"{run}:best:arrow")
    assert report.startswith(f"warm start from {earlier.parent / manifest['tasks']['arrow']['file']}: ")
    assert load_brain_weights(Brain.from_preset("tiny64"), f"{run}:best").startswith(
        f"warm start from {earlier.parent / manifest['overall']['file']}: ")
    with pytest.raises(ValueError, match=f"model.init_from {run}:best:nope: .*nope"):
        load_brain_weights(Brain.from_preset("tiny64"), f"{run}:best:nope")


def test_a_warm_start_validates_its_starting_weights_first_and_the_sampler_takes_that_level(earlier, tmp_path):
    """The task sampler's reference is the warm start's own level: a full validation before the
    first step feeds it, so a task the first steps break counts as regressed from there."""
    args = [*BASE, "--name", "w", "--data.tasks", "[near_gold_qa, arrow]", "--data.val_batches", "2",
            "--trainer.max_steps", "2", "--trainer.val_check_interval", "1000", "--data.sampler", "adaptive",
            "--trainer.default_root_dir", str(tmp_path), "--model.init_from", str(earlier)]
    assert main(args) == 0
    new = torch.load(tmp_path / "w" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    tracks = new["TaskMixture"]["sampler"]["tracks"]
    # No validation ran during the 2 steps: the tracks hold the starting weights' losses.
    from lit_modules.brain_module import BrainModule

    module = BrainModule(preset="tiny64", tasks=["near_gold_qa", "arrow"])
    module.brain.load_state_dict({k[len("brain."):]: v for k, v in torch.load(earlier, map_location="cpu",
                                  weights_only=False)["state_dict"].items() if k.startswith("brain.")})
    from datamodules.mixture import TaskMixture

    data = TaskMixture(tasks=["near_gold_qa", "arrow"], batch_size=4, val_batches=2)
    for task in ("near_gold_qa", "arrow"):
        losses = []
        for v in range(2):
            episode = data.tasks[task].val_batch(v).render(64)
            with torch.no_grad():
                result = module.run(episode)
            losses.append(float(sum(module.weighted_terms(episode, result).values())))
        assert tracks[task]["best"] == pytest.approx(sum(losses) / 2, rel=1e-4), task
