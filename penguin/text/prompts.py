"""The task language: every prompt the brain is asked and every answer it may give, in one registry.

Text is teacher-forced as ``<s> prompt <sep> answer </s>`` (see ``penguin.text.tokenizer``). Each
*question kind* below owns

- a small fixed **canonical** prompt set (2–4 prompts with clear trigger words) — the default;
- a richer **paraphrase** set, switched on with ``prompts(kind, paraphrases=True)`` (the original
  author found that many free-form paraphrases made learning hard, so they are opt-in);
- one canonical **answer** form per possible answer (empty for kinds whose target is an image);
- its **answer rule** in words (``QuestionKind.rule``), in the vocabulary of GAME.md.

Usage::

    from penguin.text.prompts import prompts, answers, QUESTION_KINDS
    prompts("gold_left_right")                  # ('is the gold left or right of you?', ...)
    answers("gold_left_right")                  # ('left', 'right')
    QUESTION_KINDS["gold_left_right"].rule      # 'left iff gold.x < agent.x (image directions) ...'
    kinds_of_task("side_qa")                    # the four side_qa kinds

Templates. A few kinds hold a placeholder (``QuestionKind.slot``): ``action_to_name`` (``{action}``,
an action token), ``name_to_action`` (``{name}``, an action name), ``imagine_after_move``
(``{move}``, a phrase of ``verbal_moves()``), ``recall`` (``{ago}``; use ``recall_prompts(k)``) and
``solve_game`` (``{moves}``; fill with ``moves_text(actions)``). Fill them with ``str.format``;
``expand(kind)`` lists every concrete string of a kind.

Rules enforced at import (``check_registry``; a violation raises ``PromptRegistryError``):

- a prompt string belongs to exactly one question kind (compared after lower-casing, collapsing
  whitespace and dropping trailing punctuation, on the expanded strings), and appears once in it —
  the original asked the same prompt under two answer rules several times;
- "turn away" prompts are written out on their own, never derived from the "turn toward" lists;
- no prompt holds two ``?`` (the tell-tale of two strings merged by a missing comma);
- placeholders name the kind's slot and nothing else; answers are distinct within a kind.

Direction words follow GAME.md: x grows to the right, y grows down; "left/right/up/down" in a
scene question are **image** directions, while "on your left / on your right" is relative to the
agent's heading (its own kind, ``gold_on_your_side``).
"""
from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Iterable, Mapping

# GAME.md action ids. 3 = <clock> turns θ ← θ + π/30, which is clockwise in the image (y down);
# 4 = <anticlock> turns the other way. (The original answered an action name with the opposite
# token; tests check these two tables against each other.)
ACTION_NAMES: dict[int, str] = {1: "forward", 2: "backward", 3: "turn clockwise", 4: "turn anticlockwise"}
ACTION_TOKENS: dict[int, str] = {1: "<forward>", 2: "<backward>", 3: "<clock>", 4: "<anticlock>"}

# Rotation steps per verbal turn (each step is π/30, GAME.md).
TURN_A_LITTLE = 5
TURN_A_LOT = 10
TURN_AROUND = 30  # 30 · π/30 = π; done clockwise (a pure rotation never collides, so the side is moot)


class PromptRegistryError(ValueError):
    """The prompt registry breaks one of its rules (duplicate prompt, merged strings, bad slot)."""


@dataclass(frozen=True)
class QuestionKind:
    """One question kind: who owns it, how it is asked, what it may answer, and the rule.

    Attributes:
        name: registry key, e.g. ``"gold_left_right"``.
        task: the datamodule (TASKS.md name) that owns the kind, e.g. ``"side_qa"``.
        rule: the answer (or target) rule in words.
        canonical: the fixed prompt set used by default (2–4 prompts; empty only for ``control``).
        paraphrases: extra prompts added by ``prompts(kind, paraphrases=True)``.
        answers: the answer vocabulary, one canonical form per answer; empty when the target is an
            image (or nothing, as for ``compare_intro``).
        slot: the placeholder name templates use (``"{slot}"``), or ``None``.
        slot_values: the values the slot takes — complete for closed slots; for ``solve_game``
            (any move sequence) a representative sample used for checks and tokenizer coverage.
    """

    name: str
    task: str
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


