"""`MemoryReset` — carry the brain's canvases and memory across training batches, and reset them.

The brain's state (`penguin.brain.BrainState`: its last image predictions, the canvases, and its
memory slots) lives outside the model, so the weights load into any batch size and device. Within
an episode the state is always carried step to step (`lit_modules/terms.py::run_episode`). This
callback decides what a training batch *starts* from:

| `hard_reset`    | a training batch starts from                                                    |
|-----------------|----------------------------------------------------------------------------------|
| `episode`       | a fresh state, every batch (the default)                                         |
| `every_n_steps` | the previous batch's final state, except a fresh one at every `every_n_steps`-th optimizer step |
| `task_change`   | the previous batch's final state, except a fresh one when the batch's task differs from the previous batch's |

and, whatever the policy, a fresh state when the batch size or the device changes (a state
cannot be reshaped or moved meaningfully) and at the first batch of a run.

- **Soft reset.** After every optimizer step (`on_train_batch_end`), the carried state is cut from
  the autograd graph (`BrainState.detach`): values stay, no graph survives the step, so the next
  backward never reaches into an earlier batch.
- **Ownership.** The carried state belongs to this callback, never to the model's `state_dict`:
  the module reads it from `pl_module.carried_state` (set here before each training step; `None`
  means fresh) and leaves the batch's final state in `pl_module.last_state`, which this callback
  takes and clears.
- **Validation** always runs every episode on its own fresh state and never reads or changes the
  carried one.
- **Resume.** The carried state (on the CPU), the previous task and the count of hard resets are
  this callback's checkpoint state, so a resumed run starts its next batch from exactly the state
  the uninterrupted run had.

Logs `train/memory_hard_resets` (cumulative) when carrying is on. In `python -m penguin.fit` it is
on by default, configured as `--memory.hard_reset task_change` or `--memory.hard_reset
every_n_steps --memory.every_n_steps 50`.
"""
from __future__ import annotations

from typing import Any, Literal

import lightning as L
import torch

from penguin.brain import BrainState

POLICIES = ("episode", "every_n_steps", "task_change")


class MemoryReset(L.Callback):
    """Carries `BrainState` across training batches by the `hard_reset` policy (see the module docstring)."""

    def __init__(self, hard_reset: Literal["episode", "every_n_steps", "task_change"] = "episode",
                 every_n_steps: int = 100) -> None:
        super().__init__()
        if hard_reset not in POLICIES:
            raise ValueError(f"memory.hard_reset: {hard_reset!r} is not a policy; choose one of {', '.join(POLICIES)}")
        if not isinstance(every_n_steps, int) or isinstance(every_n_steps, bool) or every_n_steps < 1:
            raise ValueError(f"memory.every_n_steps: expected an int >= 1, got {every_n_steps!r}")
        self.hard_reset, self.every_n_steps = hard_reset, every_n_steps
        self.state: BrainState | None = None
        self.device: torch.device | None = None  # where the carried state was made
        self.task: str | None = None
        self.hard_resets = 0

    @property
    def carrying(self) -> bool:
        return self.hard_reset != "episode"

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        pl_module.carry_state = self.carrying

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int) -> None:
        if not self.carrying:
            pl_module.carried_state = None
            return
        task, size = getattr(batch, "task", None), batch.batch_size
        state = self.state
        fresh = (state is None or self.device != pl_module.device or state.batch != size
                 or (self.hard_reset == "every_n_steps" and trainer.global_step % self.every_n_steps == 0)
                 or (self.hard_reset == "task_change" and task != self.task))
        if fresh:
            self.hard_resets += 1
            state = None
        pl_module.carried_state = None if state is None else _on(state, pl_module.device)
        self.task = task

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        last = getattr(pl_module, "last_state", None)
        pl_module.last_state = None
        pl_module.carried_state = None
        if not self.carrying:
            return
        self.state = last.detach() if last is not None else None
        self.device = pl_module.device
        pl_module.log("train/memory_hard_resets", float(self.hard_resets), batch_size=batch.batch_size)

    def state_dict(self) -> dict[str, Any]:
        s = self.state
        carried = None if s is None else {
            "canvases": None if s.canvases is None else s.canvases.cpu(),
            "memory": None if s.memory is None else s.memory.cpu(), "batch": s.batch, "device": str(self.device)}
        return {"state": carried, "task": self.task, "hard_resets": self.hard_resets}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        carried = state_dict["state"]
        self.state = None if carried is None else BrainState(
            canvases=carried["canvases"], memory=carried["memory"], batch=int(carried["batch"]),
            device=torch.device("cpu"))
        self.device = None if carried is None else torch.device(carried["device"])
        self.task, self.hard_resets = state_dict["task"], int(state_dict["hard_resets"])


def _on(state: BrainState, device: torch.device) -> BrainState:
    """The same state with its tensors on `device` (a no-op when they are there already)."""
    return BrainState(
        canvases=None if state.canvases is None else state.canvases.to(device),
        memory=None if state.memory is None else state.memory.to(device),
        batch=state.batch, device=torch.device(device))
