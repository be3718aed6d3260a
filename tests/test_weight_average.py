"""`model.ema_decay`: the average of the brain's weights (`lit_modules/weight_average.py`) follows
every optimizer step by its decay (ramped up, except on a whole-brain warm start), is what
validation and evaluation run, and survives a checkpoint that was written without it."""
import lightning as L
import pytest
import torch

from datamodules.mixture import TaskMixture
from lit_modules.brain_module import BrainModule
from lit_modules.weight_average import step_decay
from penguin.brain import Brain

TASKS = ["near_gold_qa", "arrow"]


def _trainer(steps: int, **kwargs) -> L.Trainer:
    return L.Trainer(accelerator="cpu", max_steps=steps, logger=False, enable_checkpointing=False,
                     enable_progress_bar=False, enable_model_summary=False, **kwargs)


def _weights(brain: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in brain.named_parameters()}


def test_the_decay_warms_up_then_holds():
    assert step_decay(0.99, 0, ramp=False) == step_decay(0.99, 7, ramp=False) == 0.99
    assert step_decay(0.99, 0) == pytest.approx(0.1)
    assert step_decay(0.99, 10) == pytest.approx(11 / 20)
    assert step_decay(0.99, 10_000) == 0.99
    assert step_decay(0.5, 3) == pytest.approx(4 / 13) and step_decay(0.5, 20) == 0.5


@pytest.mark.parametrize("decay", [0, 1, 1.5, -0.1, True, "0.9"])
def test_a_decay_outside_zero_to_one_is_a_one_line_error(decay):
    with pytest.raises(ValueError, match=r"^model.ema_decay: expected a number in \(0, 1\)") as error:
        BrainModule(preset="tiny64", tasks=TASKS, ema_decay=decay)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("start", ["fresh", "whole_warm_start", "some_components"])
def test_the_average_follows_each_step_by_its_decay(start, tmp_path):
    """Recomputed by hand from the trained weights after each step: the decay ramps up from random
    weights (a fresh run, or a warm start of some components), and holds from the first step on a
    warm start of the whole brain."""
    decay = 0.8
    warm = {}
    if start != "fresh":
        torch.manual_seed(7)
        torch.save(Brain.from_preset("tiny64").state_dict(), tmp_path / "earlier.pt")
        warm = {"init_from": str(tmp_path / "earlier.pt"),
                "init_components": ["image_encoder"] if start == "some_components" else None}
    torch.manual_seed(0)
    module = BrainModule(preset="tiny64", tasks=TASKS, warmup_steps=1, ema_decay=decay, **warm)
    data = TaskMixture(tasks=TASKS, batch_size=4, sampler="round_robin")
    trained = []

    class Snapshot(L.Callback):
        def on_train_start(self, trainer, pl_module):  # after a warm start has loaded its weights
            trained.append(_weights(pl_module.brain))

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            trained.append(_weights(pl_module.brain))

    trainer = _trainer(6, limit_val_batches=0, callbacks=[Snapshot()])
    trainer.fit(module, data)
    if start != "fresh":  # the run, and its average, start from the loaded weights
        loaded = torch.load(tmp_path / "earlier.pt")
        taken = [k for k in trained[0] if start == "whole_warm_start" or k.startswith("image_encoder.")]
        assert taken and all(torch.equal(trained[0][k], loaded[k]) for k in taken)
    ramp = start != "whole_warm_start"
    expected = dict(trained[0])
    for t, weights in enumerate(trained[1:]):
        d = min(decay, (1 + t) / (10 + t)) if ramp else decay
        expected = {k: d * expected[k] + (1 - d) * weights[k] for k in expected}
    averaged = _weights(module.averaged.brain)
    assert set(averaged) == set(expected)
    for k in expected:
        torch.testing.assert_close(averaged[k], expected[k], rtol=1e-5, atol=1e-6, msg=k)
    moved = [k for k in expected if not torch.equal(trained[-1][k], trained[0][k])]
    assert moved and any(not torch.equal(averaged[k], trained[-1][k]) for k in moved)  # not the trained brain
    assert not any(p.requires_grad for p in module.averaged.parameters())