def verbal_moves() -> tuple[tuple[str, tuple[int, ...]], ...]:
    """The verbal moves of ``imagine_after_move``: ``(phrase, action ids)`` pairs, executed in order.

    A turn part ("turn a little clockwise" = 5 × ``<clock>``, "a lot" = 10, "turn around" = 30
    clockwise turns = π) is optionally followed by a walk part ("take one step forward" = 1 ×
    ``<forward>``, up to three steps); either part alone is a move too. 23 phrases, e.g.
    ``("turn a lot anticlockwise and take two steps forward", (4,)*10 + (1,)*2)``.
    """
    turns = [
        ("", ()),
        ("turn a little clockwise", (3,) * TURN_A_LITTLE),
        ("turn a little anticlockwise", (4,) * TURN_A_LITTLE),
        ("turn a lot clockwise", (3,) * TURN_A_LOT),
        ("turn a lot anticlockwise", (4,) * TURN_A_LOT),
        ("turn around", (3,) * TURN_AROUND),
    ]
    walks = [
        ("", ()),
        ("take one step forward", (1,)),
        ("take two steps forward", (1,) * 2),
        ("take three steps forward", (1,) * 3),
    ]
    moves = []
    for turn_phrase, turn_actions in turns:
        for walk_phrase, walk_actions in walks:
            if not turn_phrase and not walk_phrase:
                continue
            phrase = " and ".join(p for p in (turn_phrase, walk_phrase) if p)
            moves.append((phrase, turn_actions + walk_actions))
    return tuple(moves)


def moves_text(actions: Iterable[int]) -> str:
    """The ``{moves}`` filler of ``solve_game``: action tokens back to back, ``""`` for no moves.

    Because special tokens are split off before byte-level encoding, the ids of a filled
    ``solve_game`` prompt are exactly the ids of the empty-moves prompt followed by one action id
    per move — a datamodule can build them from a ``PromptTable`` row and ``Tokenizer.action_id``.
    """
    out = []
    for a in actions:
        if a not in ACTION_TOKENS:
            raise ValueError(f"moves_text: action {a!r} is not one of {sorted(ACTION_TOKENS)} (GAME.md ids)")
        out.append(ACTION_TOKENS[a])
    return "".join(out)


_AGO = ("one step ago", "two steps ago", "three steps ago")
_SOLVE_EXAMPLES = ("", "<forward>", "<clock>", "<anticlock>", "<clock><clock>", "<anticlock><forward><forward>")
_YES_NO = ("yes", "no")
_TURN_TOKENS = (ACTION_TOKENS[3], ACTION_TOKENS[4])


def _kinds(*kinds: QuestionKind) -> dict[str, QuestionKind]:
    return {k.name: k for k in kinds}


