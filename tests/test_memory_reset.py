"""`MemoryReset`: the brain's state carried across training batches, soft-reset after every
optimizer step, hard-reset by policy, never touched by validation, and owned by the callback."""
import lightning as L
import pytest
import torch

from callbacks.memory_reset import MemoryReset
from datamodules.mixture import TaskMixture
from lit_modules.brain_module import BrainModule

TASKS = ["arrow", "near_gold_qa"]


class Recorder(L.Callback):
    """What every training batch started from and ended with, and the callback's state around validation."""

    def __init__(self, memory: MemoryReset) -> None:
        self.memory, self.started, self.ended, self.tasks, self.around_validation = memory, [], [], [], []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.started.append(pl_module.carried_state)
        self.tasks.append(batch.task)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.ended.append(self.memory.state)
        assert pl_module.last_state is None  # the callback took it

    def on_validation_start(self, trainer, pl_module):
        self.around_validation.append(self.memory.state)

    def on_validation_end(self, trainer, pl_module):
        self.around_validation.append(self.memory.state)


def _train(memory: MemoryReset, steps: int = 6, val_every: int | None = None):
    torch.manual_seed(0)
    module = BrainModule(preset="tiny64", tasks=TASKS, warmup_steps=1)
    data = TaskMixture(tasks=TASKS, batch_size=4, val_batches=1, sampler="uniform")
    recorder = Recorder(memory)
    # Lightning calls callbacks in list order, so the recorder sees what MemoryReset just set.
    trainer = L.Trainer(accelerator="cpu", max_steps=steps, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                        callbacks=[memory, recorder], val_check_interval=val_every or steps,
                        check_val_every_n_epoch=None, limit_val_batches=None if val_every else 0)
    trainer.fit(module, data)
    return module, recorder


def test_by_default_every_batch_starts_fresh_and_nothing_is_carried():
    memory = MemoryReset()
    module, rec = _train(memory, steps=3)
    assert rec.started == [None, None, None] and memory.state is None and not module.carry_state


def test_each_batch_starts_from_the_previous_batchs_detached_state_and_no_graph_survives():
    memory = MemoryReset("every_n_steps", every_n_steps=100)
    module, rec = _train(memory, steps=5)
    assert rec.started[0] is None
    for before, started in zip(rec.ended[:-1], rec.started[1:]):
        assert started is not None and started.memory is not None
        assert torch.equal(started.memory, before.memory)  # step t+1 starts from step t's state
        if before.canvases is not None:
            assert torch.equal(started.canvases, before.canvases)
    for state in rec.ended:  # the soft reset: values kept, graph cut after every optimizer step
        assert state.memory.grad_fn is None and not state.memory.requires_grad
        assert state.canvases is None or state.canvases.grad_fn is None
    assert memory.hard_resets == 1
    assert set(module.state_dict()) == set(BrainModule(preset="tiny64", tasks=TASKS).state_dict())  # not in the weights


def test_hard_resets_follow_their_schedule():
    memory = MemoryReset("every_n_steps", every_n_steps=3)
    _, rec = _train(memory, steps=7)
    assert [s is None for s in rec.started] == [True, False, False, True, False, False, True]
    memory = MemoryReset("task_change")
    _, rec = _train(memory, steps=8)
    fresh = [s is None for s in rec.started]
    changed = [True] + [a != b for a, b in zip(rec.tasks, rec.tasks[1:])]
    assert fresh == changed and any(changed[1:]) and not all(changed)
    assert memory.hard_resets == sum(changed)


def test_validation_runs_fresh_and_leaves_the_carried_state_untouched(monkeypatch):
    memory = MemoryReset("every_n_steps", every_n_steps=100)
    seen = []
    real = BrainModule.run

    def run(self, episode, state=None):
        if not self.trainer.training:
            seen.append(state)
        return real(self, episode, state)

    monkeypatch.setattr(BrainModule, "run", run)
    _, rec = _train(memory, steps=4, val_every=2)
    assert seen and all(s is None for s in seen)
    before, after = rec.around_validation[0], rec.around_validation[1]
    assert before is after and torch.equal(before.memory, after.memory)


def test_a_change_of_batch_size_is_a_hard_reset_and_the_state_round_trips():
    memory = MemoryReset("task_change")
    _train(memory, steps=2)
    saved = memory.state_dict()
    assert saved["state"]["memory"].device.type == "cpu" and saved["state"]["batch"] == 4
    again = MemoryReset("task_change")
    again.load_state_dict(saved)
    assert torch.equal(again.state.memory, memory.state.memory) and again.task == memory.task

    class Batch:
        task, batch_size = memory.task, 8

    class Module:
        device = torch.device("cpu")

    class Trainer:
        global_step = 2

    module = Module()
    again.on_train_batch_start(Trainer(), module, Batch(), 0)
    assert module.carried_state is None and again.hard_resets == saved["hard_resets"] + 1


def test_bad_options_are_one_line_errors():
    with pytest.raises(ValueError, match="memory.hard_reset: 'sometimes' is not a policy; choose one of episode"):
        MemoryReset("sometimes")
    with pytest.raises(ValueError, match="memory.every_n_steps: expected an int >= 1, got 0"):
        MemoryReset("every_n_steps", every_n_steps=0)
