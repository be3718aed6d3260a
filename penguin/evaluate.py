"""`python -m penguin.evaluate` — the per-task validation metrics of a checkpoint.

    python -m penguin.evaluate --ckpt runs/penguin/checkpoints/last.ckpt
    python -m penguin.evaluate --ckpt last.ckpt --tasks side_qa arrow --json
    python -m penguin.evaluate --ckpt last.ckpt --device cuda --batch-size 128 --out eval_out
    python -m penguin.evaluate --ckpt best --run runs/NAME          # the overall best checkpoint
    python -m penguin.evaluate --ckpt best:side_qa --run runs/NAME  # side_qa's best
    python -m penguin.evaluate --ckpt last.ckpt --weights trained   # the trained weights, not their average

Loads the checkpoint (on any device, with any batch size: the brain's state is not part of the
weights), rebuilds the data from the checkpoint's own data settings (`--tasks`, `--batch-size` and
`--val-batches` override them), runs every task's **fixed validation seeds** — the same scenes the
training run validated on — and prints one row per task: loss, exact-answer and token accuracy,
image MSE/PSNR and edit ratio, value MAE, read-out accuracy (the share of drawings whose read-out
meets the read-out goal; blank where a task has no such target), the prompt's perplexity where
the task scores it (the LM term) and beside it the task's brain-free reference levels
(`baselines()`: a question task's `chance_exact_acc`, the accuracy of always giving a kind's
most frequent answer; `language`'s unigram perplexity), then one indented
row per question kind (its exact-answer accuracy or image MSE). `--json` prints
one JSON object instead. For every image task a PNG grid `OUT/<task>.png` shows rows of
input | target | prediction.

The weights evaluated are those the run validated: the average of its weights where it kept one
(`model.ema_decay`, `lit_modules/weight_average.py`), else its trained weights. `--weights
trained` evaluates the trained brain of a checkpoint that holds both; `--weights averaged` insists
on the average (a one-line error where the checkpoint holds none).

`best` and `best:<task>` resolve through the run's manifest `checkpoints/best.json`
(`callbacks/best_checkpoint.py`); `--run` is the run folder (default `runs/penguin`, the default
run of `python -m penguin.fit`). A missing or unreadable checkpoint is a one-line error, and so is an `--out` folder that cannot be
created or written — checked before the evaluation runs, not after it.
"""
from __future__ import annotations

import argparse
import errno
import json
import math
import pickle
import sys
import tempfile
import zipfile
from pathlib import Path

import lightning as L
import torch

from callbacks.best_checkpoint import resolve_checkpoint
from penguin.checkpoints import InvalidCheckpointError, read_checkpoint
from datamodules import registry
from datamodules.mixture import TaskMixture
from lit_modules.brain_module import BrainModule
from lit_modules.weight_average import holds_average
from penguin.visual import prediction_grid, save_png

WEIGHTS = ("averaged", "trained")
COLUMNS = ("loss", "exact_acc", "token_acc", "mse", "psnr", "edit_ratio", "value_mae", "readout_acc", "perplexity",
           "chance_exact_acc", "unigram_perplexity")


def load_checkpoint(path: str | Path, device: str = "cpu", weights: str | None = None) -> tuple[BrainModule, dict]:
    """The module and the data settings stored in a checkpoint; `ValueError` if it cannot be read.

    `weights` picks the brain the module runs: None — the one the run validated (its average where
    it kept one, `lit_modules/weight_average.py`); `"averaged"` — the average, an error where the
    checkpoint holds none; `"trained"` — the trained brain."""
    if weights not in WEIGHTS + (None,):
        raise ValueError(f"--weights {weights}: expected one of {', '.join(WEIGHTS)}")
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"--ckpt {path}: no such file")
    try:
        checkpoint = read_checkpoint(path, map_location=device, weights_only=False)  # verified first
        modules = dict(checkpoint.get("datamodule_hyper_parameters") or {}).get("task_modules")
        if modules:  # the run's own tasks, before the module resolves its task names
            registry.load_modules(modules)
        module = BrainModule.load_from_checkpoint(path, map_location=device)
    except InvalidCheckpointError as e:
        raise ValueError(f"--ckpt {e.path}: not a readable Penguin checkpoint ({e.reason})") from None
    except (RuntimeError, EOFError, KeyError, TypeError, ValueError, pickle.UnpicklingError, zipfile.BadZipFile) as e:
        lines = [line.strip() for line in str(e).splitlines() if line.strip()]
        if lines and lines[0].startswith("Error(s) in loading state_dict") and len(lines) > 1:
            raise ValueError(
                f"--ckpt {path}: its weights are for a brain of another shape ({' '.join(lines[1:])}); "
                "evaluate it with the Penguin version that wrote it, or train a new one"
            ) from None
        reason = lines[0] if lines else type(e).__name__
        raise ValueError(f"--ckpt {path}: not a readable Penguin checkpoint ({reason})") from None
    if weights == "averaged" and not holds_average(checkpoint.get("state_dict", {})):
        raise ValueError(f"--weights averaged: {path} holds no average of its weights (its run set model.ema_decay "
                         "null, or predates it); evaluate its trained weights with --weights trained")
    if weights == "trained":
        module.averaged = None  # run() then uses the trained brain outside training too
    data = {k: v for k, v in dict(checkpoint.get("datamodule_hyper_parameters", {})).items() if not k.startswith("_")}
    return module.to(device).eval(), data


