"""`BrainModule` under a Lightning Trainer: non-finite losses skip the step on every rank (the
weights stay exactly as they were) and stop training after `max_nonfinite` in a row; the
optimizer's parameter groups follow `lr_multipliers` and the schedule warms up, then decays; a
checkpoint written at the end of a validation holds the task sampler after its feedback."""
import math

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from callbacks.sampler_feedback import SamplerFeedback
from datamodules.mixture import TaskMixture
from lit_modules import terms
from lit_modules.brain_module import BrainModule, NonFiniteTraining
from lit_modules.optimization import warmup_cosine

TASKS = ["near_gold_qa", "arrow"]


def _trainer(steps: int) -> L.Trainer:
    return L.Trainer(accelerator="cpu", max_steps=steps, logger=False, enable_checkpointing=False,
                     enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0)


def _poison(monkeypatch, bad_steps: set[int]) -> list[int]:
    """Make the loss NaN at the given training steps (counted by calls to run_episode)."""
    real, calls = terms.run_episode, []

    def run(*args, **kwargs):
        result = real(*args, **kwargs)
        calls.append(len(calls))
        if calls[-1] in bad_steps:
            result.terms = {k: v * float("nan") for k, v in result.terms.items()}
        return result

    monkeypatch.setattr("lit_modules.brain_module.run_episode", run)
    return calls


def test_a_nan_step_leaves_the_weights_untouched_and_training_goes_on(monkeypatch):
    torch.manual_seed(0)
    module = BrainModule(preset="tiny64", tasks=TASKS, warmup_steps=1)
    data = TaskMixture(tasks=TASKS, batch_size=4, sampler="round_robin")
    snapshots = []

    class Snapshot(L.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            snapshots.append({k: v.detach().clone() for k, v in pl_module.brain.state_dict().items()
                              if isinstance(v, torch.Tensor)})

    _poison(monkeypatch, {2})
    trainer = _trainer(5)
    trainer.callbacks.append(Snapshot())
    trainer.fit(module, data)
    assert trainer.global_step == 5
    same = all(torch.equal(snapshots[1][k], snapshots[2][k]) for k in snapshots[1])
    assert same, "the NaN step changed the weights"
    assert any(not torch.equal(snapshots[2][k], snapshots[3][k]) for k in snapshots[2]), "training stopped"
    assert all(torch.isfinite(v).all() for v in snapshots[-1].values() if v.is_floating_point())


def test_too_many_nan_steps_in_a_row_stop_with_a_clear_message(monkeypatch):
    module = BrainModule(preset="tiny64", tasks=TASKS, max_nonfinite=3)
    data = TaskMixture(tasks=TASKS, batch_size=4, sampler="round_robin")
    _poison(monkeypatch, {1, 2, 3})
    with pytest.raises(NonFiniteTraining, match="the loss or a gradient was not finite for 3 steps in a row"):
        _trainer(10).fit(module, data)


class InfiniteGradient(torch.autograd.Function):
    """Identity forward, infinite backward: a finite loss whose gradient overflowed (as bf16 can)."""

    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, grad):
        return grad * float("inf")