QUESTION_KINDS: dict[str, QuestionKind] = _kinds(
    # ---------------------------------------------------------------- side_qa (image directions)
    QuestionKind(
        "gold_left_right", "side_qa",
        "left iff gold.x < agent.x, else right (image directions; ties have probability zero)",
        ("is the gold left or right of you?",
         "in the image, is the gold left or right of you?"),
        ("looking at the picture, is the gold left or right of you?",
         "horizontally, is the gold left or right of you?",
         "is the gold to the left or to the right of you in the image?"),
        ("left", "right"),
    ),
    QuestionKind(
        "gold_up_down", "side_qa",
        "up iff gold.y < agent.y, else down (image directions, y grows down)",
        ("is the gold up or down from you?",
         "in the image, is the gold above or below you?"),
        ("looking at the picture, is the gold above or below you?",
         "vertically, is the gold up or down from you?",
         "is the gold higher or lower than you in the image?"),
        ("up", "down"),
    ),
    QuestionKind(
        "agent_left_right", "side_qa",
        "left iff agent.x < gold.x, else right (image directions: the mirror of gold_left_right)",
        ("are you left or right of the gold?",
         "in the image, are you left or right of the gold?"),
        ("looking at the picture, are you left or right of the gold?",
         "horizontally, are you left or right of the gold?",
         "are you to the left or to the right of the gold in the image?"),
        ("left", "right"),
    ),
    QuestionKind(
        "agent_up_down", "side_qa",
        "up iff agent.y < gold.y, else down (image directions: the mirror of gold_up_down)",
        ("are you up or down from the gold?",
         "in the image, are you above or below the gold?"),
        ("looking at the picture, are you above or below the gold?",
         "vertically, are you up or down from the gold?",
         "are you higher or lower than the gold in the image?"),
        ("up", "down"),
    ),
    # ---------------------------------------------------------------- egocentric_side_qa
    QuestionKind(
        "gold_on_your_side", "egocentric_side_qa",
        "relative to the heading θ: right iff (φ_gold − θ) mod 2π ∈ (0, π), i.e. the gold lies "
        "clockwise of the heading (the agent's right is θ + π/2 with y down); left otherwise; gold "
        "dead ahead or behind is a tie the task rejects",
        ("relative to your heading, is the gold on your left or on your right?",
         "as you face now, is the gold on your left or on your right?"),
        ("from your own point of view, is the gold on your left or on your right?",
         "from where you are looking, is the gold on your left or on your right?",
         "is the gold on your left hand side or on your right hand side?"),
        ("left", "right"),
    ),
    # ---------------------------------------------------------------- yes/no predicates
    QuestionKind(
        "facing_gold", "facing_gold_qa",
        "yes iff facing_gold: f > 0 and |l| < r_a + r_g, with (f, l) = gold − agent in the agent "
        "frame (walls ignored); no otherwise",
        ("are you facing the gold?",
         "is the gold straight ahead of you?"),
        ("are you looking at the gold?",
         "do you face the gold?",
         "is your eye pointed at the gold?"),
        _YES_NO,
    ),
    QuestionKind(
        "near_gold", "near_gold_qa",
        "yes iff near: |gold − agent| < 0.15; no otherwise",
        ("are you near the gold?",
         "is the gold close to you?"),
        ("are you close to the gold?",
         "is the gold near you?",
         "is the gold nearby?"),
        _YES_NO,
    ),
    QuestionKind(
        "facing_line", "line_facing_qa",
        "yes iff facing_line(φ): the circular difference |φ − θ| < π/6, φ the blue line's angle; "
        "no otherwise",
        ("are you facing the line?",
         "is the blue line in front of you?"),
        ("are you looking along the line?",
         "do you face the blue line?",
         "does the line point where you are looking?"),
        _YES_NO,
    ),
    # ---------------------------------------------------------------- turn_qa (tokens)
    QuestionKind(
        "turn_to_gold", "turn_qa",
        "<clock> iff turn_toward(φ_gold) is clockwise: (φ_gold − θ) mod 2π < π; <anticlock> "
        "otherwise; near-ties (within π/30 of 0 or π) are rejected by the task",
        ("which way should you turn to face the gold?",
         "turn to face the gold: which way?"),
        ("how do you turn toward the gold?",
         "which turn brings you to face the gold?",
         "to look at the gold, which way do you turn?"),
        _TURN_TOKENS,
    ),
    QuestionKind(
        "turn_away_from_gold", "turn_qa",
        "the inverse of turn_to_gold: <anticlock> iff (φ_gold − θ) mod 2π < π, <clock> otherwise "
        "(turning away means bringing θ + π onto φ_gold); near-ties rejected",
        ("which way should you turn to face away from the gold?",
         "turn your back to the gold: which way?"),
        ("how do you turn away from the gold?",
         "which turn puts the gold behind you?",
         "to look away from the gold, which way do you turn?"),
        _TURN_TOKENS,
    ),
    QuestionKind(
        "turn_to_line", "turn_qa",
        "<clock> iff turn_toward(φ_line) is clockwise: (φ_line − θ) mod 2π < π; <anticlock> "
        "otherwise; near-ties rejected",
        ("which way should you turn to face the line?",
         "turn to face the line: which way?"),
        ("how do you turn toward the line?",
         "which turn brings you to face the line?",
         "to look along the line, which way do you turn?"),
        _TURN_TOKENS,
    ),
    QuestionKind(
        "turn_away_from_line", "turn_qa",
        "the inverse of turn_to_line: <anticlock> iff (φ_line − θ) mod 2π < π, <clock> otherwise; "
        "near-ties rejected",
        ("which way should you turn to face away from the line?",
         "turn your back to the line: which way?"),
        ("how do you turn away from the line?",
         "which turn puts the line behind you?",
         "to look away from the line, which way do you turn?"),
        _TURN_TOKENS,
    ),
    # ---------------------------------------------------------------- next_move_qa
    QuestionKind(
        "straight_collects", "next_move_qa",
        "yes iff facing_gold (going straight ahead collects it; bare scenes have no wall between "
        "agent and gold); no otherwise",
        ("will going straight collect the gold?",
         "if you walk straight ahead, will you collect the gold?"),
        ("does walking forward get you the gold?",
         "will moving forward reach the gold?",
         "can you collect the gold by going straight?"),
        _YES_NO,
    ),
    QuestionKind(
        "turn_toward_gold_word", "next_move_qa",
        "clockwise iff (φ_gold − θ) mod 2π < π, anticlockwise otherwise — the rule of turn_to_gold, "
        "answered in words; near-ties rejected",
        ("in words, which way do you turn toward the gold?",
         "clockwise or anticlockwise toward the gold?"),
        ("name the direction to turn toward the gold.",
         "say in words how to turn toward the gold.",
         "should you turn clockwise or anticlockwise toward the gold?"),
        ("clockwise", "anticlockwise"),
    ),
    QuestionKind(
        "next_move", "next_move_qa",
        "greedy_move: <forward> if facing_gold, else the turn toward the gold (<clock> iff "
        "(φ_gold − θ) mod 2π < π, else <anticlock>)",
        ("what is your next move?",
         "what should you do next?"),
        ("which move comes next?",
         "choose your next move.",
         "what is the best next move?"),
        (ACTION_TOKENS[1], ACTION_TOKENS[3], ACTION_TOKENS[4]),
    ),
    # ---------------------------------------------------------------- action_names
    QuestionKind(
        "action_to_name", "action_names",
        "the name of the action token in {action}: ACTION_NAMES[a] for ACTION_TOKENS[a] "
        "(<forward> → forward, <backward> → backward, <clock> → turn clockwise, <anticlock> → "
        "turn anticlockwise); the scene is ignored",
        ("what does {action} mean?",
         "name the action {action}."),
        ("what is the name of {action}?",
         "say the name of the move {action}.",
         "{action} means what?"),
        tuple(ACTION_NAMES[a] for a in sorted(ACTION_NAMES)),
        slot="action",
        slot_values=tuple(ACTION_TOKENS[a] for a in sorted(ACTION_TOKENS)),
    ),
    QuestionKind(
        "name_to_action", "action_names",
        "the action token named in {name}: ACTION_TOKENS[a] for ACTION_NAMES[a]; the scene is ignored",
        ("which token means {name}?",
         "give the token for {name}."),
        ("what is the action token for {name}?",
         "write the move {name} as a token.",
         "how do you write {name} as an action?"),
        tuple(ACTION_TOKENS[a] for a in sorted(ACTION_TOKENS)),
        slot="name",
        slot_values=tuple(ACTION_NAMES[a] for a in sorted(ACTION_NAMES)),
    ),
    # ---------------------------------------------------------------- arrow
    QuestionKind(
        "draw_line_to_gold", "arrow",
        "target: the same scene with the line to the gold drawn (agent rim → gold rim)",
        ("draw the line from you to the gold",
         "draw a line to the gold"),
        ("connect yourself to the gold with a line",
         "show the line from you to the gold",
         "mark the way to the gold with a line"),
    ),
    QuestionKind(
        "copy_scene", "arrow",
        "target: the input scene itself (plain reconstruction)",
        ("show the room",
         "copy the scene"),
        ("draw the room as it is",
         "reproduce the picture",
         "show the scene again"),
    ),
    # ---------------------------------------------------------------- control
    QuestionKind(
        "control", "control",
        "no fixed prompt: the prompt is a control sentence from penguin.text.corpus (language "
        "modelling); target: the input image",
        (),
    ),
    # ---------------------------------------------------------------- zoom
    QuestionKind(
        "zoom_agent", "zoom",
        "target: the view zoomed ×6 on the agent's centre",
        ("zoom in on you",
         "zoom on the agent"),
        ("show a close up of you",
         "magnify the area around you",
         "zoom in on the agent"),
    ),
    QuestionKind(
        "zoom_gold", "zoom",
        "target: the view zoomed ×8 on the gold's centre",
        ("zoom in on the gold",
         "zoom on the gold"),
        ("show a close up of the gold",
         "magnify the area around the gold",
         "zoom right in on the gold"),
    ),
    QuestionKind(
        "zoom_midpoint", "zoom",
        "target: the view zoomed ×2 on the midpoint between agent and gold",
        ("zoom in between you and the gold",
         "zoom on the midpoint between you and the gold"),
        ("show a close up of the space between you and the gold",
         "magnify the middle between you and the gold"),
    ),
    # ---------------------------------------------------------------- imagine_without
    QuestionKind(
        "imagine_without_agent", "imagine_without",
        "target: the scene rendered with the agent hidden",
        ("imagine the room without you",
         "show the room without the agent"),
        ("picture the room with you removed",
         "what does the room look like without you?"),
    ),
    QuestionKind(
        "imagine_without_gold", "imagine_without",
        "target: the scene rendered with the gold hidden",
        ("imagine the room without the gold",
         "show the room without the gold"),
        ("picture the room with the gold removed",
         "what does the room look like without the gold?"),
    ),
    QuestionKind(
        "imagine_without_walls", "imagine_without",
        "target: the scene rendered with the walls hidden",
        ("imagine the room without walls",
         "show the room without walls"),
        ("picture the room with the walls removed",
         "what does the room look like without walls?"),
    ),
    QuestionKind(
        "imagine_walls_only", "imagine_without",
        "target: the scene rendered with agent and gold hidden (walls only)",
        ("imagine the room with walls only",
         "show only the walls"),
        ("picture the empty room with just its walls",
         "what do the walls alone look like?"),
    ),
    # ---------------------------------------------------------------- imagine (Frameworks II)
    QuestionKind(
        "imagine_after_move", "imagine_after_move",
        "target: the scene after executing the actions of the verbal move {move} in order, with "
        "physics (see verbal_moves())",
        ("imagine you {move}",
         "show the room after you {move}"),
        ("picture the room once you {move}",
         "what will you see after you {move}?"),
        slot="move",
        slot_values=tuple(p for p, _ in verbal_moves()),
    ),
    QuestionKind(
        "imagine_closer", "imagine_closer",
        "target: the agent moved to the midpoint between agent and gold, heading toward the gold",
        ("imagine being halfway to the gold, facing it",
         "show yourself halfway to the gold, facing it"),
        ("picture yourself halfway to the gold and facing it",
         "what would you see halfway to the gold, facing it?"),
    ),
    QuestionKind(
        "imagine_facing", "imagine_facing",
        "target: the same position with the heading turned toward the gold",
        ("imagine facing the gold",
         "show yourself facing the gold"),
        ("picture yourself turned toward the gold",
         "what would you see if you faced the gold?"),
    ),
    QuestionKind(
        "recall", "recall",
        "target: the image the brain saw k steps before the current one; k = 0 is the current "
        "view, k = 1..3 fill {ago} — pick prompts with recall_prompts(k)",
        ("show the current view",
         "show the view from {ago}"),
        ("show what you see now",
         "show what you saw {ago}"),
        slot="ago",
        slot_values=_AGO,
    ),
    QuestionKind(
        "solve_game", "full_move",
        "greedy_move of the current scene: <forward> if facing_gold, else the turn toward the gold; "
        "{moves} is moves_text(moves so far)",
        ("solve the game. moves so far:{moves}",
         "collect the gold. moves so far:{moves}"),
        ("play to win. moves so far:{moves}",
         "go and get the gold. moves so far:{moves}"),
        (ACTION_TOKENS[1], ACTION_TOKENS[3], ACTION_TOKENS[4]),
        slot="moves",
        slot_values=_SOLVE_EXAMPLES,
    ),
    QuestionKind(
        "compare_intro", "compare",
        "first step of compare: announces the pair; no answer",
        ("two scenes are coming",
         "you will see two scenes"),
        ("here is the first of two scenes",
         "remember this scene, another one follows"),
    ),
    QuestionKind(
        "compare_which", "compare",
        "first iff the first scene's greedy_trace is shorter than the second's, else second (ties "
        "and stuck traces are rejected by the task)",
        ("which one is better?",
         "which scene is better, the first or the second?"),
        ("in which scene is the gold easier to reach?",
         "which scene needs fewer moves?"),
        ("first", "second"),
    ),
    QuestionKind(
        "readout_closer", "readout_closer",
        "no target image: the read-out of the prediction must keep the radii and the gold, and put "
        "the agent closer to the gold",
        ("imagine yourself closer to the gold",
         "picture yourself nearer to the gold"),
        ("imagine you stand closer to the gold",),
    ),
    QuestionKind(
        "readout_further", "readout_further",
        "no target image: the read-out must keep the radii and the gold, and put the agent further "
        "from the gold",
        ("imagine yourself further from the gold",
         "picture yourself farther from the gold"),
        ("imagine you stand further from the gold",),
    ),
    QuestionKind(
        "readout_gold_upper_left", "readout_gold_upper_left",
        "no target image: the read-out must keep the radii and the agent, and put the gold nearer "
        "the upper-left corner (0, 0)",
        ("imagine the gold nearer the upper left corner",
         "picture the gold closer to the top left corner"),
        ("imagine the gold moved toward the upper left corner",),
    ),
)


