"""`BrainStep` (what one step shows the brain) and `BrainOutput` (what the brain answers).

Any field of a step may be missing:

| field        | shape / dtype            | missing means                                      |
|--------------|--------------------------|----------------------------------------------------|
| `image`      | float `[B, 3, S, S]`, 0–1 | the brain sees only its canvases (needs a state that has seen an image) |
| `prompt_ids` | long `[B, Tp]`           | no prompt in the context, no `prompt_logits`        |
| `reply_ids`  | long `[B, Tr]`           | no reply decoded, no `text_logits`                  |

`BrainStep` checks what it can alone (ranks, dtypes, one batch size); the brain checks the sizes
its config fixes (image size, vocabulary, lengths).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class BrainStep:
    """One step's inputs; see the module docstring for the fields."""

    image: Tensor | None = None
    prompt_ids: Tensor | None = None
    reply_ids: Tensor | None = None

    def __post_init__(self) -> None:
        if self.image is not None and (
            self.image.dim() != 4 or self.image.shape[1] != 3 or not self.image.is_floating_point()
        ):
            raise ValueError(
                f"BrainStep.image must be a float tensor [B, 3, S, S]; got "
                f"{self.image.dtype} {list(self.image.shape)}"
            )
        for name in ("prompt_ids", "reply_ids"):
            ids = getattr(self, name)
            if ids is not None and (
                ids.dim() != 2 or ids.dtype not in (torch.int64, torch.int32) or ids.shape[1] == 0
            ):
                raise ValueError(
                    f"BrainStep.{name} must be an int64/int32 tensor [B, T] with T ≥ 1; got "
                    f"{ids.dtype} {list(ids.shape)}"
                )
        sizes = {name: t.shape[0] for name, t in self.tensors().items()}
        if len(set(sizes.values())) > 1:
            raise ValueError(f"BrainStep fields disagree on the batch size: {sizes}")

    def tensors(self) -> dict[str, Tensor]:
        """The fields that are present, by name."""
        fields = {"image": self.image, "prompt_ids": self.prompt_ids, "reply_ids": self.reply_ids}
        return {name: t for name, t in fields.items() if t is not None}


@dataclass(frozen=True)
class BrainOutput:
    """What one step produces.

    - `text_logits`: `[B, Tr, V]` or `None` (no reply); position t predicts `reply_ids[t + 1]`.
    - `prompt_logits`: `[B, Tp, V]` or `None` (no prompt); position t predicts `prompt_ids[t + 1]`.
    - `image`: `[B, 3, S, S]` in `[0, 1]`, the predicted image; it also becomes canvas 0. `None`
      on a text-only step (no input image and a state that has not seen one).
    - `value`: `[B]`, the value ("dopamine") estimate.
    - `selection_logits`: `[B, 1 + C]` over [input image, canvas 0 … C−1]; their softmax mixed the
      image features the decoders read. The input entry is −inf on a step without an image.
    - `kind_logits`: `[B, question_kinds]` or `None` (no prompt): which question kind the prompt
      asks (classes named by `Brain.kind_vocabulary`), read from the question alone.
    """

    text_logits: Tensor | None
    prompt_logits: Tensor | None
    image: Tensor | None
    value: Tensor
    selection_logits: Tensor
    kind_logits: Tensor | None = None
