"""`KindVocabulary` — the names behind the classes of the brain's question-kind head.

The kind head (`Brain.kind_head`, the `kind` loss term of `lit_modules/terms.py`) has
`question_kinds` classes. Which question kind each class stands for is part of the brain, like a
tokenizer's vocabulary is part of a language model: the vocabulary travels in the brain's
`state_dict` (as the extra state `kind_vocabulary._extra_state`), so every checkpoint names its
own classes.

- **Stable under insertion.** A name keeps its class for ever; a name not seen before takes the
  next free class (`add`). Adding, removing or reordering tasks never renumbers the kinds a
  checkpoint already knows.
- **Loading merges.** Loading a checkpoint restores its names in their classes; names that the
  current run had registered beforehand (`BrainModule.setup` adds every task's kinds before
  Lightning restores a checkpoint) and the checkpoint lacks are appended after them, in the order
  they were added — the same on every DDP rank.
- **Checkpoints without a vocabulary** (written by Penguin 0.1, before tasks owned their question
  kinds) numbered the kinds by their position in the 0.1 prompt registry; `LEGACY_KINDS` is that
  order, so those checkpoints load with their classes meaning what they meant.
- **Capacity.** More names than classes is a one-line `ValueError` naming
  `model.brain.question_kinds`.

    vocabulary.add(["near_gold", "facing_gold"])   # classes 0 and 1 in a fresh brain
    vocabulary.ids(("facing_gold",), device)       # tensor([1]), cached per (names, device)
"""
from __future__ import annotations

from typing import Any, Iterable

import torch
from torch import Tensor, nn

LEGACY_KINDS: tuple[str, ...] = (
    "gold_left_right", "gold_up_down", "agent_left_right", "agent_up_down", "gold_on_your_side",
    "facing_gold", "near_gold", "facing_line", "turn_to_gold", "turn_away_from_gold", "turn_to_line",
    "turn_away_from_line", "straight_collects", "turn_toward_gold_word", "next_move", "action_to_name",
    "name_to_action", "draw_line_to_gold", "copy_scene", "control", "zoom_agent", "zoom_gold",
    "zoom_midpoint", "imagine_without_agent", "imagine_without_gold", "imagine_without_walls",
    "imagine_walls_only", "imagine_after_move", "imagine_closer", "imagine_facing", "recall",
    "solve_game", "compare_intro", "compare_which", "readout_closer", "readout_further",
    "readout_gold_upper_left",
)


class KindVocabulary(nn.Module):
    """Question-kind name → class of the kind head, for a head of `capacity` classes."""

    def __init__(self, capacity: int) -> None:
        super().__init__()
        self.capacity = capacity
        self.names: list[str] = []
        self._index: dict[str, int] = {}
        self._tables: dict[tuple[tuple[str, ...], torch.device], Tensor] = {}

    def add(self, names: Iterable[str]) -> None:
        """Give every name not known yet the next free class, in order."""
        for name in names:
            if name not in self._index:
                if len(self.names) >= self.capacity:
                    raise ValueError(f"the tasks ask more than {self.capacity} question kinds (the kind head's "
                                     f"classes; {name!r} has none left); raise model.brain.question_kinds")
                self._index[name] = len(self.names)
                self.names.append(name)

    def id(self, name: str) -> int:
        """The class of `name`, which must be known (see `add`)."""
        if name not in self._index:
            raise ValueError(f"question kind {name!r} is not in the brain's kind vocabulary "
                             f"({len(self.names)} kinds); add it first")
        return self._index[name]

    def ids(self, names: tuple[str, ...], device: torch.device) -> Tensor:
        """`[K]` long: the class of each name (unknown names are added first).

        Cached per names and device: building a fresh tensor every step would be a blocking
        host-to-device copy."""
        key = (names, torch.device(device))
        if key not in self._tables:
            self.add(names)
            self._tables[key] = torch.tensor([self._index[n] for n in names], device=device)
        return self._tables[key]

    def get_extra_state(self) -> dict[str, Any]:
        return {"names": list(self.names)}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        known = list(state["names"])
        if len(set(known)) != len(known) or not all(isinstance(n, str) for n in known):
            raise ValueError("the checkpoint's question-kind vocabulary is malformed (names repeat or are not text)")
        registered = [n for n in self.names if n not in set(known)]
        self.names, self._index, self._tables = [], {}, {}
        self.add(known)
        self.add(registered)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                              error_msgs) -> None:
        if prefix + "_extra_state" not in state_dict:  # a Penguin 0.1 checkpoint: see LEGACY_KINDS
            self.set_extra_state({"names": list(LEGACY_KINDS)})
            return
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                                      error_msgs)

    def extra_repr(self) -> str:
        return f"{len(self.names)} of {self.capacity} classes"