def _normalise(text: str) -> str:
    return " ".join(text.lower().split()).rstrip(" ?.!:")


def check_registry(kinds: Mapping[str, QuestionKind]) -> None:
    """Raise ``PromptRegistryError`` unless the registry keeps the rules in this module's docstring.

    Runs at import on ``QUESTION_KINDS``; call it on a modified copy to test a change.
    """
    owner: dict[str, str] = {}
    for key, kind in kinds.items():
        if key != kind.name:
            raise PromptRegistryError(f"registry key {key!r} holds kind {kind.name!r}; use the kind's name")
        if not kind.canonical and kind.name != "control":
            raise PromptRegistryError(f"kind {kind.name!r} has no canonical prompt")
        if len(set(kind.answers)) != len(kind.answers):
            raise PromptRegistryError(f"kind {kind.name!r} repeats an answer: {kind.answers}")
        for template in kind.prompts(paraphrases=True):
            if template != template.strip() or "  " in template or not template:
                raise PromptRegistryError(f"kind {kind.name!r}: stray whitespace in prompt {template!r}")
            if template.count("?") > 1:
                raise PromptRegistryError(
                    f"kind {kind.name!r}: prompt {template!r} holds two '?' (a missing comma merged two prompts?)")
            fields = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
            if fields - ({kind.slot} if kind.slot else set()):
                raise PromptRegistryError(
                    f"kind {kind.name!r}: prompt {template!r} uses placeholders {sorted(fields)}; "
                    f"only {{{kind.slot}}} is allowed" if kind.slot else
                    f"kind {kind.name!r}: prompt {template!r} has a placeholder but the kind has no slot")
        for text in kind.expand(paraphrases=True):
            norm = _normalise(text)
            if norm in owner:
                where = "twice in" if owner[norm] == kind.name else f"in {owner[norm]!r} and in"
                raise PromptRegistryError(
                    f"prompt {text!r} appears {where} {kind.name!r}; a prompt belongs to exactly one question kind")
            owner[norm] = kind.name


