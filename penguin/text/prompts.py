"""The task language's building blocks: a question kind, the rules every prompt set keeps, the actions.

Each task declares the question kinds it asks in its own file (``question_kinds`` on the task
class, see ``datamodules/base.py``); ``datamodules.registry.question_kinds()`` assembles them for
the whole project and checks the rules below across every task. A ``QuestionKind`` owns

- a small fixed **canonical** prompt set (2–4 prompts with clear trigger words) — the default;
- a richer **paraphrase** set, used with the task option ``paraphrases: true`` (opt-in: many
  free-form paraphrases make a question harder to learn);
- one canonical **answer** form per possible answer (empty for kinds whose target is an image);
- its **answer rule** in words (``rule``), in the vocabulary of ``docs/game.md``.

Usage::

    from penguin.text.prompts import QuestionKind
    NEAR_GOLD = QuestionKind("near_gold", rule="yes iff |gold - agent| < 0.15, else no",
                             canonical=("are you near the gold?", "is the gold close to you?"),
                             answers=("yes", "no"))
    NEAR_GOLD.prompts()                   # the canonical prompts
    NEAR_GOLD.expand(paraphrases=True)    # every concrete string, templates filled

Templates. A kind may hold a placeholder (``slot``, e.g. ``{action}`` in "what does {action}
mean?") whose values are ``slot_values``; ``expand`` fills it with every value.

Rules (``check_kinds``; a violation raises ``PromptRegistryError`` naming the kind and the prompt):

- a prompt string belongs to exactly one question kind (compared after lower-casing, collapsing
  whitespace and dropping trailing punctuation, on the expanded strings), and appears once in it —
  a prompt asked under two answer rules cannot be learned;
- no prompt holds two ``?`` (the tell-tale of two strings merged by a missing comma);
- placeholders name the kind's slot and nothing else; answers are distinct within a kind;
- every kind has at least one canonical prompt.

Direction words follow ``docs/game.md``: x grows to the right, y grows down; "left/right/up/down"
in a scene question are **image** directions, while "on your left / on your right" is relative to
the agent's heading.
"""
from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Iterable

# Action ids of docs/game.md. 3 = <clock> turns θ ← θ + π/30, which is clockwise in the image
# (y down); 4 = <anticlock> turns the other way. tests/test_text.py checks the two tables agree.
ACTION_NAMES: dict[int, str] = {1: "forward", 2: "backward", 3: "turn clockwise", 4: "turn anticlockwise"}
ACTION_TOKENS: dict[int, str] = {1: "<forward>", 2: "<backward>", 3: "<clock>", 4: "<anticlock>"}


class PromptRegistryError(ValueError):
    """A set of question kinds breaks one of the rules (duplicate prompt, merged strings, bad slot)."""


@dataclass(frozen=True)
class QuestionKind:
    """One question kind: how it is asked, what it may answer, and the rule.

    Attributes:
        name: the kind's name, unique across every task, e.g. ``"gold_left_right"``; it names the
            kind in metrics (``val/<task>/<kind>/exact_acc``) and in the brain's kind vocabulary.
        rule: the answer (or target) rule in words.
        canonical: the fixed prompt set used by default (at least one prompt).
        paraphrases: extra prompts used with ``paraphrases=True``.
        answers: the answer vocabulary, one canonical form per answer; empty when the target is an
            image.
        slot: the placeholder name templates use (``"{slot}"``), or ``None``.
        slot_values: every value the slot takes.
    """

    name: str
    rule: str
    canonical: tuple[str, ...]
    paraphrases: tuple[str, ...] = ()
    answers: tuple[str, ...] = ()
    slot: str | None = None
    slot_values: tuple[str, ...] = ()

    def prompts(self, paraphrases: bool = False) -> tuple[str, ...]:
        """The canonical prompts, plus the paraphrases when ``paraphrases`` is true (templates unfilled)."""
        return self.canonical + self.paraphrases if paraphrases else self.canonical

    def expand(self, paraphrases: bool = True) -> tuple[str, ...]:
        """Every concrete prompt string: templates filled with every slot value, in order."""
        out: list[str] = []
        for template in self.prompts(paraphrases):
            if self.slot is not None and "{" + self.slot + "}" in template:
                out.extend(template.format(**{self.slot: v}) for v in self.slot_values)
            else:
                out.append(template)
        return tuple(out)


def _normalise(text: str) -> str:
    return " ".join(text.lower().split()).rstrip(" ?.!:")


def check_kinds(kinds: Iterable[QuestionKind], owners: dict[str, str] | None = None) -> None:
    """Raise ``PromptRegistryError`` unless ``kinds`` keep the rules of this module's docstring.

    ``owners`` (kind name → task name), when given, lets the message name the tasks involved.
    """
    owners = owners or {}

    def where(name: str) -> str:
        return f"{name!r}" + (f" (task {owners[name]})" if name in owners else "")

    names: set[str] = set()
    seen: dict[str, str] = {}
    for kind in kinds:
        if kind.name in names:
            raise PromptRegistryError(f"question kind {where(kind.name)} is declared twice; kind names are "
                                      "unique across every task")
        names.add(kind.name)
        if not kind.canonical:
            raise PromptRegistryError(f"kind {where(kind.name)} has no canonical prompt")
        if len(set(kind.answers)) != len(kind.answers):
            raise PromptRegistryError(f"kind {where(kind.name)} repeats an answer: {kind.answers}")
        for template in kind.prompts(paraphrases=True):
            if template != template.strip() or "  " in template or not template:
                raise PromptRegistryError(f"kind {where(kind.name)}: stray whitespace in prompt {template!r}")
            if template.count("?") > 1:
                raise PromptRegistryError(f"kind {where(kind.name)}: prompt {template!r} holds two '?' "
                                          "(a missing comma merged two prompts?)")
            fields = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
            if fields - ({kind.slot} if kind.slot else set()):
                raise PromptRegistryError(
                    f"kind {where(kind.name)}: prompt {template!r} uses placeholders {sorted(fields)}; "
                    f"only {{{kind.slot}}} is allowed" if kind.slot else
                    f"kind {where(kind.name)}: prompt {template!r} has a placeholder but the kind has no slot")
        for text in kind.expand(paraphrases=True):
            norm = _normalise(text)
            if norm in seen:
                place = "twice in" if seen[norm] == kind.name else f"in {where(seen[norm])} and in"
                raise PromptRegistryError(f"prompt {text!r} appears {place} {where(kind.name)}; "
                                          "a prompt belongs to exactly one question kind")
            seen[norm] = kind.name


def task_language(kinds: Iterable[QuestionKind]) -> tuple[str, ...]:
    """Every string of the task language of ``kinds``, deduplicated in a fixed order.

    Holds every expanded prompt and paraphrase, every answer and slot value, and every action
    name and token (the tokenizer's core corpus, ``penguin.text.build_tokenizer``).
    """
    seen: dict[str, None] = {}
    for kind in kinds:
        for text in kind.expand(paraphrases=True) + kind.answers + kind.slot_values:
            seen.setdefault(text, None)
    for a in sorted(ACTION_NAMES):
        seen.setdefault(ACTION_NAMES[a], None)
        seen.setdefault(ACTION_TOKENS[a], None)
    return tuple(seen)
