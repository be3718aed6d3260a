"""`imagine_after_move` — imagine the room after a verbal move.

Skill: turn a phrase ("turn a lot anticlockwise and take two steps forward") into the actions it
names and imagine their outcome with the game's physics — walls stop the walk, gold on the way is
collected. One step per episode: the whole room in, a prompt naming a move, the room after the
move as the target image.

| question kind        | prompt (canonical)                                     | target                         |
|----------------------|--------------------------------------------------------|--------------------------------|
| `imagine_after_move` | "imagine you {move}", "show the room after you {move}" | the scene after the move's actions, with physics |

The `{move}` slot takes the 23 phrases of `verbal_moves()`: a turn part — "turn a little
clockwise / anticlockwise" (`TURN_A_LITTLE` = 5 × `<clock>` / `<anticlock>`, 30°), "turn a lot …"
(`TURN_A_LOT` = 10, 60°), "turn around" (`TURN_AROUND` = 30 × `<clock>`, 180°) — optionally
followed by " and " and a walk part, "take one / two / three step(s) forward" (1–3 × `<forward>`);
either part alone is a move too (6 × 4 − 1 = 23). Each sample's move is uniform over the 23
phrases, and its prompt is a uniform template filled with that phrase.

Target rule: `View.of(moved)` where `moved = physics.run_programs(scene, program, length)` — the
move's program (the table `PROGRAMS [23, 33]`, padded with −1, with `PROGRAM_LENGTHS`; 1 to 33
actions, never truncated) executed action by action, exactly as `physics.step` on each sample
alone would: a `<forward>` into a wall stops short of it, and a coin is collected whenever an
action ends with the agent's centre within `r_a + r_g` of it (the target shows no coin there). The input scene is never changed.

Input: the whole room of a bare scene (`sample_bare`). One kind (the `kinds` option may name it).
Facts (written by `tasks show`): `move` (index into `verbal_moves()`), `program [B, 33]` (action
ids, −1 past the end), `program_length`, `gold_collected` (coins the move collected).
Loss terms: image (MSE) + a small LM term on the prompt (0.02) + naming the kind; no answer.

Target statistics (20,000 samples; tests/test_frameworks_moves.py recomputes them from the
positions): 18 of the 23 moves walk (78 % of the samples); a wall cuts the walk short in 20 % of
the walking samples (a bare scene's agent is often less than three steps, 0.19, from a side wall),
and the move collects the gold in 2.1 % of all samples (2.6 % of the walking ones; a pure turn
never does, as sampling leaves the gold out of reach). Each of the 23 moves is drawn 1/23 of the
time. Sampling: 10,000–13,000 samples/s on one core at batch 64 (shared machine), the replay
batched by `physics.run_programs`.
"""
from __future__ import annotations

import torch
from torch import Tensor

from datamodules.base import TaskDataModule
from datamodules.registry import register
from penguin.episode import EpisodeSpec, TermWeights, View, text_step
from penguin.game.geometry import ANTICLOCK, CLOCK, FORWARD
from penguin.game.physics import run_programs
from penguin.game.sampling import sample_bare
from penguin.text.prompts import QuestionKind
from penguin.text.tokenizer import PromptTable

# Rotation steps per verbal turn (each step is π/30, docs/game.md).
TURN_A_LITTLE = 5
TURN_A_LOT = 10
TURN_AROUND = 30  # 30 · π/30 = π, done clockwise (a pure rotation never collides, so the side is moot)