check_registry(QUESTION_KINDS)
_KIND_IDS = {name: i for i, name in enumerate(QUESTION_KINDS)}


def _kind(kind: str) -> QuestionKind:
    try:
        return QUESTION_KINDS[kind]
    except KeyError:
        raise ValueError(f"unknown question kind {kind!r}; known: {', '.join(QUESTION_KINDS)}") from None


def prompts(kind: str, paraphrases: bool = False) -> tuple[str, ...]:
    """The prompts of ``kind``: the canonical set, or canonical + paraphrases (templates unfilled)."""
    return _kind(kind).prompts(paraphrases)


def answers(kind: str) -> tuple[str, ...]:
    """The answer vocabulary of ``kind`` (one canonical form each; empty for image targets)."""
    return _kind(kind).answers


def expand(kind: str, paraphrases: bool = False) -> tuple[str, ...]:
    """Every concrete prompt string of ``kind`` (templates filled with every slot value)."""
    return _kind(kind).expand(paraphrases)


def kind_id(kind: str) -> int:
    """The brain-wide number of question kind ``kind``: its position in ``QUESTION_KINDS``.

    The brain's question-kind head (the ``kind`` loss term) has one class per id, so a new kind
    belongs at the end of the registry: inserting one earlier renumbers the kinds after it, and a
    checkpoint's head would then name them wrongly until it relearned them.
    """
    _kind(kind)
    return _KIND_IDS[kind]


