"""Warm start: a new run begins from the brain weights of an earlier checkpoint.

`--ckpt_path` resumes a run exactly — the same tasks, optimizer, schedule and sampler — and refuses
anything else. A warm start (`--model.init_from PATH`, optionally `--model.init_components
'[image_encoder, text_encoder]'`) takes only the brain's weights from a checkpoint and starts a
fresh optimizer, schedule and task sampler over whatever task list the new run has: the way to
continue training old weights on a new mix of tasks.

- `init_from` is a checkpoint file, or a run's best through its manifest: `RUN:best` (the overall
  best of `RUN`, a run folder such as `runs/old`, or its `checkpoints/` folder) or
  `RUN:best:<task>` (that task's best; `callbacks/best_checkpoint.py`).
- Only the brain's weights are read (`brain.*` in a `python -m penguin.fit` checkpoint, or a bare
  `Brain.state_dict()` file) — the averaged ones (`averaged.brain.*`) where the run kept an
  average (`model.ema_decay`, `lit_modules/weight_average.py`), since those are what its
  validation measured and its best checkpoints were chosen by; with `init_components`, only those
  components (top-level children of `Brain`, e.g. `image_encoder`, `kind_head`).
- Taking the kind head (all components, or `kind_head`) takes its vocabulary too, so each kind
  keeps its class; kinds new to this run get the next free classes.
- One line reports what was loaded and which of the brain's keys kept their fresh values
  (missing) or were in the file but not in the brain (unexpected); shapes that differ are a one-line
  error naming them.
- A resumed run (`--ckpt_path`) ignores `init_from`: its weights come from the checkpoint.
"""
from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Sequence

import torch
from torch import nn

from callbacks.best_checkpoint import resolve_checkpoint
from lit_modules.weight_average import AVERAGED, holds_average

VOCABULARY_KEY = "kind_vocabulary._extra_state"


def resolve_init_from(spec: str | Path) -> Path:
    """The checkpoint file `init_from` names (see the module docstring)."""
    text = str(spec)
    for marker in (":best:", ":best"):
        run, found, rest = text.partition(marker)
        if found and (marker == ":best:" or not rest):
            try:
                return resolve_checkpoint("best" + (":" + rest if marker == ":best:" else ""), run)
            except ValueError as e:
                raise ValueError(f"model.init_from {text}: {e}") from None
    return Path(text)


def load_brain_weights(brain: nn.Module, path: str | Path, components: Sequence[str] | None = None) -> str:
    """Copy weights from the checkpoint `path` names (`resolve_init_from`) into `brain`; returns the
    one-line report."""
    path = resolve_init_from(path)
    if not path.is_file():
        raise ValueError(f"model.init_from: no checkpoint at {path}")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    except (RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile) as e:
        raise ValueError(f"model.init_from: {path} is not a readable checkpoint ({str(e).splitlines()[0]})") from None
    state = checkpoint.get("state_dict", checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise ValueError(f"model.init_from: {path} holds no state dict")
    averaged = holds_average(state)
    prefix = AVERAGED if averaged else "brain."
    if any(k.startswith(prefix) for k in state):
        state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    valid = [name for name, _ in brain.named_children()]
    if components:
        unknown = sorted(set(components) - set(valid))
        if unknown:
            raise ValueError(f"model.init_components: {unknown} are not brain components; valid: {', '.join(valid)}")
        vocabulary = state.get(VOCABULARY_KEY)
        state = {k: v for k, v in state.items() if k.split(".")[0] in components}
        if "kind_head" in components and vocabulary is not None:
            state[VOCABULARY_KEY] = vocabulary  # the head's classes keep their names
        elif "kind_head" not in components:
            state[VOCABULARY_KEY] = brain.kind_vocabulary.get_extra_state()  # this run's names stay
    own = brain.state_dict()
    mismatched = [k for k, v in state.items() if isinstance(v, torch.Tensor) and k in own
                  and isinstance(own[k], torch.Tensor) and v.shape != own[k].shape]
    if mismatched:
        shown = ", ".join(f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in mismatched[:3])
        raise ValueError(f"model.init_from: {path} holds weights of another shape ({shown}"
                         f"{', ...' if len(mismatched) > 3 else ''}); choose a checkpoint of the same preset, "
                         "or model.init_components that match")
    wanted = [k for k in own if not components or k.split(".")[0] in components]
    result = brain.load_state_dict(state, strict=False)
    missing = [k for k in result.missing_keys if k in wanted]
    loaded = len([k for k in state if k in own])
    kind = "averaged weights" if averaged else "weights"
    return (f"warm start from {path}: {loaded} {kind}" + (f" of {', '.join(components)}" if components else "")
            + f"; missing (kept fresh): {_summary(missing)}; unexpected (ignored): {_summary(result.unexpected_keys)}")


def _summary(keys: Sequence[str]) -> str:
    if not keys:
        return "none"
    return ", ".join(list(keys)[:4]) + (f" and {len(keys) - 4} more" if len(keys) > 4 else "")
