"""The command line the checkpoint probes in `bench/` share (`distractor_crossover.py`,
`control_views.py`): `--ckpt CKPT [--batches N] [--out FILE.json]`.

    parser = argparse.ArgumentParser(description=...)
    add_arguments(parser, "a checkpoint of a run that trained control")
    args = parser.parse_args(argv)
    module = load_module(parser, args, "control", load_checkpoint)

Every bad argument — a missing checkpoint, fewer than one batch, an `--out` folder that cannot be
written — is a one-line error (exit 2) before anything is loaded; so are an unreadable checkpoint
and one whose run did not train the task the probe asks about.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Callable

from penguin.evaluate import check_writable


def add_arguments(parser: argparse.ArgumentParser, ckpt_help: str, per: str = "") -> None:
    """`--ckpt` (required, described by `ckpt_help`), `--batches` (default 16; `per` says of what,
    e.g. " per row") and `--out`."""
    parser.add_argument("--ckpt", required=True, help=ckpt_help)
    parser.add_argument("--batches", type=int, default=16, help=f"validation batches of 32{per} (default: 16)")
    parser.add_argument("--out", type=Path, help="write the numbers as JSON here")


def load_module(parser: argparse.ArgumentParser, args: argparse.Namespace, task: str,
                load: Callable[[str, str], tuple[Any, dict]]) -> Any:
    """The checkpoint `args.ckpt` through `load(path, "cpu")` (`penguin.evaluate.load_checkpoint`),
    in eval mode, once the arguments are checked; `parser.error` names whatever is wrong."""
    if not Path(args.ckpt).is_file():
        parser.error(f"--ckpt {args.ckpt}: no such file; give a run's checkpoint (runs/NAME/checkpoints/last.ckpt)")
    if args.batches < 1:
        parser.error(f"--batches: expected at least 1, got {args.batches}")
    if args.out is not None:
        try:
            check_writable(args.out.parent)
        except ValueError:
            parser.error(f"--out {args.out}: its folder cannot be written; give a writable path")
    try:
        module, _ = load(args.ckpt, "cpu")
    except ValueError as e:  # a missing or unreadable checkpoint, named in one line
        parser.error(str(e))
    module.eval()
    if task not in module.task_names:
        parser.error(f"--ckpt: this run did not train {task} (it trained {', '.join(module.task_names)}); "
                     f"give a checkpoint of a run that trained {task}")
    return module