def kinds_of_task(task: str) -> tuple[str, ...]:
    """Names of the question kinds owned by ``task`` (a TASKS.md name), in registry order."""
    names = tuple(k.name for k in QUESTION_KINDS.values() if k.task == task)
    if not names:
        tasks = sorted({k.task for k in QUESTION_KINDS.values()})
        raise ValueError(f"no question kind belongs to task {task!r}; tasks with kinds: {', '.join(tasks)}")
    return names


def recall_prompts(k: int, paraphrases: bool = False) -> tuple[str, ...]:
    """The ``recall`` prompts asking for the view from ``k`` steps ago, k ∈ {0, 1, 2, 3}.

    ``k = 0`` gives the "current view" prompts; ``k ≥ 1`` fills ``{ago}`` with "one step ago", ….
    """
    if k not in range(len(_AGO) + 1):
        raise ValueError(f"recall_prompts: k={k!r} must be 0..{len(_AGO)}")
    templates = prompts("recall", paraphrases)
    if k == 0:
        return tuple(t for t in templates if "{ago}" not in t)
    return tuple(t.format(ago=_AGO[k - 1]) for t in templates if "{ago}" in t)


def task_language() -> tuple[str, ...]:
    """Every string of the task language, deduplicated in a fixed order (the tokenizer's core corpus).

    Holds every expanded prompt and paraphrase, every answer, every verbal move phrase and every
    action name and token.
    """
    seen: dict[str, None] = {}
    for kind in QUESTION_KINDS.values():
        for text in kind.expand(paraphrases=True) + kind.answers + kind.slot_values:
            seen.setdefault(text, None)
    for phrase, _ in verbal_moves():
        seen.setdefault(phrase, None)
    for a in sorted(ACTION_NAMES):
        seen.setdefault(ACTION_NAMES[a], None)
        seen.setdefault(ACTION_TOKENS[a], None)
    return tuple(seen)
