"""`action_names` — an action token ↔ its name, both directions.

Skill: ground the action tokens in words (docs/game.md action table). The scene is shown but ignored.

| question kind    | prompt (canonical)              | answer rule                                   |
|------------------|---------------------------------|-----------------------------------------------|
| `action_to_name` | "what does {action} mean?"      | `<forward>` → `forward`, `<backward>` → `backward`, `<clock>` → `turn clockwise`, `<anticlock>` → `turn anticlockwise` |
| `name_to_action` | "which token means {name}?"     | the inverse: `turn clockwise` → `<clock>`, …  |

Input: a bare scene (ignored). Loss: answer CE. Label rates: kinds uniform, the action uniform
over the four — every answer 1/8 — by construction (`balanced` changes nothing).
"""
from __future__ import annotations

import torch

from datamodules.base import TaskDataModule
from datamodules.registry import register
from penguin.episode import ANSWER_ONLY, EpisodeSpec, View, text_step
from penguin.game.sampling import sample_bare
from penguin.text.prompts import ACTION_NAMES, ACTION_TOKENS, QuestionKind
from penguin.text.tokenizer import PromptTable

ACTION_TO_NAME = QuestionKind(
    "action_to_name",
    rule=("the name of the action token in {action}: ACTION_NAMES[a] for ACTION_TOKENS[a] (<forward> → "
          "forward, <backward> → backward, <clock> → turn clockwise, <anticlock> → turn anticlockwise); "
          "the scene is ignored"),
    canonical=("what does {action} mean?",
               "name the action {action}."),
    paraphrases=("what is the name of {action}?",
                 "say the name of the move {action}.",
                 "{action} means what?"),
    answers=("forward", "backward", "turn clockwise", "turn anticlockwise"),
    slot="action",
    slot_values=tuple(ACTION_TOKENS[a] for a in sorted(ACTION_TOKENS)),
)

NAME_TO_ACTION = QuestionKind(
    "name_to_action",
    rule="the action token named in {name}: ACTION_TOKENS[a] for ACTION_NAMES[a]; the scene is ignored",
    canonical=("which token means {name}?",
               "give the token for {name}."),
    paraphrases=("what is the action token for {name}?",
                 "write the move {name} as a token.",
                 "how do you write {name} as an action?"),
    answers=("<forward>", "<backward>", "<clock>", "<anticlock>"),
    slot="name",
    slot_values=tuple(ACTION_NAMES[a] for a in sorted(ACTION_NAMES)),
)

KINDS = (ACTION_TO_NAME, NAME_TO_ACTION)


@register
class ActionNames(TaskDataModule):
    name = "action_names"
    description = "an action token <-> its name, both directions (the scene is ignored)"
    label_names = tuple(ACTION_NAMES[a] for a in (1, 2, 3, 4)) + tuple(ACTION_TOKENS[a] for a in (1, 2, 3, 4))
    question_kinds = KINDS
    kinds_are_fixed = True
    default_weights = ANSWER_ONLY

    def __init__(self, **common) -> None:
        super().__init__(**common)
        # One prompt row per (kind, template, action); its answer is fixed by the filled-in slot.
        strings, kinds, actions = [], [], []
        for k, q in enumerate(KINDS):
            for template in q.prompts(self.paraphrases):
                for a in (1, 2, 3, 4):
                    slot = ACTION_TOKENS[a] if q is ACTION_TO_NAME else ACTION_NAMES[a]
                    strings.append(template.format(**{q.slot: slot}))
                    kinds.append(k)
                    actions.append(a)
        self.rows = PromptTable(self.tokenizer, strings, self.max_prompt_len)
        self.row_kind = torch.tensor(kinds)
        self.row_label = torch.tensor([self.label_index(ACTION_NAMES[a] if k == 0 else ACTION_TOKENS[a])
                                       for k, a in zip(kinds, actions)])
        # Rows grouped by (kind, action) so that kind and action are drawn uniformly.
        self.row_group = self.row_kind * 4 + torch.tensor(actions) - 1

    def sample(self, generator: torch.Generator, batch: int) -> EpisodeSpec:
        scene = sample_bare(generator, batch)
        group = torch.randint(0, 8, (batch,), generator=generator)
        members = (self.row_group[None, :] == group[:, None]).float()
        row = torch.multinomial(members, 1, generator=generator).squeeze(1)
        labels = self.row_label[row]
        step = text_step(self.rows.ids[row], self.replies.ids[labels], pad_id=self.tokenizer.pad_id,
                         input=View.of(scene), labels=labels, question=self.row_kind[row])
        return self.spec(step)
