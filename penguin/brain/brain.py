"""`Brain`: one multimodal step, `out, state = brain(step, state)`.

One step, in order:

1. **Images.** The input image (if any) and the `C` canvases are encoded by the same
   `ImageEncoder`; each source gets its learned tag (input, canvas 0, …, canvas C−1).
2. **Selection.** The canvas-selection head reads the prompt (its causal encoding at the last
   non-pad token) and the mean of the previous memory — never the reply — and gives logits over
   [input, canvas 0 … C−1]; without an input image the input logit is −inf. Their softmax mixes the
   tagged image features into one set of `grid²` mixed image tokens.
3. **Context** = [mixed image tokens, memory slots + memory tag, value token, prompt encoding +
   text tag]. Tags are added to copies; nothing tagged is ever stored. The context encoder (full
   self-attention, pad prompt tokens masked as keys) lets the sources inform each other.
4. **Readers** of the context: the image decoder (→ predicted image, which becomes canvas 0), the
   value head (the value token's output → MLP → one scalar per sample), the memory encoder (→ the
   next memory) and, when the step has `reply_ids`, the text decoder (→ reply logits). The text
   decoder also reads the **question** (the prompt's summary) and the **glance** (the per-channel
   maximum over the mixed image tokens) together and adds the reading to every reply position,
   so its answer can depend on what was asked, and on what is where, from the first position on
   (`TextDecoder` says why each is there). Prompt
   logits come from the text encoder through the same tied vocabulary head.
5. **Question kind.** A linear head names the question kind (`kind_logits`) from the question
   alone. Its loss (the `kind` term) gathers the paraphrases of one question onto one code: the
   two left/right questions differ in a word or two ("is the gold …" / "are you …") among
   paraphrase words, so at initialisation their summaries differed by less than one question's
   paraphrases did, and the answer's gradient alone did not separate them (bench/RESULTS.md).

On a state without canvases, every canvas starts as the input image (encoded once, not C+1 times).
On a state without memory, memory starts at zeros. The step's batch size and device come from its
tensors and the state; the module keeps nothing per batch, so its `state_dict` is parameters only.

Use:

    brain = Brain.from_preset("tiny64")
    state = BrainState.fresh(batch=8, device="cpu")
    out, state = brain(BrainStep(image=images, prompt_ids=prompt, reply_ids=reply), state)
    out, state = brain(BrainStep(prompt_ids=recall_prompt), state)   # canvases + memory only

A step without an image on a state that has never seen one is **text-only** (the `language`
task): the context holds memory, value token and prompt, no image is drawn (`out.image` is None)
and the state's canvases stay empty.

`Brain.perceive` runs everything except the reply and returns the `Context`; `Brain.reply_logits`
decodes a reply from it (`generate` uses the pair to decode token by token without re-encoding).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from penguin.brain.config import PAD_ID, BrainConfig, preset
from penguin.brain.language import REPLY_POSITION_STD, TextDecoder, TextEncoder
from penguin.brain.layers import GatedReader, SelfAttentionStack, key_mask
from penguin.brain.memory import MemoryEncoder, push_canvas
from penguin.brain.state import BrainState
from penguin.brain.step import BrainOutput, BrainStep
from penguin.brain.kinds import KindVocabulary
from penguin.brain.vision import ImageDecoder, ImageEncoder


@dataclass(frozen=True)
class Context:
    """The tokens every reader reads, `[B, L, D]`, which of them are real keys, `[B, L]`, the
    prompt's summary `[B, D]` (the **question**; zeros without a prompt) and the per-channel
    maximum over the mixed image tokens `[B, D]` (the **glance**; zeros without an image), which
    the text decoder reads together on every reply position."""

    tokens: Tensor
    valid: Tensor
    question: Tensor
    glance: Tensor


class Brain(nn.Module):
    """The brain of one `BrainConfig`; see the module docstring for what a step does."""

    def __init__(self, config: BrainConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or BrainConfig()
        width = config.width
        self.image_encoder = ImageEncoder(config)
        self.image_decoder = ImageDecoder(config)
        self.token_embedding = nn.Embedding(config.vocab_size, width)
        # The head is tied to `token_embedding`; a free per-token bias lets frequent tokens (pad,
        # </s>) be likely without bending the shared embedding.
        self.vocab_bias = nn.Parameter(torch.zeros(config.vocab_size))
        self.text_encoder = TextEncoder(config)
        self.text_decoder = TextDecoder(config)
        self.context_encoder = SelfAttentionStack(
            config.context_encoder_layers, width, config.context_encoder_heads, config.mlp_ratio
        )
        self.memory_encoder = MemoryEncoder(config)
        # Row 0 tags the input image, row 1 + k canvas k: the same order as the selection logits.
        self.image_tags = nn.Parameter(torch.empty(1 + config.canvases, width))
        self.memory_tag = nn.Parameter(torch.empty(width))
        self.text_tag = nn.Parameter(torch.empty(width))
        # The value token is a learned vector already, so it needs no separate tag.
        self.value_token = nn.Parameter(torch.empty(width))
        self.value_head = nn.Sequential(
            nn.LayerNorm(width), nn.Linear(width, width), nn.GELU(), nn.Linear(width, 1)
        )
        self.selection_head = nn.Sequential(
            nn.LayerNorm(2 * width), nn.Linear(2 * width, width), nn.GELU(),
            nn.Linear(width, 1 + config.canvases),
        )
        # Names the question kind from the question alone (the `kind` loss term; step 5 above);
        # the vocabulary says which kind each of its classes stands for.
        self.kind_head = nn.Linear(width, config.question_kinds)
        self.kind_vocabulary = KindVocabulary(config.question_kinds)
        self.apply(initialise)
        for parameter in (self.image_tags, self.memory_tag, self.text_tag, self.value_token,
                          self.image_decoder.queries, self.text_encoder.positions,
                          self.memory_encoder.slot_queries):
            nn.init.trunc_normal_(parameter, std=INIT_STD)
        nn.init.trunc_normal_(self.text_decoder.positions, std=REPLY_POSITION_STD)

    @classmethod
    def from_preset(cls, name: str, **overrides) -> Brain:
        """A brain of preset `name` (`tiny64`, `small64`, `seed224`) with fields overridden."""
        return cls(preset(name, **overrides))

    def forward(self, step: BrainStep, state: BrainState) -> tuple[BrainOutput, BrainState]:
        """Run one step: the outputs, and the state to pass to the next step."""
        context, output, next_state = self.perceive(step, state)
        if step.reply_ids is not None:
            output = replace(output, text_logits=self.reply_logits(context, step.reply_ids))
        return output, next_state

    def perceive(
        self, step: BrainStep, state: BrainState
    ) -> tuple[Context, BrainOutput, BrainState]:
        """Everything a step does except decoding `step.reply_ids` (`text_logits` is None)."""
        self._check(step, state)
        config, batch = self.config, state.batch
        image, canvases, memory = step.image, state.canvases, state.memory
        if memory is None:
            memory = self.memory_tag.new_zeros(batch, config.memory_slots, config.width)

        if step.prompt_ids is None:
            prompt = prompt_valid = None
            prompt_summary = memory.new_zeros(batch, config.width)
        else:
            prompt_valid = step.prompt_ids != PAD_ID
            prompt = self.text_encoder(self.token_embedding(step.prompt_ids), prompt_valid)
            # The encoder is causal, so its last non-pad token has read the whole prompt.
            last = (prompt_valid.sum(dim=1) - 1).clamp(min=0)
            prompt_summary = prompt[torch.arange(batch, device=prompt.device), last]
        selection_logits = self._selection_logits(prompt_summary, memory, image is not None)

        # A text-only step (no input image, no canvases yet) has no image tokens and draws nothing.
        sees = image is not None or canvases is not None
        parts, valid = [], []
        if sees:
            mixed = self._mixed_image_tokens(image, canvases, selection_logits)
            if canvases is None:
                canvases = image[:, None].expand(-1, config.canvases, -1, -1, -1)
            parts.append(mixed)
        parts += [memory + self.memory_tag, self.value_token.expand(batch, 1, -1)]
        value_index = sum(p.shape[1] for p in parts) - 1
        valid.append(torch.ones(batch, value_index + 1, dtype=torch.bool, device=memory.device))
        if prompt is not None:
            parts.append(prompt + self.text_tag)
            valid.append(prompt_valid)
        tokens, context_valid = torch.cat(parts, dim=1), torch.cat(valid, dim=1)
        tokens = self.context_encoder(tokens, key_mask(context_valid))
        glance = mixed.amax(dim=1) if sees else torch.zeros_like(prompt_summary)
        context = Context(tokens, context_valid, prompt_summary, glance)

        predicted = self.image_decoder(mixed, tokens, context_valid) if sees else None
        output = BrainOutput(
            text_logits=None,
            prompt_logits=None if prompt is None else self._vocab_logits(prompt),
            image=predicted,
            value=self.value_head(tokens[:, value_index]).squeeze(-1),
            selection_logits=selection_logits,
            kind_logits=None if prompt is None else self.kind_head(prompt_summary),
        )
        next_state = BrainState(
            canvases=push_canvas(canvases, predicted) if sees else None,
            memory=self.memory_encoder(tokens, context_valid, memory),
            batch=batch,
            device=state.device,
        )
        return context, output, next_state

    def _selection_logits(self, prompt_summary: Tensor, memory: Tensor, has_image: bool) -> Tensor:
        """Logits `[B, 1 + C]` over [input, canvas 0 … C−1]; the input is −inf when absent."""
        logits = self.selection_head(torch.cat([prompt_summary, memory.mean(dim=1)], dim=-1))
        if has_image:
            return logits
        return torch.cat([torch.full_like(logits[:, :1], float("-inf")), logits[:, 1:]], dim=1)

    def _mixed_image_tokens(
        self, image: Tensor | None, canvases: Tensor | None, logits: Tensor
    ) -> Tensor:
        """The tagged features of input and canvases, mixed by `softmax(logits)`: `[B, grid², D]`."""
        if canvases is None:
            # A fresh state's canvases will be copies of the input: encode it once.
            features = self.image_encoder(image)[:, None].expand(-1, logits.shape[1], -1, -1)
        else:
            images = canvases if image is None else torch.cat(
                [image[:, None], canvases.to(image.dtype)], dim=1
            )
            features = self.image_encoder(images.flatten(0, 1)).unflatten(0, images.shape[:2])
        sources = features.shape[1]  # 1 + C, or C without an input image
        features = features + self.image_tags[-sources:, None, :]
        weights = logits.float().softmax(dim=-1)[:, -sources:].to(features.dtype)
        return torch.einsum("bs,bsnd->bnd", weights, features)

    def reply_logits(self, context: Context, reply_ids: Tensor) -> Tensor:
        """Logits `[B, Tr, V]` for `reply_ids [B, Tr]` read against `context`; t predicts t + 1."""
        self._check_ids("reply_ids", reply_ids, self.config.max_reply_len)
        if reply_ids.shape[0] != context.tokens.shape[0]:
            raise ValueError(
                f"reply_ids has batch {reply_ids.shape[0]} but the context has "
                f"{context.tokens.shape[0]}"
            )
        hidden = self.text_decoder(
            self.token_embedding(reply_ids), reply_ids != PAD_ID, context.tokens, context.valid,
            context.question, context.glance,
        )
        return self._vocab_logits(hidden)

    def _vocab_logits(self, hidden: Tensor) -> Tensor:
        return F.linear(hidden, self.token_embedding.weight, self.vocab_bias)

    def _check(self, step: BrainStep, state: BrainState) -> None:
        config = self.config
        for name, tensor in step.tensors().items():
            if tensor.shape[0] != state.batch:
                raise ValueError(f"{name} has batch {tensor.shape[0]} but the state has {state.batch}")
            if not _same_device(tensor.device, state.device):
                raise ValueError(f"{name} is on {tensor.device} but the state is on {state.device}")
        size = config.image_size
        if step.image is not None and tuple(step.image.shape[2:]) != (size, size):
            raise ValueError(
                f"image must be [B, 3, {size}, {size}] for this brain; got {list(step.image.shape)}"
            )
        if step.prompt_ids is not None:
            self._check_ids("prompt_ids", step.prompt_ids, config.max_prompt_len)
        if step.reply_ids is not None:
            self._check_ids("reply_ids", step.reply_ids, config.max_reply_len)
        if step.image is None and state.canvases is None and step.prompt_ids is None:
            raise ValueError("a step needs an image, a prompt, or a state that has seen an image")
        expected = {
            "canvases": (state.batch, config.canvases, 3, size, size),
            "memory": (state.batch, config.memory_slots, config.width),
        }
        for name, shape in expected.items():
            value = getattr(state, name)
            if value is not None and tuple(value.shape) != shape:
                raise ValueError(
                    f"state.{name} must be {list(shape)} for this brain; got {list(value.shape)}"
                )

    def _check_ids(self, name: str, ids: Tensor, max_len: int) -> None:
        if ids.shape[1] > max_len:
            raise ValueError(f"{name} has {ids.shape[1]} tokens; this brain takes at most {max_len}")
        # A meta tensor has no values to check. Under torch.compile the value check would break the
        # graph (and sync the device) every step; the tokenizer's ids are checked against the
        # vocabulary at setup (`BrainModule.setup`), so compiled steps skip it.
        if (ids.device.type != "meta" and not torch.compiler.is_compiling()
                and ((ids < 0) | (ids >= self.config.vocab_size)).any()):
            raise ValueError(
                f"{name} holds ids outside [0, {self.config.vocab_size}) (the vocabulary size)"
            )


def parameter_count(preset_name: str) -> int:
    """Parameters of preset `preset_name`, counted on a brain built on the `meta` device."""
    with torch.device("meta"):
        brain = Brain.from_preset(preset_name)
    return sum(parameter.numel() for parameter in brain.parameters())


INIT_STD = 0.02
"""The brain's initial weight scale: every linear layer, embedding, tag and learned query."""


def initialise(module: nn.Module) -> None:
    """The brain's initialisation of one module: truncated normal at `INIT_STD`, zero biases;
    a `GatedReader`'s two gates keep fan-in scale (`Module.apply` reaches it after its layers)."""
    if isinstance(module, GatedReader):
        module.reset_parameters()
    elif isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=INIT_STD)
        nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Embedding):
        nn.init.trunc_normal_(module.weight, std=INIT_STD)


def _same_device(a: torch.device, b: torch.device) -> bool:
    # torch.device("cuda") has no index and still means the tensor's cuda:N.
    return a.type == b.type and (a.index is None or b.index is None or a.index == b.index)
