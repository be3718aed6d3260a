"""`BrainConfig`: every size of the brain in one frozen record, and the named presets.

| preset    | image | tokens          | width | use                                               |
|-----------|-------|-----------------|-------|---------------------------------------------------|
| `tiny64`  | 64 px | 8×8 of 8 px     | 128   | CPU tests: a batch-8 train step well under 1 s    |
| `small64` | 64 px | 8×8 of 8 px     | 384   | real training at low resolution first             |
| `seed224` | 224 px| 16×16 of 14 px  | 768   | the seed brain's sizes, ≈260 M parameters             |

`python -m penguin.brain` prints each preset with its parameter count.

Fields, by component (every transformer stack has its own depth and head count):

- `image_size`, `patch_size`: images are `[B, 3, image_size, image_size]` in `[0, 1]`, cut into a
  `grid × grid` token grid with `grid = image_size // patch_size`.
- `stem`: how pixels become tokens. `"patch"` is a linear patch embedding (ViT). `"conv"` is a
  CoordConv stem (two coordinate channels appended to the pixels, then log2(patch_size) strided 3×3
  convolutions). Locating 1–3 px gold is the hard part of this game: in a CPU trial a plain 8-px
  patch ViT learned neither left/right nor near in 10 minutes, while a small CNN with coordinate
  channels learned near in 2. The 64-px presets therefore use `"conv"`; `seed224` keeps `"patch"`.
- `width`, `mlp_ratio`: token width and MLP hidden multiple, shared by every stack.
- `image_encoder_*`, `image_decoder_*`: the vision stacks (`vision.py`).
- `text_encoder_*`, `text_decoder_*`: the language stacks (`language.py`).
- `context_encoder_*`: bidirectional self-attention over the whole context (images, memory, value
  token, prompt) so the sources inform each other before the readers read (`brain.py`).
- `memory_encoder_*`, `memory_slots`: the memory writer and the number of memory slots (`memory.py`).
- `canvases`: how many of the brain's last image predictions it keeps (FIFO).
- `question_kinds`: classes of the question-kind head (`kinds.py`: each class is named by the
  brain's kind vocabulary; room to grow beyond the registered kinds without changing the brain's shape).
- `vocab_size`, `max_prompt_len`, `max_reply_len`: the text sizes. Token id `PAD_ID` (0) is padding
  by the tokenizer's contract.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Literal

PAD_ID = 0
"""The padding token id; the tokenizer reserves 0 for `<pad>`."""


STEMS = ("patch", "conv")  # how pixels become tokens (penguin/brain/vision.py)


@dataclass(frozen=True)
class BrainConfig:
    """All sizes of a `Brain`; the defaults are the `tiny64` preset. Invalid sizes raise ValueError."""

    image_size: int = 64
    patch_size: int = 8
    stem: Literal["patch", "conv"] = "conv"
    width: int = 128
    mlp_ratio: int = 4
    image_encoder_layers: int = 2
    image_encoder_heads: int = 4
    image_decoder_layers: int = 1
    image_decoder_heads: int = 4
    text_encoder_layers: int = 2
    text_encoder_heads: int = 4
    text_decoder_layers: int = 1
    text_decoder_heads: int = 4
    context_encoder_layers: int = 1
    context_encoder_heads: int = 4
    memory_encoder_layers: int = 1
    memory_encoder_heads: int = 4
    memory_slots: int = 16
    canvases: int = 3
    vocab_size: int = 2048
    question_kinds: int = 64
    max_prompt_len: int = 32
    max_reply_len: int = 32

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if field.name != "stem" and (not isinstance(value, int) or value < 1):
                raise ValueError(f"BrainConfig.{field.name} must be a positive int; got {value!r}")
        if self.stem not in STEMS:
            raise ValueError(f"BrainConfig.stem must be one of {', '.join(map(repr, STEMS))}; got {self.stem!r}")
        if self.image_size % self.patch_size:
            raise ValueError(
                f"BrainConfig.image_size {self.image_size} is not a multiple of patch_size "
                f"{self.patch_size}"
            )
        if self.stem == "conv" and (self.patch_size < 2 or self.patch_size & (self.patch_size - 1)):
            raise ValueError(
                f"BrainConfig.stem 'conv' halves the image per layer, so patch_size must be a power "
                f"of two ≥ 2; got {self.patch_size} (use stem='patch')"
            )
        if self.stem == "conv" and self.width < self.patch_size:
            raise ValueError(
                f"BrainConfig.stem 'conv' needs width ≥ patch_size; got width {self.width}"
            )
        # 2D sin-cos positions split the width into sin/cos of x and y.
        if self.width % 4:
            raise ValueError(f"BrainConfig.width must be a multiple of 4; got {self.width}")
        for name in ("image_encoder", "image_decoder", "text_encoder", "text_decoder",
                     "context_encoder", "memory_encoder"):
            heads = getattr(self, f"{name}_heads")
            if self.width % heads:
                raise ValueError(
                    f"BrainConfig.width {self.width} is not divisible by {name}_heads {heads}"
                )
        if self.vocab_size <= PAD_ID:
            raise ValueError(f"BrainConfig.vocab_size must exceed the pad id; got {self.vocab_size}")

    @property
    def grid(self) -> int:
        """Image tokens per side."""
        return self.image_size // self.patch_size

    @property
    def image_tokens(self) -> int:
        """Image tokens per image (`grid ** 2`)."""
        return self.grid ** 2


PRESETS: dict[str, BrainConfig] = {
    "tiny64": BrainConfig(),
    "small64": BrainConfig(
        width=384,
        image_encoder_layers=6, image_encoder_heads=6,
        image_decoder_layers=2, image_decoder_heads=6,
        text_encoder_layers=4, text_encoder_heads=6,
        text_decoder_layers=2, text_decoder_heads=6,
        context_encoder_layers=2, context_encoder_heads=6,
        memory_encoder_layers=1, memory_encoder_heads=6,
        memory_slots=64,
    ),
    # The seed brain's listed stacks (image 6/3, text 8/4) come to ≈175 M; its ≈260 M total is
    # reached with an 8-layer context encoder and a 3-layer memory writer.
    "seed224": BrainConfig(
        image_size=224, patch_size=14, stem="patch", width=768,
        image_encoder_layers=6, image_encoder_heads=12,
        image_decoder_layers=3, image_decoder_heads=12,
        text_encoder_layers=8, text_encoder_heads=6,
        text_decoder_layers=4, text_decoder_heads=6,
        context_encoder_layers=8, context_encoder_heads=12,
        memory_encoder_layers=3, memory_encoder_heads=12,
        memory_slots=128, canvases=3, vocab_size=10000, max_prompt_len=32, max_reply_len=32,
    ),
}


def preset(name: str, **overrides) -> BrainConfig:
    """The config named `name` in `PRESETS`, with `overrides` replacing fields (e.g. `width=256`)."""
    if name not in PRESETS:
        raise ValueError(f"unknown brain preset {name!r}; choose one of {sorted(PRESETS)}")
    known = {field.name for field in fields(BrainConfig)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"unknown BrainConfig field(s) {unknown}; fields are {sorted(known)}")
    return replace(PRESETS[name], **overrides)
