"""Procedural English about game scenes: the control sentences and the language-modelling corpus.

The corpus is generated, so no task depends on a file that can go missing: short sentences ("the gold is to the left of the agent.",
"a black wall stands near the top of the room.", "the agent turns clockwise twice and walks
forward.") from templates × word choices — tens of thousands of distinct sentences, each at most
about 20 tokens. The sentences use the game's words with the game's meanings (left/right/up/down
are image directions, "on its left" is relative to the heading, clockwise is as seen in the
image) but are *not* tied to any particular scene: they teach the language, not the answers.

Usage::

    g = torch.Generator().manual_seed(0)
    sentences(g, 3)                      # deterministic per generator state
    pool = SentencePool.procedural(tok, n=4096, max_len=24, seed=0)   # pre-tokenised rows
    pool = SentencePool.from_file("my_sentences.txt", tok, max_len=24)
    ids = pool.ids[pool.draw(g, batch_size)]    # [B, 24] rows "<s> sentence"

A user file holds one sentence a line (blank lines are skipped). An empty or missing file is a
``ValueError`` naming the path; a sentence longer than ``max_len`` raises ``TokenOverflowError``
unless ``truncate=True``.
"""
from __future__ import annotations

import string
from pathlib import Path
from typing import Sequence

import torch

from penguin.text.tokenizer import PromptTable, Tokenizer

