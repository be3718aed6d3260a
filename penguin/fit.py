"""`python -m penguin.fit` — train the brain (LightningCLI).

    python -m penguin.fit                                    # the embedded default (below)
    python -m penguin.fit --config configs/tiny_cpu.yaml     # a preset config
    python -m penguin.fit --config configs/small64.yaml --trainer.max_steps 50000 --data.batch_size 64
    python -m penguin.fit --config configs/small64.yaml --ckpt_path last      # resume
    python -m penguin.fit --print_config                     # the full config with every default

**Embedded default**: every registered task, the adaptive task sampler, and a preset suited to
the hardware found — `tiny64` (batch 16, 1,000 steps) on a CPU-only machine, `small64` (batch 64,
bf16-mixed, 20,000 steps) when a GPU is present. TensorBoard logs go to `runs/<name>/version_N`
and checkpoints to `runs/<name>/checkpoints` (`last.ckpt` and the newest `stepN.ckpt`, both
written at the end of every validation, and `last.ckpt` again when training stops);
the command prints both and the `tensorboard --logdir` line to view them.

**What a run adds** (each unless the config brings its own of that kind): the TensorBoard logger
and layout (`penguin/tensorboard.py`: no `hp_metric`/`epoch` scalars, a custom-scalars chart per
task and one of the task shares), the checkpoints (`callbacks/last_checkpoint.py`), the task
sampler's feedback from validation (`callbacks/sampler_feedback.py`), image grids and answer
samples (`callbacks/sample_logger.py`), a learning-rate monitor and the task-mix progress bar
(`callbacks/progress.py`). Always there, configured under their own keys: the brain's memory
across batches, `--memory.hard_reset episode|every_n_steps|task_change` and
`--memory.every_n_steps N` (`callbacks/memory_reset.py`).

**Your own tasks**: `--data.task_modules '[my_tasks.py]'` imports task modules from outside the
package before anything resolves task names (`docs/adding_a_task.md`).

**Exit codes**: 0 done; 2 bad input (a one-line error naming the field and the fix); 3 training
stopped after `model.max_nonfinite` non-finite steps in a row (one line; nothing non-finite was
applied or saved).

**Resume**: `--ckpt_path last` continues from `runs/<name>/checkpoints/last.ckpt` (or give a
path): weights, optimizer, schedule, the data stream position and the task sampler's state all
come back, so the run continues exactly where it stopped.

**Several GPUs / machines**: `--trainer.devices N` (DDP), and the same command under `torchrun`
or SLURM for several machines — see `configs/ddp.yaml` and the README.

Every field of `model` (`lit_modules.brain_module.BrainModule`), `data`
(`datamodules.mixture.TaskMixture`) and `trainer` (Lightning's `Trainer`) can be set in a YAML
config or on the command line. Bad input (unknown task, size below 32 px, a malformed config) is a
one-line error naming the field.
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch
import lightning as L
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint, TQDMProgressBar
from lightning.pytorch.cli import LightningCLI

from callbacks.last_checkpoint import LastCheckpoint
from callbacks.memory_reset import MemoryReset
from callbacks.progress import TaskMixProgressBar
from callbacks.sample_logger import SampleLogger
from callbacks.sampler_feedback import SamplerFeedback
from datamodules.mixture import TaskMixture
from datamodules import registry
from lit_modules.brain_module import BrainModule, NonFiniteTraining
from penguin.tensorboard import PenguinTensorBoardLogger, TensorBoardLayout

RUNS = "runs"
EXIT_BAD_INPUT, EXIT_NONFINITE = 2, 3
PROG = "python -m penguin.fit"  # what --help names: the command a user types
DESCRIPTION = "Train the brain on a mix of tasks (LightningCLI). Examples: the docstring of penguin/fit.py."


def hardware_defaults(cuda: bool | None = None) -> dict:
    """The embedded default, chosen for the hardware found."""
    cuda = torch.cuda.is_available() if cuda is None else cuda
    if cuda:
        return {"model.preset": "small64", "data.batch_size": 64, "trainer.max_steps": 20_000,
                "trainer.precision": "bf16-mixed", "trainer.val_check_interval": 1_000}
    return {"model.preset": "tiny64", "data.batch_size": 16, "trainer.max_steps": 1_000,
            "trainer.precision": "32-true", "trainer.val_check_interval": 200}


class PenguinCLI(LightningCLI):
    def add_arguments_to_parser(self, parser) -> None:
        parser.add_argument("--name", default="penguin", help="run name: logs and checkpoints go under runs/NAME")
        parser.add_argument("--ckpt_path", default=None, help="'last', a checkpoint path, or nothing")
        parser.add_lightning_class_args(MemoryReset, "memory")
        parser.link_arguments("data.tasks", "model.tasks")
        parser.set_defaults({**hardware_defaults(), "trainer.log_every_n_steps": 10,
                             "trainer.check_val_every_n_epoch": None, "trainer.gradient_clip_val": 1.0,
                             "trainer.num_sanity_val_steps": 0, "trainer.default_root_dir": RUNS})

    def before_instantiate_classes(self) -> None:
        """Import the run's own task modules first: the model resolves task names too."""
        config = self.config.get(self.subcommand) if self.subcommand else self.config
        modules = config.get("data", {}).get("task_modules") if config is not None else None
        if modules:
            try:
                registry.load_modules(modules)
            except ValueError as e:
                raise ValueError(f"data.{e}") from None

    def _instantiate_trainer(self, config: dict, callbacks: list) -> L.Trainer:
        """TensorBoard under runs/NAME, checkpoints in runs/NAME/checkpoints, the sampler feedback,
        sample images and answers, the TensorBoard layout, the task-mix progress bar and a
        learning-rate monitor — unless the config brings its own of those kinds."""
        name = self.config_init.get("name", "penguin")
        root = Path(config.get("default_root_dir") or RUNS)
        if config.get("logger") in (None, True):
            config["logger"] = PenguinTensorBoardLogger(save_dir=str(root), name=name)
        present = list(config.get("callbacks") or []) + list(callbacks)
        if not any(isinstance(cb, ModelCheckpoint) for cb in present):
            # Saved at the end of every validation, after SamplerFeedback has fed the task sampler
            # (Lightning runs checkpoint callbacks after all others), so a resumed run continues
            # with exactly the state the original had, and last.ckpt once more when training
            # stops between two validations (max_steps, max_time).
            callbacks.append(LastCheckpoint(dirpath=root / name / "checkpoints", filename="step{step}",
                                             auto_insert_metric_name=False, save_last=True, save_top_k=1))
        for default in (SamplerFeedback(), SampleLogger(), TensorBoardLayout(),
                        LearningRateMonitor(logging_interval="step")):
            if not any(isinstance(cb, type(default)) for cb in present):
                callbacks.append(default)
        if not any(isinstance(cb, TQDMProgressBar) for cb in present) and config.get("enable_progress_bar", True) is not False:
            callbacks.append(TaskMixProgressBar())
        return super()._instantiate_trainer(config, callbacks)