def test_validation_runs_the_average_and_training_the_trained_brain():
    """The validation losses are those of a plain module holding the averaged weights."""
    torch.manual_seed(0)
    module = BrainModule(preset="tiny64", tasks=TASKS, ema_decay=0.9)
    torch.manual_seed(1)
    other = BrainModule(preset="tiny64", tasks=TASKS, ema_decay=None).brain
    module.averaged.brain.load_state_dict(other.state_dict())  # an average far from the trained brain

    def validate(m):
        data = TaskMixture(tasks=TASKS, batch_size=4, val_batches=1)
        _trainer(1).validate(m, datamodule=data, verbose=False)
        return dict(m.last_val_losses)

    torch.manual_seed(2)
    plain_average = BrainModule(preset="tiny64", tasks=TASKS, ema_decay=None)
    plain_average.brain.load_state_dict(other.state_dict())
    plain_trained = BrainModule(preset="tiny64", tasks=TASKS, ema_decay=None)
    plain_trained.brain.load_state_dict(module.brain.state_dict())
    got, want, trained = validate(module), validate(plain_average), validate(plain_trained)
    assert got == pytest.approx(want, rel=1e-6) and got != pytest.approx(trained, rel=1e-3)
    data = TaskMixture(tasks=TASKS, batch_size=4, val_batches=1)
    data.setup("fit")
    episode = data.tasks["arrow"].val_batch(0).render(64)
    module.train()
    with torch.no_grad():
        in_training = module.run(episode).terms["image"]
        by_trained = plain_trained.run(episode).terms["image"]
    assert torch.equal(in_training, by_trained)


def test_a_checkpoint_without_an_average_resumes_with_one_from_its_trained_weights():
    torch.manual_seed(0)
    old = BrainModule(preset="tiny64", tasks=TASKS, ema_decay=None)
    checkpoint = {"state_dict": dict(old.state_dict())}
    assert not any(k.startswith("averaged.") for k in checkpoint["state_dict"])
    torch.manual_seed(1)
    module = BrainModule(preset="tiny64", tasks=TASKS)  # the default keeps an average
    module.on_load_checkpoint(checkpoint)
    module.load_state_dict(checkpoint["state_dict"])  # strict: every averaged weight is there
    for name, value in old.brain.named_parameters():
        assert torch.equal(dict(module.averaged.brain.named_parameters())[name], value), name


def test_a_checkpoint_from_before_the_average_evaluates_on_its_trained_weights(tmp_path):
    """An old checkpoint (no `ema_decay` hyperparameter, no average) loads with today's default
    average, started from its weights, so `penguin.evaluate` scores exactly what it scored before."""
    from penguin import evaluate, fit

    assert fit.main(["--data.tasks", "[near_gold_qa, arrow]", "--data.batch_size", "4", "--data.val_batches", "1",
                     "--trainer.max_steps", "2", "--trainer.enable_progress_bar", "false",
                     "--trainer.enable_model_summary", "false", "--model.ema_decay", "null",
                     "--trainer.default_root_dir", str(tmp_path), "--name", "old"]) == 0
    path = tmp_path / "old" / "checkpoints" / "last.ckpt"
    checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    del checkpoint["hyper_parameters"]["ema_decay"]
    assert not any(k.startswith("averaged.") for k in checkpoint["state_dict"])
    older = tmp_path / "older.ckpt"
    torch.save(checkpoint, older)
    assert evaluate.load_checkpoint(older, "cpu")[0].averaged is not None
    assert evaluate.evaluate(older) == evaluate.evaluate(path)


def test_evaluate_scores_the_average_by_default_and_the_trained_brain_when_asked(tmp_path, capsys):
    from penguin import evaluate, fit

    base = ["--data.tasks", "[near_gold_qa, arrow]", "--data.batch_size", "4", "--data.val_batches", "1",
            "--trainer.max_steps", "3", "--trainer.enable_progress_bar", "false",
            "--trainer.enable_model_summary", "false", "--trainer.default_root_dir", str(tmp_path)]
    assert fit.main([*base, "--name", "kept"]) == 0
    assert fit.main([*base, "--name", "none", "--model.ema_decay", "null"]) == 0
    capsys.readouterr()
    kept = tmp_path / "kept" / "checkpoints" / "last.ckpt"
    # The trained weights alone, as a checkpoint of a run that kept no average.
    checkpoint = torch.load(kept, map_location="cpu", weights_only=False)
    checkpoint["hyper_parameters"]["ema_decay"] = None
    checkpoint["state_dict"] = {k: v for k, v in checkpoint["state_dict"].items() if not k.startswith("averaged.")}
    trained_only = tmp_path / "trained_only.ckpt"
    torch.save(checkpoint, trained_only)
    averaged, trained = evaluate.evaluate(kept), evaluate.evaluate(kept, weights="trained")
    assert trained == evaluate.evaluate(trained_only) and averaged != trained
    assert averaged == evaluate.evaluate(kept, weights="averaged")
    none = tmp_path / "none" / "checkpoints" / "last.ckpt"
    capsys.readouterr()
    assert evaluate.main(["--ckpt", str(none), "--weights", "averaged", "--out", str(tmp_path / "e")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --weights averaged: ") and "--weights trained" in err and err.count("\n") == 1
