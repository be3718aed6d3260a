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
`--memory.every_n_steps N` (`callbacks/memory_reset.py`); the GPU temperature throttle,
`--throttle.pause_above 75 --throttle.resume_at 60 --throttle.every_n_steps 10` (0: off)
(`callbacks/temperature.py`: every rank pauses while a GPU is too hot; inert on a CPU).

**Your own tasks**: `--data.task_modules '[my_tasks.py]'` imports task modules from outside the
package before anything resolves task names (`docs/adding_a_task.md`).

**Exit codes**: 0 done; 2 bad input (a one-line error naming the field and the fix); 3 training
stopped after `model.max_nonfinite` non-finite steps in a row (one line; nothing non-finite was
applied or saved); 4 a checkpoint could not be written (one line naming the path: a full or
read-only disk; the previous checkpoint is intact); 143 stopped by SIGTERM and 130 stopped by SIGINT (Ctrl+C), 128 + the signal's
number as a shell reports it: every rank stopped after the same step, `last.ckpt` holds that step,
and one line on stderr says how to continue (`callbacks/signal_stop.py`; a second Ctrl+C aborts
at once, exit 1):

    stopped at step 412 by SIGTERM; resume with: python -m penguin.fit --config configs/small64.yaml --ckpt_path last

**One run per folder**: a run writes its checkpoints to `runs/<name>/checkpoints` and nowhere
else. A fresh run (no `--ckpt_path`) whose folder already holds checkpoints is refused (exit 2)
unless it says what it means: `--ckpt_path last` continues the earlier run, `--restart true` starts
over after moving the earlier checkpoints to `runs/<name>/checkpoints.old-<UTC time>/` and its
TensorBoard files to `runs/<name>/tensorboard.old-<UTC time>/` (nothing is deleted; the run
folder's curves are the new run's alone), or another `--name`. Resumed progress always goes to the run's own `last.ckpt` — never
a `last-v1.ckpt` — also when the run folder was moved or copied (a checkpoint given by path from
elsewhere continues into this run's folder). Under SLURM, Lightning resumes a run without
`--ckpt_path` from its auto-requeue checkpoint (`<default_root_dir>/hpc_ckpt_N.ckpt`, written on
the requeue signal, SIGUSR1 with `sbatch --signal=USR1@90`); this command says so in one line and
treats it as a `--ckpt_path`, so the rules here and the resume rule apply to it. A job requeued
after a SIGTERM stop continues with `--ckpt_path last` (its job script adds it once
`runs/<name>/checkpoints/last.ckpt` exists).

**Resume**: `--ckpt_path last` continues from the newest *valid* checkpoint in
`runs/<name>/checkpoints` (normally `last.ckpt`; a torn or corrupt file is skipped with a one-line
warning for the `stepN.ckpt` beside it — every file is verified against its `NAME.ckpt.sha256`
commit marker, `penguin/checkpoints.py`), or give a path: weights, optimizer, schedule, the data stream position and the task sampler's state all
come back, so the run continues exactly where it stopped. A resume continues the run as it was set
up: every `model` and `data` field given (config or command line) must equal the checkpoint's
(which the optimizer state, the schedule, the weighting and the sampler state were made with),
else a one-line error (exit 2) names each field with both values and suggests a new run
warm-started from the checkpoint's weights (`--model.init_from`). These may change:
`model.compile`, `max_nonfinite`, `sample_every_n_validations`, `foreground_weight` and
`edit_weight` (applied from the resume on), `data.batch_size`, `val_batches` and `task_modules`,
every `trainer` and `memory` field — so hparams.yaml and config.yaml record what ran. Leaving out
`model.init_from` is no change (a warm start is ignored on resume). A warm-started run first
validates the weights it starts from on every validation batch, so the task sampler's reference is
the level it starts at. The cosine schedule ends at
`model.total_steps`, or at `trainer.max_steps` when that is unset: resuming with another
`max_steps` re-shapes the schedule from the resumed step on (the rate jumps to the new curve's
value there; steps inside the warmup are unaffected). Pin `--model.total_steps` in the first run
to extend a run on one schedule.

**Several GPUs / machines**: `--trainer.devices N` (DDP), and the same command under `torchrun`
or SLURM for several machines — see `configs/ddp.yaml` and the README. From any config, more than
one device or node with `trainer.strategy` left at `auto` runs `ddp_find_unused_parameters_true`,
as configs/ddp.yaml does (a QA step leaves the image decoder without gradients).

Every field of `model` (`lit_modules.brain_module.BrainModule`), `data`
(`datamodules.mixture.TaskMixture`) and `trainer` (Lightning's `Trainer`) can be set in a YAML
config or on the command line. Bad input (unknown task, size below 32 px, a malformed config) is a
one-line error naming the field.
"""
from __future__ import annotations

import logging
import os
import shlex
import sys
import time
from pathlib import Path

import torch
import lightning as L
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint, TQDMProgressBar
from lightning.pytorch.cli import LightningCLI
from lightning.fabric.plugins.environments import SLURMEnvironment
from lightning.fabric.utilities.exceptions import MisconfigurationException

from lightning.pytorch.plugins.io import CheckpointIO

from callbacks.checkpoint_io import AtomicCheckpointIO
from callbacks.last_checkpoint import LastCheckpoint
from callbacks.memory_reset import MemoryReset
from callbacks.temperature import TemperatureThrottle
from callbacks.progress import TaskMixProgressBar
from callbacks.sample_logger import SampleLogger
from callbacks.sampler_feedback import SamplerFeedback
from callbacks.signal_stop import EXIT_CODES, SignalStop
from datamodules.mixture import TaskMixture
from datamodules import registry
from penguin.checkpoints import CheckpointSaveError, newest_valid_checkpoint
from lit_modules.brain_module import BrainModule, NonFiniteTraining
from penguin.tensorboard import PenguinTensorBoardLogger, TensorBoardLayout

RUNS = "runs"
EXIT_BAD_INPUT, EXIT_NONFINITE, EXIT_SAVE_FAILED = 2, 3, 4
# Lightning's default DDP would fail on the first QA step: it leaves the image decoder without
# gradients (configs/ddp.yaml sets the same).
MULTI_DEVICE_STRATEGY = "ddp_find_unused_parameters_true"
# What a resume takes as given (the resume rule in the docstring); every other model and data field
# must equal the checkpoint's. The warm start is ignored on resume: leaving it out is no change.
RESUME_MAY_CHANGE = {"model": {"compile", "max_nonfinite", "sample_every_n_validations", "foreground_weight",
                               "edit_weight"},
                     "data": {"batch_size", "val_batches", "task_modules"}}
WARM_START = {"init_from", "init_components"}
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


def several_devices(trainer: dict) -> bool:
    """Whether the trainer options ask for more than one device (or node), hence DDP."""
    devices, accelerator = trainer.get("devices", "auto"), trainer.get("accelerator", "auto")
    if int(trainer.get("num_nodes") or 1) > 1:
        return True
    if isinstance(devices, str) and "," in devices:  # "0,1": device indices
        devices = [d for d in devices.split(",") if d.strip()]
    if isinstance(devices, (list, tuple)):
        return len(devices) > 1
    if isinstance(devices, str) and devices.strip().lstrip("-").isdigit():
        devices = int(devices)
    if devices in ("auto", -1):  # every device of the accelerator: one CPU process, or every GPU
        on_cpu = accelerator == "cpu" or (accelerator == "auto" and not torch.cuda.is_available())
        return not on_cpu and torch.cuda.device_count() > 1
    return isinstance(devices, int) and devices > 1


class PenguinCLI(LightningCLI):
    def add_arguments_to_parser(self, parser) -> None:
        parser.add_argument("--name", default="penguin", help="run name: logs and checkpoints go under runs/NAME")
        parser.add_argument("--ckpt_path", default=None, help="'last', a checkpoint path, or nothing")
        parser.add_argument("--restart", type=bool, default=False,
                            help="start NAME afresh: move its checkpoints to runs/NAME/checkpoints.old-<time>")
        parser.add_lightning_class_args(MemoryReset, "memory")
        parser.add_lightning_class_args(TemperatureThrottle, "throttle")
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
        if config.get("strategy", "auto") == "auto" and several_devices(config):
            config["strategy"] = MULTI_DEVICE_STRATEGY
        if not any(isinstance(cb, ModelCheckpoint) for cb in present):
            # Saved at the end of every validation, after SamplerFeedback has fed the task sampler
            # (Lightning runs checkpoint callbacks after all others), so a resumed run continues
            # with exactly the state the uninterrupted run had, and last.ckpt once more when training
            # stops between two validations (max_steps, max_time, a signal). No `-vN` names: a
            # resumed run's progress goes to its own last.ckpt, also in a moved run folder.
            callbacks.append(LastCheckpoint(dirpath=root / name / "checkpoints", filename="step{step}",
                                             auto_insert_metric_name=False, save_last=True, save_top_k=1,
                                             enable_version_counter=False))
        for default in (SignalStop(), SamplerFeedback(), SampleLogger(), TensorBoardLayout(),
                        LearningRateMonitor(logging_interval="step")):
            if not any(isinstance(cb, type(default)) for cb in present):
                callbacks.append(default)
        if not any(isinstance(cb, TQDMProgressBar) for cb in present) and config.get("enable_progress_bar", True) is not False:
            callbacks.append(TaskMixProgressBar())
        plugins = config.get("plugins") or []
        plugins = list(plugins) if isinstance(plugins, (list, tuple)) else [plugins]
        if not any(isinstance(plugin, CheckpointIO) for plugin in plugins):
            # Every save is one transaction with a commit marker; a failed one is loud and keeps
            # the previous checkpoint. A callback too: it learns which entries are parameters.
            atomic_io = AtomicCheckpointIO()
            config["plugins"] = [*plugins, atomic_io]
            callbacks.append(atomic_io)
        return super()._instantiate_trainer(config, callbacks)


class _Stderr(logging.StreamHandler):
    """A handler writing to whatever `sys.stderr` is at each line (tests and tools swap it)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        """Ignored: the stream is always the `sys.stderr` of the moment."""


def show_info_lines() -> None:
    """Penguin's own INFO lines (the task sampler's decisions, the throttle, best checkpoints, skipped
    invalid checkpoints) on stderr, once, from the first process of the run only."""
    if os.environ.get("LOCAL_RANK", "0") != "0" or os.environ.get("NODE_RANK", "0") != "0":
        return
    for name in ("callbacks", "datamodules", "lit_modules", "penguin"):
        logger = logging.getLogger(name)
        if not logger.handlers:
            handler = _Stderr()
            handler.setFormatter(logging.Formatter("%(message)s"))
            logger.addHandler(handler)
            logger.setLevel(logging.INFO)


def main(args: list[str] | None = None) -> int:
    show_info_lines()
    try:
        cli = PenguinCLI(BrainModule, TaskMixture, run=False, args=args, save_config_kwargs={"overwrite": True},
                         trainer_defaults={"enable_checkpointing": True}, auto_configure_optimizers=False,
                         parser_kwargs={"prog": PROG, "description": DESCRIPTION})
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except MisconfigurationException as e:  # Lightning's check of a trainer option
        print(f"error: trainer: {' '.join(str(e).split())}", file=sys.stderr)
        return EXIT_BAD_INPUT
    config = cli.config
    trainer = cli.trainer
    run_dir = Path(trainer.default_root_dir) / config.name
    ckpt_path = config.ckpt_path
    if ckpt_path == "last":
        try:  # a torn or corrupt last.ckpt is skipped, with a warning, for the stepN.ckpt beside it
            ckpt_path = str(newest_valid_checkpoint(run_dir / "checkpoints"))
        except ValueError as e:
            print(f"error: --ckpt_path last: {e}", file=sys.stderr)
            return EXIT_BAD_INPUT
    elif ckpt_path is not None and not Path(ckpt_path).is_file():
        print(f"error: --ckpt_path {ckpt_path}: no such file", file=sys.stderr)
        return EXIT_BAD_INPUT
    elif SLURMEnvironment.detect() and (requeued := trainer._checkpoint_connector._hpc_resume_path):
        ckpt_path = requeued  # where Lightning's fit would resume by itself: made explicit, so the rules apply
        if trainer.is_global_zero:
            print(f"resuming from SLURM's requeue checkpoint {requeued} (Lightning's auto-requeue)", flush=True)
    try:
        claim_run_folder(run_dir / "checkpoints", ckpt_path, config.restart, trainer.is_global_zero)
        if ckpt_path is not None:
            check_resume(ckpt_path, cli.model, cli.datamodule)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if config.model.init_from and ckpt_path is None:
        # A warm start validates the weights it starts from on the whole validation set before its
        # first step (Lightning's sanity check, made complete), so the task sampler's reference is
        # the level the run starts at, not the first validation after training has moved it.
        trainer.num_sanity_val_steps = float("inf")
    if trainer.is_global_zero:
        print(f"TensorBoard logs: {trainer.logger.log_dir}\n"
              f"checkpoints: {run_dir / 'checkpoints'}\n"
              f"view with: tensorboard --logdir {trainer.default_root_dir}", flush=True)
    try:
        trainer.fit(cli.model, cli.datamodule, ckpt_path=ckpt_path)
    except (ValueError, MisconfigurationException) as e:
        print(f"error: {' '.join(str(e).split())}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except NonFiniteTraining as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_NONFINITE
    except CheckpointSaveError as e:  # the disk refused a save, or the weights went non-finite
        print(f"error: {e}", file=sys.stderr)
        return EXIT_SAVE_FAILED
    stop = next((cb for cb in trainer.callbacks if isinstance(cb, SignalStop)), None)
    if stop is not None and stop.stopped_by is not None:
        if trainer.is_global_zero:
            print(f"stopped at step {stop.stopped_at} by {stop.stopped_by.name}; resume with: "
                  f"{resume_command(sys.argv[1:] if args is None else args)}", file=sys.stderr, flush=True)
        return EXIT_CODES[stop.stopped_by]
    return 0


def claim_run_folder(checkpoints: Path, ckpt_path: str | None, restart: bool, is_global_zero: bool) -> None:
    """The run-folder rule (module docstring): a fresh run does not write beside an earlier run's
    checkpoints; `--restart true` moves them aside first, and the earlier run's TensorBoard
    `version_*` folders with them, so the run folder's curves are the new run's alone (rank 0 does,
    the other ranks skip the check). Raises a one-line ValueError."""
    if restart and ckpt_path is not None:
        raise ValueError(f"--restart true starts the run afresh and --ckpt_path {ckpt_path} continues it; give one")
    if ckpt_path is not None:
        return
    held = sorted(p.name for p in checkpoints.glob("*.ckpt"))
    if held and not restart:
        files = ", ".join(held[:3]) + (f" and {len(held) - 3} more" if len(held) > 3 else "")
        raise ValueError(f"{checkpoints} already holds an earlier run's checkpoints ({files}); continue "
                         f"it with --ckpt_path last, start it over with --restart true (moves them to "
                         f"{checkpoints.name}.old-<time>), or choose another --name")
    if not (restart and is_global_zero):
        return
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    if held:
        aside = _unused(checkpoints.with_name(f"{checkpoints.name}.old-{stamp}"))
        checkpoints.rename(aside)
        print(f"--restart: moved the earlier checkpoints to {aside}", flush=True)
    versions = sorted(p for p in checkpoints.parent.glob("version_*") if p.is_dir())
    if versions:
        logs = _unused(checkpoints.with_name(f"tensorboard.old-{stamp}"))
        logs.mkdir()
        for version in versions:
            version.rename(logs / version.name)
        print(f"--restart: moved the earlier TensorBoard files to {logs}", flush=True)


def _unused(path: Path) -> Path:
    """`path`, or `path-1`, `path-2`, … : the first name that does not exist."""
    candidate, n = path, 1
    while candidate.exists():
        candidate, n = path.with_name(f"{path.name}-{n}"), n + 1
    return candidate


def check_resume(path: str, model: BrainModule, data: TaskMixture) -> None:
    """The resume rule (module docstring): the model and data fields given must equal the
    checkpoint's, except those in `RESUME_MAY_CHANGE`. Raises one ValueError line naming them all."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=False, mmap=True)
        saved = {"model": dict(checkpoint["hyper_parameters"]), "data": dict(checkpoint["datamodule_hyper_parameters"])}
    except Exception as e:  # noqa: BLE001 - any unreadable file is the same one-line error
        raise ValueError(f"--ckpt_path {path}: not a readable Penguin checkpoint ({type(e).__name__}: "
                         f"{' '.join(str(e).split())[:200]})") from None
    given = {"model": dict(model.hparams), "data": dict(data.hparams)}
    changed = [f"{part}.{key} {_plain(saved[part][key])!r} in the checkpoint, {_plain(given[part][key])!r} given"
               for part in ("model", "data") for key in sorted(set(saved[part]) & set(given[part]))
               if key not in RESUME_MAY_CHANGE[part] and _plain(saved[part][key]) != _plain(given[part][key])
               and not (key in WARM_START and given[part][key] is None)]
    if changed:
        raise ValueError(f"--ckpt_path {path}: a resume continues the checkpoint's run as it was set up, but "
                         f"{'; '.join(changed)}; drop these changes, or start a new run from its weights: "
                         f"--name NEW (or --restart true) --model.init_from {path}")


def _plain(value):
    """A hyperparameter as comparable data: tuples and lists alike, mappings as dicts."""
    if hasattr(value, "as_dict"):
        value = value.as_dict()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def resume_command(args: list[str]) -> str:
    """The command that continues this run: its arguments, with `--ckpt_path last` in place of any
    `--ckpt_path` or `--restart`."""
    kept, skip = [], False
    for arg in args:
        if skip or arg in ("--ckpt_path", "--restart"):
            skip = not skip
            continue
        if not arg.startswith(("--ckpt_path=", "--restart=")):
            kept.append(arg)
    return shlex.join([*PROG.split(), *kept, "--ckpt_path", "last"])


if __name__ == "__main__":
    raise SystemExit(main())
