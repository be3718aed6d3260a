"""The loss-weighting contract: `Weighting`, the base of every strategy, and `make_weighting`.

Each training step carries one task's batch. The LightningModule computes that task's loss terms,
multiplies each by the task's configured term weight (a term whose weight is 0 is not computed at
all) and hands them to the weighting strategy keyed ``"task/term"``; the strategy returns the
scalar objective::

    weighting = make_weighting("uncertainty", keys=["arrow/image", "arrow/lm", "side_qa/answer"])
    objective = weighting({"arrow/image": l_image, "arrow/lm": l_lm})   # this step's keys only
    objective.backward()
    self.log_dict({f"weighting/{k}": v for k, v in weighting.logs().items()})

A strategy is built with every key that can ever appear, so that its learned parameters and
running statistics exist from the first step: the optimizer sees them all, every checkpoint holds
them all, and a key that was not declared is a bug (`ValueError` naming it), not a silent new
weight.

| name          | file             | objective                      | state (per key)                   |
|---------------|------------------|--------------------------------|-----------------------------------|
| `static`      | `static.py`      | Σ c_k · L_k                    | none (fixed scales)               |
| `uncertainty` | `uncertainty.py` | Σ exp(−s_k) · L_k + s_k        | parameter `log_vars.<slot>`       |
| `loss_ratio`  | `loss_ratio.py`  | Σ L_k / m_k, m_k a running mean | buffer `running_mean.<slot>`     |

`<slot>` is the key with "/" written as "__" (`arrow/image` → `arrow__image`): module attribute
names may not contain ".", and a readable, reversible name keeps checkpoints inspectable.

`logs()` returns each strategy's effective weight per key as ``"<task>/<term>/weight"`` — the same
tag under every strategy, so runs with different strategies compare in TensorBoard — for the keys
this process has seen (declared keys of terms that are switched off never show up).

Writing a new strategy: subclass with ``class MyWeighting(Weighting, name="my_name")`` (the name
registers it with `make_weighting`), take ``keys`` first in ``__init__``, and implement
`combine` — `forward` has already checked the keys and shapes.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import ClassVar

from torch import Tensor, nn

from lit_modules.registered import build_registered


class Weighting(nn.Module, ABC):
    """Combine one step's weighted loss terms, keyed ``"task/term"``, into the scalar objective.

    Args:
        keys: every ``"task/term"`` key that can appear in any step (order is irrelevant).
    """

    registry: ClassVar[dict[str, type[Weighting]]] = {}

    def __init_subclass__(cls, name: str | None = None, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if name is not None:
            Weighting.registry[name] = cls

    def __init__(self, keys: Sequence[str]) -> None:
        super().__init__()
        keys = tuple(keys)
        if not keys:
            raise ValueError("a weighting needs at least one 'task/term' key")
        for key in keys:
            task, sep, term = key.partition("/") if isinstance(key, str) else ("", "", "")
            if not (sep and task and term) or "/" in term or "." in key:
                raise ValueError(f"loss key {key!r} is not of the form 'task/term' (no '.', one '/')")
        if len(set(keys)) != len(keys):
            raise ValueError(f"loss keys listed more than once: {sorted({k for k in keys if keys.count(k) > 1})}")
        if len({self.slot(k) for k in keys}) != len(keys):
            raise ValueError("loss keys collide once '/' is written as '__'; avoid '__' in task and term names")
        self.keys = keys
        self.seen: set[str] = set()  # keys that reached `forward` in this process: what `logs` reports

    @staticmethod
    def slot(key: str) -> str:
        """The attribute-safe name of `key` in parameter and buffer names: ``a/b`` → ``a__b``."""
        return key.replace("/", "__")

    @staticmethod
    def task_of(key: str) -> str:
        return key.partition("/")[0]

    def forward(self, losses: Mapping[str, Tensor]) -> Tensor:
        """The objective for one step; `losses` holds this step's scalar terms, keyed ``task/term``."""
        if not losses:
            raise ValueError("no loss terms to weigh: this step's task produced no term (all weights 0 or masks empty)")
        for key, loss in losses.items():
            if key not in self.keys:
                raise ValueError(f"unknown loss key {key!r}: not among the keys this weighting was built with")
            if loss.dim() != 0:
                raise ValueError(f"loss {key!r} must be a scalar tensor, got shape {tuple(loss.shape)}")
        self.seen.update(losses)
        return self.combine(losses)

    @abstractmethod
    def combine(self, losses: Mapping[str, Tensor]) -> Tensor:
        """The objective from already-validated terms."""

    def logs(self) -> dict[str, float]:
        """Values worth a TensorBoard curve, keyed ``"<task>/<term>/<what>"``."""
        return {}


def make_weighting(name: str, keys: Sequence[str], **options) -> Weighting:
    """Build the strategy registered as `name` ("static", "uncertainty", "loss_ratio") over `keys`.

    Unknown names, unknown options and missing required options are one-line `ValueError`s.
    """
    return build_registered("weighting", Weighting.registry, name, keys, **options)