def verbal_moves() -> tuple[tuple[str, tuple[int, ...]], ...]:
    """The verbal moves: `(phrase, action ids)` pairs, the actions executed in order — a turn part,
    then a walk part, either of them possibly absent (not both). 23 phrases, e.g.
    `("turn a lot anticlockwise and take two steps forward", (4,) * 10 + (1,) * 2)`."""
    turns = [
        ("", ()),
        ("turn a little clockwise", (CLOCK,) * TURN_A_LITTLE),
        ("turn a little anticlockwise", (ANTICLOCK,) * TURN_A_LITTLE),
        ("turn a lot clockwise", (CLOCK,) * TURN_A_LOT),
        ("turn a lot anticlockwise", (ANTICLOCK,) * TURN_A_LOT),
        ("turn around", (CLOCK,) * TURN_AROUND),
    ]
    walks = [
        ("", ()),
        ("take one step forward", (FORWARD,)),
        ("take two steps forward", (FORWARD,) * 2),
        ("take three steps forward", (FORWARD,) * 3),
    ]
    moves = []
    for turn_phrase, turn_actions in turns:
        for walk_phrase, walk_actions in walks:
            if turn_phrase or walk_phrase:
                phrase = " and ".join(p for p in (turn_phrase, walk_phrase) if p)
                moves.append((phrase, turn_actions + walk_actions))
    return tuple(moves)


MOVES = verbal_moves()
PHRASES = tuple(phrase for phrase, _ in MOVES)
PROGRAM_WIDTH = max(len(actions) for _, actions in MOVES)  # 33: turn around, three steps


def _program_table() -> tuple[Tensor, Tensor]:
    """Programs `[23, PROGRAM_WIDTH]` (action ids, −1 past the end) and their lengths `[23]`."""
    programs = torch.full((len(MOVES), PROGRAM_WIDTH), -1, dtype=torch.long)
    for m, (_, actions) in enumerate(MOVES):
        programs[m, : len(actions)] = torch.tensor(actions, dtype=torch.long)
    return programs, torch.tensor([len(actions) for _, actions in MOVES])


PROGRAMS, PROGRAM_LENGTHS = _program_table()

IMAGINE_AFTER_MOVE = QuestionKind(
    "imagine_after_move",
    rule="target: the scene after executing the actions of the verbal move {move} in order, with "
         "physics (see verbal_moves())",
    canonical=("imagine you {move}",
               "show the room after you {move}"),
    paraphrases=("picture the room once you {move}",
                 "what will you see after you {move}?"),
    slot="move",
    slot_values=PHRASES,
)

KINDS = (IMAGINE_AFTER_MOVE,)


@register
class ImagineAfterMove(TaskDataModule):
    name = "imagine_after_move"
    description = "imagine a verbal move (turns, steps forward) -> the room after it, with physics"
    question_kinds = KINDS
    kinds_are_fixed = False
    default_weights = TermWeights(image=1.0, answer=0.0, lm=0.02, value=0.0, slot=0.0, kind=1.0)

    def __init__(self, **common) -> None:
        super().__init__(**common)
        # One prompt row per (template, move): row `template · 23 + move` asks for move `move`.
        templates = IMAGINE_AFTER_MOVE.prompts(self.paraphrases)
        strings = [t.format(move=phrase) for t in templates for phrase in PHRASES]
        self.rows = PromptTable(self.tokenizer, strings, self.max_prompt_len)
        self.templates = len(templates)

    def sample(self, generator: torch.Generator, batch: int) -> EpisodeSpec:
        scene = sample_bare(generator, batch)
        move = torch.randint(0, len(MOVES), (batch,), generator=generator)
        template = torch.randint(0, self.templates, (batch,), generator=generator)
        program, length = PROGRAMS[move], PROGRAM_LENGTHS[move]
        moved, collected = run_programs(scene, program, length)  # a new scene; `scene` is untouched
        kind = torch.zeros(batch, dtype=torch.long)  # the one kind
        reply = self.replies.ids[torch.zeros(batch, dtype=torch.long)]
        facts = {"move": move, "program": program, "program_length": length,
                 "gold_collected": collected.long()}
        step = text_step(self.rows.ids[template * len(MOVES) + move], reply, answer_loss=False,
                         pad_id=self.tokenizer.pad_id, input=View.of(scene), target=View.of(moved),
                         question=kind, facts=facts)
        return self.spec(step)