def main(args: list[str] | None = None) -> int:
    try:
        cli = PenguinCLI(BrainModule, TaskMixture, run=False, args=args, save_config_kwargs={"overwrite": True},
                         trainer_defaults={"enable_checkpointing": True}, auto_configure_optimizers=False,
                         parser_kwargs={"prog": PROG, "description": DESCRIPTION})
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    config = cli.config
    trainer = cli.trainer
    run_dir = Path(trainer.default_root_dir) / config.name
    if trainer.is_global_zero:
        print(f"TensorBoard logs: {trainer.logger.log_dir}\n"
              f"checkpoints: {run_dir / 'checkpoints'}\n"
              f"view with: tensorboard --logdir {trainer.default_root_dir}", flush=True)
    ckpt_path = config.ckpt_path
    if ckpt_path == "last":
        last = run_dir / "checkpoints" / "last.ckpt"
        if not last.exists():
            print(f"error: --ckpt_path last: no checkpoint at {last}; train first or give a path", file=sys.stderr)
            return 2
        ckpt_path = str(last)
    elif ckpt_path is not None and not Path(ckpt_path).is_file():
        print(f"error: --ckpt_path {ckpt_path}: no such file", file=sys.stderr)
        return 2
    try:
        trainer.fit(cli.model, cli.datamodule, ckpt_path=ckpt_path)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except NonFiniteTraining as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_NONFINITE
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