def evaluate(ckpt: str | Path, *, tasks: list[str] | None = None, device: str = "cpu", batch_size: int | None = None,
             val_batches: int | None = None, out: Path | None = None,
             weights: str | None = None) -> dict[str, dict[str, float]]:
    """Validation metrics per task: `{task: {metric: value}}` of the `weights` `load_checkpoint`
    picks. Writes PNG grids when `out` is set."""
    module, data_settings = load_checkpoint(ckpt, device, weights)
    # Validation visits every task and samples none; the training sampler's options (weights over
    # every trained task) would refuse a subset, so evaluation builds the data with the uniform one.
    settings = {**data_settings, "sampler": "uniform", "sampler_options": {}}
    if tasks:
        unknown = sorted(set(tasks) - set(module.task_names))
        if unknown:
            raise ValueError(f"--tasks: {unknown} were not trained by this checkpoint; it knows {module.task_names}")
        settings["tasks"] = tasks
        settings["task_options"] = {k: v for k, v in (settings.get("task_options") or {}).items() if k in tasks}
    settings.setdefault("image_size", module.brain.config.image_size)
    if batch_size is not None:
        settings["batch_size"] = batch_size
    if val_batches is not None:
        settings["val_batches"] = val_batches
    data = TaskMixture(**settings)
    accelerator = "gpu" if str(device).startswith("cuda") else "cpu"
    trainer = L.Trainer(accelerator=accelerator, devices=1, logger=False, enable_progress_bar=False,
                        enable_model_summary=False, enable_checkpointing=False)
    logged = trainer.validate(module, datamodule=data, verbose=False)[0]
    table: dict[str, dict[str, float]] = {}
    for key, value in logged.items():
        parts = key.split("/")
        if parts[0] == "val" and len(parts) >= 3:
            table.setdefault(parts[1], {})["/".join(parts[2:])] = float(value)
    for name, task in data.tasks.items():
        if name in table:
            table[name].update(task.baselines())
    if out is not None:
        module.to(device)
        for name, task in data.tasks.items():
            episode = task.val_batch(0).to(device).render(data.image_size)
            with torch.no_grad():
                grid = prediction_grid(episode, module.run(episode).outputs, n=8)
            if grid is not None:
                save_png(grid, Path(out) / f"{name}.png")
    return table


def check_writable(folder: Path) -> None:
    """Whether the PNG grids can be written to `folder`: a scratch file is created (and removed) in it,
    or in its nearest existing parent when it is still to be made, so nothing is left behind. A
    one-line ValueError if not (root passes permission bits, but not a file in the way or a
    read-only filesystem)."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    try:
        if not existing.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, f"{existing} is a file")
        tempfile.TemporaryFile(dir=existing).close()  # creating a file there proves the folder writable
    except OSError as e:
        raise ValueError(f"--out {folder}: cannot write the PNG grids there ({e.strerror or e}); "
                         "give a writable folder") from None


def format_table(table: dict[str, dict[str, float]]) -> str:
    """One row per task, then one indented row per question kind (its `exact_acc` and `mse`)."""
    lines = [f"{'task':20s}" + "".join(f"{c:>{_width(c)}s}" for c in COLUMNS)]
    for task, metrics in table.items():
        lines.append(f"{task:20s}" + _cells(metrics))
        kinds: dict[str, dict[str, float]] = {}
        for key, v in metrics.items():
            if "/" in key:
                kind, metric = key.rsplit("/", 1)
                kinds.setdefault(kind, {})[metric] = v
        for kind, kind_metrics in sorted(kinds.items()):
            lines.append(f"  {kind:18s}" + _cells(kind_metrics))
    return "\n".join(lines)


def _width(column: str) -> int:
    return max(11, len(column) + 1)


def _cells(metrics: dict[str, float]) -> str:
    cells = []
    for c in COLUMNS:
        v, w = metrics.get(c), _width(c)
        cells.append(f"{'':>{w}s}" if v is None or math.isnan(v) else f"{v:{w}.4f}")
    return "".join(cells)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m penguin.evaluate", description=__doc__.split("\n")[0])
    parser.add_argument("--ckpt", required=True, help="a checkpoint file, or best / best:<task> of --run")
    parser.add_argument("--run", default="runs/penguin", help="the run folder for --ckpt best (default runs/penguin)")
    parser.add_argument("--tasks", nargs="*", help="evaluate only these tasks")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--val-batches", type=int)
    parser.add_argument("--out", default="eval_out", help="folder for the PNG grids (default eval_out)")
    parser.add_argument("--weights", choices=WEIGHTS, help="averaged or trained (default: the weights the run "
                        "validated — its average of the weights where it kept one)")
    args = parser.parse_args(argv)
    try:
        check_writable(Path(args.out))
        ckpt = resolve_checkpoint(args.ckpt, args.run)
        table = evaluate(ckpt, tasks=args.tasks, device=args.device, batch_size=args.batch_size,
                         val_batches=args.val_batches, out=Path(args.out), weights=args.weights)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(table, indent=2, sort_keys=True) if args.json else format_table(table))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
