"""`generate`: let the brain write its reply to a step, token by token.

    ids = generate(brain, BrainStep(image=images, prompt_ids=prompt), state,
                   sep_id=tokenizer.sep_id, eos_id=tokenizer.eos_id, max_len=16)
    # ids: long [B, L ≤ 16], e.g. [[yes, </s>, <pad>, …], [no, </s>, …]]

- The brain perceives the step once (image encoders, context, memory); only the text decoder runs
  per token, on the reply so far, starting from `<sep>` (the reply contract is
  `<sep> answer </s>`). The returned ids are what follows `<sep>`: the answer, then `</s>`.
- `temperature == 0` picks the most likely token (greedy, deterministic). `temperature > 0` samples
  from `softmax(logits / temperature)` using `generator` (a `torch.Generator` on the brain's device;
  the same seed gives the same reply).
- A sample stops after it emits `</s>`; its later positions hold the pad id 0. Generation stops as
  soon as every sample has stopped, or after `max_len` tokens (then a sample may lack `</s>`), so
  `L` is at most `max_len`. `max_len` may not exceed `config.max_reply_len` (the decoder's input
  `<sep> + L − 1` tokens must fit its positions).
- Any vocabulary id may come out, action tokens included; nothing is filtered.
- The state is read, not advanced: run `brain(step, state)` for the next state. Gradients are
  off; put the brain in `eval()` yourself if it ever gains dropout.

The beginning-of-sequence id is not needed: `<s>` belongs to the prompt, which the step holds.
"""
from __future__ import annotations

import torch
from torch import Tensor

from penguin.brain.brain import Brain
from penguin.brain.config import PAD_ID
from penguin.brain.state import BrainState
from penguin.brain.step import BrainStep


@torch.no_grad()
def generate(
    brain: Brain,
    step: BrainStep,
    state: BrainState,
    *,
    sep_id: int,
    eos_id: int,
    max_len: int,
    temperature: float = 0.0,
    generator: torch.Generator | None = None,
) -> Tensor:
    """The reply ids `[B, L ≤ max_len]` the brain writes for `step` (which has no `reply_ids`)."""
    vocab = brain.config.vocab_size
    if step.reply_ids is not None:
        raise ValueError("generate writes the reply itself; pass a step without reply_ids")
    if not 1 <= max_len <= brain.config.max_reply_len:
        raise ValueError(
            f"max_len must be in [1, {brain.config.max_reply_len}] (the brain's max_reply_len); "
            f"got {max_len}"
        )
    if temperature < 0:
        raise ValueError(f"temperature must be ≥ 0; got {temperature}")
    for name, token in (("sep_id", sep_id), ("eos_id", eos_id)):
        if not 0 <= token < vocab:
            raise ValueError(f"{name} {token} is outside the vocabulary [0, {vocab})")

    context, _, _ = brain.perceive(step, state)
    batch, device = state.batch, context.tokens.device
    reply = torch.full((batch, 1), sep_id, dtype=torch.long, device=device)
    finished = torch.zeros(batch, dtype=torch.bool, device=device)
    written = []
    for _ in range(max_len):
        logits = brain.reply_logits(context, reply)[:, -1].float()
        if temperature == 0:
            token = logits.argmax(dim=-1)
        else:
            probabilities = (logits / temperature).softmax(dim=-1)
            token = torch.multinomial(probabilities, 1, generator=generator).squeeze(1)
        token = token.masked_fill(finished, PAD_ID)
        written.append(token)
        finished = finished | (token == eos_id)
        if bool(finished.all()):
            break
        reply = torch.cat([reply, token[:, None]], dim=1)
    return torch.stack(written, dim=1)