# Slot vocabularies. A value may carry its own agreement ("one gold coin" / "two gold coins").
_WORDS: dict[str, tuple[str, ...]] = {
    "object": ("the gold", "the gold coin", "the agent", "the green agent", "the wall", "the black wall",
               "the blue line", "the red eye", "the exit"),
    "thing": ("the gold", "the gold coin", "the wall", "the exit", "the corner", "the blue line",
              "the middle of the room"),
    "relation": ("to the left of", "to the right of", "above", "below", "near", "far from", "next to",
                 "close to", "straight ahead of", "behind"),
    "region": ("top", "bottom", "left side", "right side", "middle", "top left corner", "top right corner",
               "bottom left corner", "bottom right corner", "centre"),
    "wall_kind": ("a black wall", "a long wall", "a short wall", "a thick wall", "an inner wall", "a side wall"),
    "wall_verb": ("stands", "runs", "lies", "rises"),
    "turn": ("clockwise", "anticlockwise"),
    "times": ("once", "twice", "three times", "a little", "a lot", "five times", "ten times"),
    "walk": ("walks forward", "walks backward", "takes one step forward", "takes two steps forward",
             "steps back", "moves ahead", "stops"),
    "count": ("no gold", "one gold coin", "two gold coins", "a single gold coin", "some gold"),
    "wall_count": ("four walls", "five walls", "six walls", "two inner walls", "one inner wall", "no inner wall"),
    "heading": ("right", "left", "up", "down", "toward the gold", "away from the gold", "at the wall",
                "toward the exit", "into the corner"),
    "side": ("on the agent's left", "on the agent's right", "in front of the agent", "behind the agent"),
    "side_turn": ("on the agent's left, so the agent turns anticlockwise",
                  "on the agent's right, so the agent turns clockwise"),
    "size": ("small", "tiny", "round", "bright", "yellow", "shiny"),
    "agent_size": ("big", "round", "green", "large"),
    "speed": ("slowly", "quickly", "carefully", "steadily"),
    "number": ("two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "twenty"),
    "colour": ("green", "red", "black", "white", "blue", "gold"),
    "shape": ("disc", "circle", "rectangle", "line", "dot", "square"),
    "view": ("the whole room", "a close up of the gold", "a close up of the agent", "the corner of a wall",
             "the room from above", "the middle of the room"),
    "closer": ("closer to", "further from", "nearer to", "farther from"),
    "feeling": ("wants", "tries", "hopes", "plans"),
}

_TEMPLATES: tuple[str, ...] = (
    "{object} is {relation} {thing}.",
    "the gold is {relation} the agent.",
    "the agent is {relation} {thing}.",
    "{wall_kind} {wall_verb} near the {region} of the room.",
    "the agent turns {turn} {times} and {walk}.",
    "the agent {walk} and turns {turn} {times}.",
    "the room holds {count}.",
    "the room has {wall_count} and {count}.",
    "the agent faces {heading}.",
    "the agent looks {heading} and {walk}.",
    "the gold is {side}.",
    "the gold lies {side_turn}.",
    "a {size} gold coin sits near the {region} of the room.",
    "the {agent_size} agent has a red eye that points {heading}.",
    "the agent moves {speed} {closer} the gold.",
    "after {number} steps the agent reaches the gold.",
    "the agent needs {number} moves to collect the gold.",
    "the {colour} {shape} is in the {region} of the picture.",
    "this image shows {view}.",
    "the agent {feeling} to get {closer} the gold.",
    "the blue line points {heading}.",
    "the exit is a gap in the wall at the {region}.",
    "if the agent walks straight ahead, it reaches {thing}.",
    "the agent turns {turn} until it faces the gold.",
    "{object} is {relation} {thing}, near the {region}.",
    "the agent turns {turn} {times}, then {walk}.",
    "{wall_kind} {wall_verb} {relation} the {colour} {shape}.",
    "the {agent_size} agent {walk} {speed} toward the {region}.",
    "the {size} gold is {relation} the {colour} {shape}.",
    "seen from above, {object} is near the {region}.",
)

_SLOTS = tuple(tuple(f for _, f, _, _ in string.Formatter().parse(t) if f) for t in _TEMPLATES)
_MAX_SLOTS = max(len(s) for s in _SLOTS)


def _variety(slots: Sequence[str]) -> int:
    count = 1
    for slot in set(slots):
        count *= len(_WORDS[slot])
    return count


# Templates with more combinations are drawn more often (∝ √variety), so the corpus is not
# dominated by repeats of the small templates.
_TEMPLATE_WEIGHTS = torch.tensor([_variety(s) ** 0.5 for s in _SLOTS], dtype=torch.float64)


def sentences(generator: torch.Generator, n: int) -> list[str]:
    """``n`` procedural sentences, a pure function of the generator's state (which it advances).

    Each sentence picks a template (with probability ∝ √(its number of combinations)) and each
    of its slots uniformly; repeats are possible (``corpus_size()`` distinct sentences exist).
    """
    if n < 0:
        raise ValueError(f"sentences: n={n} must be >= 0")
    if n == 0:
        return []
    which = torch.multinomial(_TEMPLATE_WEIGHTS, n, replacement=True, generator=generator).tolist()
    picks = torch.rand(n, _MAX_SLOTS, generator=generator, dtype=torch.float64).tolist()
    out = []
    for t, u in zip(which, picks):
        values = {}
        for slot, x in zip(_SLOTS[t], u):
            choices = _WORDS[slot]
            values[slot] = choices[min(int(x * len(choices)), len(choices) - 1)]
        out.append(_TEMPLATES[t].format(**values))
    return out


def corpus_size() -> int:
    """Number of distinct sentences the templates can produce (an upper bound on variety)."""
    return sum(_variety(s) for s in _SLOTS)


class SentencePool(PromptTable):
    """A pre-tokenised pool of sentences: ``ids [N, max_len]`` rows datamodules draw by index.

    Rows are framed like prompts (``<s> sentence``, right-padded) so a control sentence feeds the
    brain's text encoder exactly like a question; pass ``role="reply"`` for ``<sep> sentence </s>``
    rows or ``"plain"`` for bare ids.
    """

    def __init__(self, tokenizer: Tokenizer, sentences: Sequence[str], max_len: int, *,
                 role: str = "prompt", truncate: bool = False):
        if not sentences:
            raise ValueError("SentencePool needs at least one sentence")
        super().__init__(tokenizer, sentences, max_len, role=role, truncate=truncate)

    @classmethod
    def procedural(cls, tokenizer: Tokenizer, n: int, max_len: int, *, seed: int = 0,
                   role: str = "prompt", truncate: bool = False) -> "SentencePool":
        """A pool of ``n`` procedural sentences drawn with ``torch.Generator().manual_seed(seed)``."""
        return cls(tokenizer, sentences(torch.Generator().manual_seed(seed), n), max_len,
                   role=role, truncate=truncate)

    @classmethod
    def from_file(cls, path: str | Path, tokenizer: Tokenizer, max_len: int, *,
                  role: str = "prompt", truncate: bool = False) -> "SentencePool":
        """A pool of the sentences in a UTF-8 text file, one a line (blank lines skipped).

        Missing, unreadable or empty file → ``ValueError`` naming the path. A sentence longer
        than ``max_len`` (specials included) → ``TokenOverflowError`` unless ``truncate=True``.
        """
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            raise ValueError(f"cannot read sentence file {path}: {reason}") from None
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        if not lines:
            raise ValueError(f"sentence file {path} holds no sentences (one sentence a line expected)")
        return cls(tokenizer, lines, max_len, role=role, truncate=truncate)

    @classmethod
    def of(cls, tokenizer: Tokenizer, max_len: int, *, sentences_file: str | Path | None = None,
           pool_size: int = 4096, seed: int = 0, truncate: bool = False) -> "SentencePool":
        """The sentences of ``sentences_file`` if given, else ``pool_size`` procedural ones drawn
        with ``seed`` — the sentence options of the ``language`` and ``control`` tasks."""
        if sentences_file is not None:
            return cls.from_file(sentences_file, tokenizer, max_len, truncate=truncate)
        return cls.procedural(tokenizer, pool_size, max_len, seed=seed, truncate=truncate)

    def draw(self, generator: torch.Generator, n: int) -> torch.Tensor:
        """``n`` uniform row indices (LongTensor) into this pool: ``pool.ids[pool.draw(g, n)]``."""
        return torch.randint(len(self), (n,), generator=generator)
