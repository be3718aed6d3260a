"""`full_move` — solve the game: play the greedy oracle's moves, one step at a time.

Skill: act in the game. An episode is `STEPS` = 4 brain steps on one bare scene: each step shows the
current scene, asks for the next move with the moves made so far written into the prompt, and the
answer is the greedy oracle's move; then the scene advances by that move with physics
(`penguin.game.physics.step`), and the next step shows the result.

| question kind | prompt (canonical)                              | answer rule                             |
|---------------|-------------------------------------------------|-----------------------------------------|
| `solve_game`  | "solve the game. moves so far:{moves}"          | `greedy_move` of the current scene: `<forward>` if `facing_gold`, else `<clock>` / `<anticlock>` toward the gold |

`{moves}` is the moves made so far as action tokens back to back (`<clock><clock><forward>`; empty
at the first step); its ids are the template's ids followed by one action id per move, built by
index, never by tokenising per sample. The prompt table must hold a template plus `STEPS − 1` = 3
moves within `max_prompt_len`, or the task refuses to start (a move is never cut off).

Every step also reconstructs its input image (image target = the step's view), so the brain sees
the consequence of each move. A sample whose gold is collected (by the move of step t) has
nothing left to do: for the remaining steps its scene stays as it is, its answer mask is empty,
its label and question are −1 (no answer or kind loss, ignored by the metrics; its image is still
reconstructed). Near-ties of the turn (gold within π/30 of straight behind) are answered by the
exact rule (clockwise iff (φ_gold − θ) mod 2π < π) and not redrawn: later steps would need them too.

Loss terms: answer CE + image MSE + naming the kind; no LM term. `facts` per step: `move` (the action
taken at that step; 0 where the sample is done) and `active` (the sample still plays at that step).
Label rates (2,048 episodes of seed 0, answered steps): `<forward>` 11.7 %, `<clock>` 43.9 %,
`<anticlock>` 44.5 % (the greedy path starts with its turns); 4.5 % of episodes collect the gold
before the last step, so 2.3 % of the (sample, step) answers are masked. Sampling speed: 5,600–12,000
samples/s at batch 64 on one shared core (3 batched physics steps, no greedy trace).
"""
from __future__ import annotations

import itertools

import torch

from datamodules.base import TaskDataModule
from datamodules.registry import register
from penguin.episode import EpisodeSpec, TermWeights, View, text_step
from penguin.game.geometry import ANTICLOCK, CLOCK, FORWARD, NOTHING, greedy_move
from penguin.game.physics import step as physics_step
from penguin.game.sampling import sample_bare
from penguin.game.scene import Scene
from penguin.text.prompts import ACTION_TOKENS, QuestionKind
from penguin.text.tokenizer import PromptTable

STEPS = 4
MOVES = (FORWARD, CLOCK, ANTICLOCK)  # label i is the move MOVES[i]

SOLVE_GAME = QuestionKind(
    "solve_game",
    rule=("greedy_move of the current scene: <forward> if facing_gold, else the turn toward the gold; "
          "{moves} is the moves so far as action tokens"),
    canonical=("solve the game. moves so far:{moves}",
               "collect the gold. moves so far:{moves}"),
    paraphrases=("play to win. moves so far:{moves}",
                 "go and get the gold. moves so far:{moves}"),
    answers=tuple(ACTION_TOKENS[m] for m in MOVES),
    slot="moves",
    slot_values=tuple("".join(ACTION_TOKENS[m] for m in seq)
                      for n in range(STEPS) for seq in itertools.product(MOVES, repeat=n)),  # all 40
)

KINDS = (SOLVE_GAME,)


@register
class FullMove(TaskDataModule):
    name = "full_move"
    description = "solve the game: 4 steps of the greedy oracle's moves, the scene advancing with physics"
    label_names = tuple(ACTION_TOKENS[m] for m in MOVES)
    question_kinds = KINDS
    kinds_are_fixed = True
    default_weights = TermWeights(image=1.0, answer=1.0, lm=0.0, value=0.0, slot=0.0, kind=1.0)

    def __init__(self, **common) -> None:
        super().__init__(**common)
        templates = SOLVE_GAME.prompts(self.paraphrases)
        self.templates = PromptTable(self.tokenizer, [t.format(moves="") for t in templates], self.max_prompt_len)
        longest = int(self.templates.lengths.max())
        if longest + STEPS - 1 > self.max_prompt_len:
            raise ValueError(f"full_move.max_prompt_len: {self.max_prompt_len} cannot hold a prompt of {longest} "
                             f"tokens plus {STEPS - 1} moves so far; use max_prompt_len >= {longest + STEPS - 1}")
        self.action_ids = torch.tensor([self.tokenizer.action_id(m) if m else 0 for m in range(5)])

    def question_set(self, kinds):
        """None: the prompts are built at each step from `self.templates` and the moves so far (a
        table of the raw templates would tokenise "{moves}" literally)."""
        return None

    def prompts(self, template: torch.Tensor, moves: torch.Tensor) -> torch.Tensor:
        """`[B, T]` prompt ids: each sample's template followed by the action ids of `moves [B, t]`."""
        ids = self.templates.ids[template].clone()
        start = self.templates.lengths[template]
        for k in range(moves.shape[1]):
            ids[torch.arange(len(ids)), start + k] = self.action_ids[moves[:, k]]
        return ids

    def sample(self, generator: torch.Generator, batch: int) -> EpisodeSpec:
        scene = sample_bare(generator, batch)
        template = torch.randint(0, len(self.templates), (batch,), generator=generator)
        active = torch.ones(batch, dtype=torch.bool)
        moves = torch.zeros(batch, 0, dtype=torch.long)
        steps = []
        for t in range(STEPS):
            move = torch.where(active, greedy_move(scene), NOTHING)
            label = torch.where(active, _label_of(move), -1)
            reply = self.replies.ids[label.clamp(min=0)].clone()
            reply[~active, 1:] = self.tokenizer.pad_id  # `<sep>` alone: no answer token, no answer loss
            view = View.of(scene)
            steps.append(text_step(self.prompts(template, moves), reply, lm_loss=False, pad_id=self.tokenizer.pad_id,
                                   input=view, target=view, labels=label, question=torch.where(active, 0, -1),
                                   facts={"move": move, "active": active.clone()}))
            if t + 1 < STEPS:  # the scene after the last move is never shown
                scene = _advance(scene, move, active)
                active = active & scene.gold_valid[:, 0]
                moves = torch.cat([moves, move[:, None]], 1)
        return self.spec(*steps)


def _label_of(move: torch.Tensor) -> torch.Tensor:
    """The label index of an action id of `MOVES` (−1 for any other)."""
    table = torch.full((5,), -1, dtype=torch.long)
    table[torch.tensor(MOVES)] = torch.arange(len(MOVES))
    return table[move]


def _advance(scene: Scene, move: torch.Tensor, active: torch.Tensor) -> Scene:
    """The scene after `move` with physics where `active`; the others stay as they are."""
    moved, _ = physics_step(scene, move)
    keep = ~active
    return moved.replace(agent=torch.where(keep[:, None], scene.agent, moved.agent),
                         heading=torch.where(keep, scene.heading, moved.heading),
                         gold_valid=torch.where(keep[:, None], scene.gold_valid, moved.gold_valid))