def test_a_finite_loss_with_an_infinite_gradient_is_skipped_like_a_nan_loss(monkeypatch):
    torch.manual_seed(0)
    module = BrainModule(preset="tiny64", tasks=TASKS, warmup_steps=1)
    data = TaskMixture(tasks=TASKS, batch_size=4, sampler="round_robin")
    real, calls, before, after = terms.run_episode, [], [], []

    def run(*args, **kwargs):
        result = real(*args, **kwargs)
        calls.append(len(calls))
        if calls[-1] == 1:
            result.terms = {k: InfiniteGradient.apply(v) for k, v in result.terms.items()}
        return result

    class Snapshot(L.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            before.append([p.detach().clone() for p in pl_module.brain.parameters()])

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            after.append([p.detach().clone() for p in pl_module.brain.parameters()])

    monkeypatch.setattr("lit_modules.brain_module.run_episode", run)
    trainer = _trainer(3)
    trainer.callbacks.append(Snapshot())
    trainer.fit(module, data)
    assert all(torch.equal(a, b) for a, b in zip(before[1], after[1])), "the overflowing step changed the weights"
    assert any(not torch.equal(a, b) for a, b in zip(before[2], after[2])), "the next step did not train"
    assert all(torch.isfinite(p).all() for p in module.brain.parameters())


def test_the_fit_command_stops_on_repeated_nonfinite_steps_with_exit_code_3_and_one_line(monkeypatch, tmp_path,
                                                                                         capsys):
    from penguin.fit import EXIT_NONFINITE, main

    _poison(monkeypatch, set(range(100)))
    code = main(["--data.tasks", "[near_gold_qa]", "--data.batch_size", "4", "--data.val_batches", "1",
                 "--trainer.max_steps", "10", "--model.max_nonfinite", "2", "--trainer.enable_progress_bar", "false",
                 "--trainer.default_root_dir", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == EXIT_NONFINITE == 3
    assert err[-1].startswith("error: the loss or a gradient was not finite for 2 steps in a row")
    assert "Traceback" not in "\n".join(err)


def test_parameter_groups_follow_lr_multipliers_and_decay_rules():
    module = BrainModule(preset="tiny64", tasks=TASKS, lr=1e-3, lr_multipliers={"text_decoder": 0.5},
                         weighting="uncertainty")
    config = module.configure_optimizers()
    groups = config["optimizer"].param_groups
    text_decoder = {id(p) for p in module.brain.text_decoder.parameters()}
    for group in groups:
        ids = {id(p) for p in group["params"]}
        if ids & text_decoder:
            assert ids <= text_decoder and math.isclose(group["initial_lr"], 5e-4)
        else:
            assert math.isclose(group["initial_lr"], 1e-3)
        if group["weight_decay"] > 0:
            assert all(p.ndim >= 2 for p in group["params"])
    weighting = {id(p) for p in module.weighting.parameters()}
    assert weighting and any(weighting <= {id(p) for p in g["params"]} and g["weight_decay"] == 0 for g in groups)
    with pytest.raises(ValueError, match="model.lr_multipliers: \\['decoder'\\] are not brain components"):
        BrainModule(preset="tiny64", tasks=TASKS, lr_multipliers={"decoder": 2.0}).configure_optimizers()


def test_the_schedule_warms_up_linearly_then_follows_a_cosine_to_the_floor():
    schedule = warmup_cosine(warmup_steps=4, total_steps=14, min_lr_ratio=0.1)
    assert [schedule(s) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert schedule(4) == 1.0 and schedule(9) == pytest.approx(0.55) and schedule(14) == pytest.approx(0.1)
    assert schedule(100) == pytest.approx(0.1)


def test_a_checkpoint_at_validation_end_holds_the_sampler_after_its_feedback(tmp_path):
    module = BrainModule(preset="tiny64", tasks=TASKS, warmup_steps=1)
    data = TaskMixture(tasks=TASKS, batch_size=2, val_batches=1, sampler="adaptive")
    # Listed before SamplerFeedback: Lightning still runs checkpoint callbacks last.
    checkpoint = ModelCheckpoint(dirpath=tmp_path, filename="step{step}", auto_insert_metric_name=False,
                                 save_top_k=-1)
    trainer = L.Trainer(accelerator="cpu", max_steps=2, val_check_interval=2, check_val_every_n_epoch=None,
                        logger=False, enable_progress_bar=False, enable_model_summary=False,
                        num_sanity_val_steps=0, callbacks=[checkpoint, SamplerFeedback()])
    trainer.fit(module, data)
    assert set(module.last_val_losses) == set(TASKS)
    saved = torch.load(tmp_path / "step2.ckpt", map_location="cpu", weights_only=False)["TaskMixture"]
    assert saved["previous"] is not None, "the checkpoint was written before the sampler's update"
    assert saved == data.state_dict()


@pytest.mark.parametrize("signal", ["loss", "error"])
def test_the_sampler_is_fed_the_signal_it_watches(signal):
    tasks = ["near_gold_qa", "arrow", "control"]  # a question, an image edit, and a task with neither score
    module = BrainModule(preset="tiny64", tasks=tasks, warmup_steps=1)
    data = TaskMixture(tasks=tasks, batch_size=2, val_batches=1, sampler="adaptive",
                       sampler_options={"signal": signal})
    trainer = L.Trainer(accelerator="cpu", max_steps=2, val_check_interval=2, check_val_every_n_epoch=None,
                        logger=False, enable_progress_bar=False, enable_model_summary=False,
                        num_sanity_val_steps=0, enable_checkpointing=False, callbacks=[SamplerFeedback()])
    trainer.fit(module, data)
    assert set(module.last_val_errors) == {"near_gold_qa", "arrow"}  # control has no exact_acc or edit_ratio
    watched = module.last_val_losses if signal == "loss" else {**module.last_val_losses, **module.last_val_errors}
    assert watched != module.last_val_losses or signal == "loss"
    for task in tasks:  # one validation: each fast average is the value it was fed
        assert data.sampler.tracks[task].fast == pytest.approx(watched[task]), task


def _first_update(lr_scale: float) -> tuple[dict[str, torch.Tensor], list[float]]:
    """The weight change of one AdamW step on `near_gold_qa` at `lr_scale`, and the groups' lr after it."""
    torch.manual_seed(0)
    module = BrainModule(preset="tiny64", tasks=["near_gold_qa"], warmup_steps=1, lr=1e-3)
    data = TaskMixture(tasks=["near_gold_qa"], batch_size=4, task_options={"near_gold_qa": {"lr_scale": lr_scale}})
    before = {k: v.detach().clone() for k, v in module.brain.state_dict().items()
              if isinstance(v, torch.Tensor) and v.is_floating_point()}
    lrs = []

    class Lrs(L.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            lrs.extend(group["lr"] for group in trainer.optimizers[0].param_groups)

    trainer = _trainer(1)
    trainer.callbacks.append(Lrs())
    trainer.fit(module, data)
    after = module.brain.state_dict()
    return {k: after[k] - v for k, v in before.items()}, lrs


def test_a_tasks_lr_scale_scales_its_steps_and_leaves_the_schedule_alone():
    full, full_lrs = _first_update(1.0)
    half, half_lrs = _first_update(0.5)
    moved = [k for k, d in full.items() if d.abs().max() > 0]
    assert len(moved) > 10
    for k in moved:  # AdamW's first update (decay included) is linear in the learning rate
        torch.testing.assert_close(half[k], 0.5 * full[k], rtol=1e-3, atol=1e-7)
    assert half_lrs == full_lrs  # the scale held for the step only: the groups are back on schedule
    with pytest.raises(ValueError, match="near_gold_qa.lr_scale: expected a finite number >= 0"):
        TaskMixture(tasks=["near_gold_qa"], task_options={"near_gold_qa": {"lr_scale": -1}})


def test_a_checkpoint_from_before_a_loss_term_existed_resumes_with_that_terms_weighting_at_init():
    module = BrainModule(preset="tiny64", tasks=["near_gold_qa"], weighting="uncertainty")
    with torch.no_grad():
        for p in module.weighting.parameters():
            p.fill_(0.7)
    state = {k: v.clone() if isinstance(v, torch.Tensor) else v for k, v in module.state_dict().items()}
    del state["weighting.log_vars.near_gold_qa__readout"]  # the term came later
    fresh = BrainModule(preset="tiny64", tasks=["near_gold_qa"], weighting="uncertainty")
    checkpoint = {"state_dict": state}
    fresh.on_load_checkpoint(checkpoint)
    fresh.load_state_dict(checkpoint["state_dict"])  # strict, as Lightning resumes
    assert float(fresh.weighting.log_vars["near_gold_qa__readout"]) == 0.0
    assert float(fresh.weighting.log_vars["near_gold_qa__answer"]) == pytest.approx(0.7)
