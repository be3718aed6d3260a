"""`memory_autoencode` — see four control views, then replay them from memory alone.

Skill: write what was seen into the memory so that it can be drawn again after the canvases have
forgotten it (pretrains the memory writer). An episode: 4 **see** steps, each showing an
independent control-set view (`penguin.game.control.sample_control`: full scenes, jittered rooms,
zooms of factor 2–21) and reconstructing it; then `replays` (default 4) **replay** steps without
an input image, each asking for the view from four steps ago: replay step t (5‥8) draws the view
of see step t − 4, so the four views come back in the order they were seen.

**Why only the memory holds the target.** A replay step has no input image. The brain keeps its
last `C = 3` predictions as canvases (newest first): at step t they are the predictions of steps
t − 1, t − 2, t − 3, so the view of step t − 4 — and the brain's own drawing of it, made at step
t − 4 — was pushed out at step t − 1. Neither the input nor any canvas holds it: the canvases hold
the brain's drawings of *other* views, so a brain that draws each view as asked keeps view t − 4
only in its memory (tests/test_frameworks_memory.py: with the canvases such a brain would hold and
the memory zeroed, the replay's output is the same whatever view t − 4 was). Four steps ago is the
nearest past no canvas reaches, which is why the prompt says four.

| question kind   | steps        | prompt (canonical)                    | target                      |
|-----------------|--------------|---------------------------------------|-----------------------------|
| `memorise_view` | 1‥4 (see)    | "remember this view"                  | the step's own view         |
| `replay_view`   | 5‥4 + replays | "show the view from four steps ago"  | the view of step t − 4      |

Loss terms: image (MSE, averaged over all steps: with 4 replays half the term is the
replays) + a small LM term on the prompts (0.02) + naming the kind; no answer. `facts`:
`recalled_step` on every step (see steps: their own view; replay step t: t − 4). Option
`replays`: 1‥4 replay steps (the first `replays` views are replayed).

Target statistics (4,096 episodes of `sample_control`): a quarter of the views are whole rooms, a
quarter jittered rooms, half zooms (49.6 % measured). 4.7 % of the views are featureless at 64 px
(a zoom into empty floor or into a wall: one colour); only where two alike meet does a replay target
equal an image that a canvas of a perfect reconstructor would hold (0.4 % of replay steps), and
then there is nothing to remember. Sampling time is that of `sample_control` for 4·B views (its
jitter physics is nearly all of it).
"""
from __future__ import annotations

import torch

from datamodules.base import TaskDataModule
from datamodules.registry import register
from penguin.episode import EpisodeSpec, TermWeights, View, text_step
from penguin.game.control import sample_control
from penguin.text.prompts import QuestionKind

SEE_STEPS = 4
"""See steps per episode; a replay step asks for the view from `SEE_STEPS` steps ago, the nearest
past that none of the brain's 3 canvases holds."""

MEMORISE_VIEW = QuestionKind(
    "memorise_view",
    rule="target: the input view itself (reconstruct it, and keep it for a replay four steps later)",
    canonical=("remember this view",
               "keep this view in mind"),
    paraphrases=("look at this view and remember it",
                 "hold this view in your mind"),
)

REPLAY_VIEW = QuestionKind(
    "replay_view",
    rule="target: the view shown four steps before the current one (no canvas holds it any more)",
    canonical=("show the view from four steps ago",
               "show what you saw four steps ago"),
    paraphrases=("draw the view you saw four steps ago",
                 "what did you see four steps ago?"),
)

KINDS = (MEMORISE_VIEW, REPLAY_VIEW)


@register
class MemoryAutoencode(TaskDataModule):
    name = "memory_autoencode"
    description = "see 4 control views, then replay them from memory (the view from four steps ago, no input image)"
    question_kinds = KINDS
    kinds_are_fixed = True
    default_weights = TermWeights(image=1.0, answer=0.0, lm=0.02, value=0.0, slot=0.0, kind=1.0)

    def __init__(self, *, replays: int = SEE_STEPS, **common) -> None:
        if not isinstance(replays, int) or isinstance(replays, bool) or not 1 <= replays <= SEE_STEPS:
            raise ValueError(f"memory_autoencode.replays: expected an int in 1..{SEE_STEPS} (replay steps, each "
                             f"drawing one of the {SEE_STEPS} views seen), got {replays!r}")
        super().__init__(**common)
        self.replays = replays

    def sample(self, generator: torch.Generator, batch: int) -> EpisodeSpec:
        views = sample_control(generator, SEE_STEPS * batch)  # see step s takes rows (s-1)·B … s·B-1
        every = View.of(views.scene, zoom_center=views.zoom_center, zoom_factor=views.zoom_factor)
        seen = [every[torch.arange(s * batch, (s + 1) * batch)] for s in range(SEE_STEPS)]
        reply = self.replies.ids[torch.zeros(batch, dtype=torch.long)]
        steps = []
        for t in range(1, SEE_STEPS + self.replays + 1):
            see = t <= SEE_STEPS
            kind = torch.full((batch,), 0 if see else 1, dtype=torch.long)  # index into KINDS
            shown = t if see else t - SEE_STEPS  # the step whose view is the target
            steps.append(text_step(self.questions.draw(generator, kind), reply, answer_loss=False,
                                   pad_id=self.tokenizer.pad_id, input=seen[t - 1] if see else None,
                                   target=seen[shown - 1], question=kind,
                                   facts={"recalled_step": torch.full((batch,), shown, dtype=torch.long)}))
        return self.spec(*steps)
