"""The task datamodule base: a task only says how to sample one batch of episodes.

Subclasses set `name`, `description` (one line), `label_names` (answer classes, for label rates
and balanced sampling), `question_kinds` (every `QuestionKind` the task can ask, declared in the
task's own file: prompts, answers and rule) and `default_weights`, then implement

    def sample(self, generator: torch.Generator, batch: int) -> EpisodeSpec

with vectorised draws from `generator` and nothing else. The base class provides the rest:

- **Seeding.** Training batch `s` on rank `r` uses `generator_for(seed, name, r, s)`: a pure
  function of its coordinates, so resume is exact and DDP ranks see different scenes. Validation
  batch `v` uses `generator_for(val_seed, name, "val", v)` — the same scenes at every evaluation —
  and rank `r` of `w` takes `v ≡ r (mod w)`.
- **Rendering on the device.** The DataLoader carries `EpisodeSpec`s (scene tensors + token ids,
  kilobytes); `on_after_batch_transfer` renders them on the training device into `Episode`s.
- **Questions.** `self.kinds` names the kinds this instance asks (all of `question_kinds`, or the
  subset given by the `kinds` option); `self.questions` tokenises their prompt sets once
  (`PromptTable`); `replies` holds one `<sep> answer </s>` row per label, so an answer is a row
  index, never a Python string in the hot path. A step's `question [B]` indexes `self.kinds`.
- **Balance.** `balanced=True` (the default) makes yes/no and choice tasks draw every label
  equally often (`want_labels` + `datamodules.balance.balanced`); `label_rates(n)` reports the
  rates of what the task actually feeds.
- **Resume.** `state_dict()` holds the number of training batches consumed; the training stream
  restarts there.

Options common to every task (all overridable in configs): `image_size` (≥ 32), `batch_size`,
`seed`, `val_seed`, `val_batches`, `balanced`, `paraphrases` (richer prompt sets), `kinds` (ask
only these question kinds; refused by tasks whose episodes fix their kinds, `kinds_are_fixed`),
`weights` (loss-term weights, see `TermWeights`), `lr_scale` (this task's steps train at
`lr_scale` times the scheduled learning rate; e.g. below 1 for old skills while new ones train),
`max_prompt_len`, `max_reply_len`, `num_workers`, `tokenizer` (path to a tokenizer JSON; default:
the shipped one).

`distractor_line` (a share in [0, 1], default 0) draws a blue line from the agent's rim into that
share of a question's scenes, at a uniform angle that never covers the gold
(`penguin.game.sampling.sample_clear_line`). Only tasks whose answers no line can change take it
(`line_is_distractor`: the gold, agent and heading questions, whose episodes `qa_spec` builds, which
draws the lines). It teaches the brain that the line is not the gold: in `turn_qa`, where a line is
always drawn, a brain trained without it turns toward the line when asked about the gold
(`bench/distractor_crossover.py`; bench/RESULTS.md, session 15, has what the option changed). The
lines are drawn after everything else in a batch, so scenes, questions and answers are those of
the same batch without the option.
"""
from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass, replace
from typing import Any, Callable, ClassVar, Sequence

import torch
from torch import Tensor

from datamodules.balance import balanced
from datamodules.stream import EpisodeStreamModule
from penguin.episode import TERMS, EpisodeSpec, TermWeights, View, text_step
from penguin.game.sampling import sample_clear_line
from penguin.seeding import generator_for
from penguin.text.prompts import QuestionKind
from penguin.text.tokenizer import PromptTable, Tokenizer

MIN_IMAGE_SIZE = 32
_TOKENIZERS: dict[str | None, Tokenizer] = {}


def load_tokenizer(path: str | None = None) -> Tokenizer:
    """The tokenizer at `path` (default: the shipped one), loaded once per process."""
    if path not in _TOKENIZERS:
        _TOKENIZERS[path] = Tokenizer.load(path)
    return _TOKENIZERS[path]


class QuestionSet:
    """The prompt rows of several question kinds in one table, drawn per sample by kind.

    `draw(generator, kind)` returns `prompt_ids [B, T]`: for each sample a uniformly chosen prompt
    of its kind (`kind` indexes `kinds`).
    """

    def __init__(self, tokenizer: Tokenizer, kinds: Sequence[QuestionKind], max_len: int, paraphrases: bool):
        self.kinds = tuple(k.name for k in kinds)
        strings, counts = [], []
        for kind in kinds:
            ps = kind.prompts(paraphrases)
            strings.extend(ps)
            counts.append(len(ps))
        self.table = PromptTable(tokenizer, strings, max_len)
        self.counts = torch.tensor(counts)
        self.offsets = torch.cumsum(self.counts, 0) - self.counts

    def draw(self, generator: torch.Generator, kind: Tensor) -> Tensor:
        pick = (torch.rand(len(kind), generator=generator) * self.counts[kind]).long()
        return self.table.ids[self.offsets[kind] + pick]


@dataclass(frozen=True)
class QuestionBatch:
    """What `TaskDataModule.ask` drew: the items, the question kind `[B]` and the label `[B]`."""

    items: Any
    kind: Tensor
    labels: Tensor


class TaskDataModule(EpisodeStreamModule):
    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    label_names: ClassVar[tuple[str, ...]] = ()
    question_kinds: ClassVar[tuple[QuestionKind, ...]] = ()
    kinds_are_fixed: ClassVar[bool] = False  # True: every episode asks every kind; no `kinds` option
    line_is_distractor: ClassVar[bool] = False  # True: no blue line changes an answer (`distractor_line`)
    default_weights: ClassVar[TermWeights] = TermWeights()

    def __init__(self, *, image_size: int = 64, batch_size: int = 32, seed: int = 0, val_seed: int = 1_000_003,
                 val_batches: int = 4, balanced: bool = True, paraphrases: bool = False,
                 kinds: list[str] | None = None, weights: dict[str, float] | None = None,
                 lr_scale: float = 1.0, max_prompt_len: int = 32, max_reply_len: int = 16, num_workers: int = 0,
                 tokenizer: str | None = None, distractor_line: float = 0.0) -> None:
        super().__init__()
        _check_int("image_size", image_size, MIN_IMAGE_SIZE,
                   f"images smaller than {MIN_IMAGE_SIZE} px cannot show the gold; use image_size >= {MIN_IMAGE_SIZE}")
        _check_int("batch_size", batch_size, 1)
        _check_int("val_batches", val_batches, 0)
        _check_int("num_workers", num_workers, 0)
        _check_int("max_prompt_len", max_prompt_len, 2)
        _check_int("max_reply_len", max_reply_len, 3)
        self.image_size, self.batch_size, self.seed, self.val_seed = image_size, batch_size, seed, val_seed
        self.val_batches, self.balanced, self.paraphrases = val_batches, balanced, paraphrases
        self.max_prompt_len, self.max_reply_len, self.num_workers = max_prompt_len, max_reply_len, num_workers
        try:
            self.weights = TermWeights(**{**self.default_weights.as_dict(), **(weights or {})})
        except TypeError as e:
            raise ValueError(f"{self.name}.weights: {e}; valid terms: " + ", ".join(TERMS)) from None
        if isinstance(lr_scale, bool) or not isinstance(lr_scale, (int, float)) or not 0 <= lr_scale < float("inf"):
            raise ValueError(f"{self.name}.lr_scale: expected a finite number >= 0 (1 = the scheduled "
                             f"learning rate), got {lr_scale!r}")
        self.lr_scale = float(lr_scale)
        if isinstance(distractor_line, bool) or not isinstance(distractor_line, (int, float)) \
                or not 0 <= distractor_line <= 1:
            raise ValueError(f"{self.name}.distractor_line: expected a share in [0, 1], got {distractor_line!r}")
        if distractor_line and not self.line_is_distractor:
            raise ValueError(f"{self.name}.distractor_line: a blue line would change or hide {self.name}'s answers; "
                             "only the gold, agent and heading questions take it (side_qa, near_gold_qa, ...)")
        self.distractor_line = float(distractor_line)
        self.kinds = self._asked_kinds(kinds)
        self.tokenizer = load_tokenizer(tokenizer)
        self.replies = PromptTable(self.tokenizer, self.label_names or ("",), max_reply_len, role="reply")
        self.questions = self.question_set(self.kinds) if self.kinds else None

    @classmethod
    def kind(cls, name: str) -> QuestionKind:
        """The `QuestionKind` called `name` among this task's `question_kinds`."""
        for kind in cls.question_kinds:
            if kind.name == name:
                return kind
        raise ValueError(f"{cls.name}: no question kind {name!r}; its kinds: "
                         f"{', '.join(k.name for k in cls.question_kinds) or 'none'}")

    def _asked_kinds(self, kinds: list[str] | None) -> tuple[str, ...]:
        every = tuple(k.name for k in self.question_kinds)
        if kinds is None:
            return every
        if self.kinds_are_fixed:
            raise ValueError(f"{self.name}.kinds: every {self.name} episode asks all of its kinds "
                             f"({', '.join(every)}); remove the option")
        bad = [k for k in kinds if k not in every]
        if bad or not kinds or len(set(kinds)) != len(kinds):
            raise ValueError(f"{self.name}.kinds: {bad or list(kinds) or 'empty'} not valid; choose distinct kinds "
                             f"from {', '.join(every) or 'none (this task asks no question)'}")
        return tuple(kinds)

    # ------------------------------------------------------------------ the one method a task writes
    @abstractmethod
    def sample(self, generator: torch.Generator, batch: int) -> EpisodeSpec:
        """One batch of this task's episodes, drawn from `generator` only (vectorised)."""

    # ------------------------------------------------------------------ helpers for tasks
    def question_set(self, kinds: Sequence[str]) -> QuestionSet:
        return QuestionSet(self.tokenizer, [self.kind(k) for k in kinds], self.max_prompt_len, self.paraphrases)

    def want_labels(self, generator: torch.Generator, batch: int, n_labels: int | None = None) -> Tensor:
        """Uniform wanted labels `[B]` over the first `n_labels` (default: all) label names."""
        return torch.randint(0, n_labels or len(self.label_names), (batch,), generator=generator)

    def label_index(self, answer: str) -> int:
        return self.label_names.index(answer)

    def answer_of_kind(self, by_kind: dict[str, Tensor], kind: Tensor) -> Tensor:
        """Each sample's entry `[B]` of the kind it was asked: `by_kind` maps every asked kind's
        name to its answers `[B]` for all samples, `kind` indexes `self.kinds` (as in `ask`)."""
        return torch.stack([by_kind[k] for k in self.kinds], 1)[torch.arange(len(kind)), kind]

    def ask(self, generator: torch.Generator, batch: int, draw: Callable[[torch.Generator, int], Any],
            answer: Callable[[Any, Tensor], Tensor]) -> QuestionBatch:
        """Draw items (a `Scene` or a tuple starting with one) and one of the task's question kinds
        per sample (`kind` indexes `self.kinds`), and answer it: `answer(items, kind)` gives the index into `answers(kind)`, or −1 where the
        question has no clear answer (such samples are always redrawn).

        With `balanced`, the kind is uniform and so is the answer within each kind (rejection via
        `datamodules.balance.balanced`); otherwise the answers follow the scene distribution.
        """
        n_kinds = len(self.kinds)
        options = [self.kind(k).answers for k in self.kinds]
        counts = torch.tensor([len(o) for o in options])
        width = int(counts.max())
        to_label = torch.full((n_kinds, width), -1, dtype=torch.long)
        for k, opts in enumerate(options):
            to_label[k, : len(opts)] = torch.tensor([self.label_index(a) for a in opts])

        def draw_asked(g: torch.Generator, n: int) -> tuple:
            items = draw(g, n)
            items = items if isinstance(items, tuple) else (items,)
            return (*items, torch.randint(0, n_kinds, (n,), generator=g))

        def code(items: tuple) -> Tensor:
            kind, ans = items[-1], answer(items[0] if len(items) == 2 else items[:-1], items[-1])
            return torch.where(ans >= 0, kind * width + ans, torch.full_like(ans, -1))

        if self.balanced:
            kind = torch.randint(0, n_kinds, (batch,), generator=generator)
            ans = (torch.rand(batch, generator=generator) * counts[kind]).long()
            items = balanced(generator, batch, draw_asked, code, kind * width + ans)
        else:
            items = balanced(generator, batch, draw_asked, lambda it: (code(it) >= 0).long(),
                             torch.ones(batch, dtype=torch.long))
            kind = items[-1]
            ans = code(items) - kind * width
        return QuestionBatch(items[0] if len(items) == 2 else items[:-1], kind, to_label[kind, ans])

    def qa_spec(self, generator: torch.Generator, asked: QuestionBatch, view: View) -> EpisodeSpec:
        """The one-step episode of a question task: `view` in, a prompt of each sample's kind,
        the reply row of its label."""
        prompts = self.questions.draw(generator, asked.kind)
        if self.distractor_line:
            drawn = torch.rand(len(asked.kind), generator=generator) < self.distractor_line
            angle, length = sample_clear_line(generator, view.scene)
            view = replace(view, line_angle=angle, line_length=length, line_mask=drawn)
        step = text_step(prompts, self.replies.ids[asked.labels],
                         pad_id=self.tokenizer.pad_id, input=view, labels=asked.labels, question=asked.kind)
        return self.spec(step)

    def spec(self, *steps, question_kinds: Sequence[str] | None = None) -> EpisodeSpec:
        """An `EpisodeSpec` of this task; question indices refer to `self.kinds` unless given."""
        kinds = self.kinds if question_kinds is None else question_kinds
        return EpisodeSpec(self.name, tuple(steps), self.weights, self.label_names, tuple(kinds),
                           lr_scale=self.lr_scale)

    # ------------------------------------------------------------------ batches by coordinates
    def train_batch(self, step: int, rank: int = 0) -> EpisodeSpec:
        return self.sample(generator_for(self.seed, self.name, rank, step), self.batch_size)

    def val_batch(self, index: int) -> EpisodeSpec:
        return self.sample(generator_for(self.val_seed, self.name, "val", index), self.batch_size)

    def validation_keys(self) -> list[int]:
        return list(range(self.val_batches))

    def validation_batch(self, key: int) -> EpisodeSpec:
        return self.val_batch(key)

    def label_rates(self, n: int = 2000, seed: int = 0) -> dict[str, float]:
        """Share of each answer label over about `n` training samples of the first step."""
        counts = torch.zeros(max(1, len(self.label_names)))
        total, i = 0, 0
        while total < n:
            labels = self.sample(generator_for(seed, self.name, "rates", i), min(self.batch_size * 8, 512)).steps[-1].labels
            i += 1
            if labels is None:
                return {}
            labels = labels[labels >= 0]
            counts += torch.bincount(labels, minlength=len(counts)).float()
            total += len(labels)
        return {name: float(c / total) for name, c in zip(self.label_names, counts)}

    def baselines(self, n_train: int = 2000) -> dict[str, float]:
        """Reference levels of this task's validation metrics that need no brain, `{metric: value}`;
        `penguin.evaluate` prints them beside the metrics.

        Here `chance_exact_acc`, for a task whose answered steps all carry labels: the exact accuracy
        on this task's own validation batches of an answerer that sees only the question's kind and
        always gives the answer most frequent for that kind in about `n_train` training samples (a
        seed of its own). For a `balanced` task that is one over the kind's answers, give or take
        the same sampling noise the brain's accuracy has on those batches; an accuracy near it means
        the brain has not learned to use the input. Tasks add their own (`language`:
        `unigram_perplexity`).
        """
        counts: dict[tuple[int, int], int] = {}
        seen, i = 0, 0
        while seen < n_train:
            answered = _answered(self.sample(generator_for(self.seed, self.name, "chance", i), 256))
            i += 1
            if answered is None or (i > 64 and seen == 0):
                return {}
            for pair in zip(*(t.tolist() for t in answered)):
                counts[pair] = counts.get(pair, 0) + 1
                seen += 1
        majority: dict[int, tuple[int, int]] = {}  # kind -> (count, answer)
        for (kind, label), n in sorted(counts.items()):
            majority[kind] = max(majority.get(kind, (0, label)), (n, label))
        hits, total = 0, 0
        for key in self.validation_keys():
            kinds, labels = _answered(self.validation_batch(key))
            hits += sum(majority.get(k, (0, -2))[1] == label for k, label in zip(kinds.tolist(), labels.tolist()))
            total += len(labels)
        return {"chance_exact_acc": hits / total} if total else {}

    def state_dict(self) -> dict[str, Any]:
        return {"consumed": self.consumed}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.consumed = int(state_dict["consumed"])


def _check_int(name: str, value: Any, minimum: int, hint: str = "") -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name}: expected an int >= {minimum}, got {value!r}" + (f"; {hint}" if hint else ""))


def _answered(spec: EpisodeSpec) -> tuple[Tensor, Tensor] | None:
    """`(kind, label)` of every answered sample of every answering step of `spec`, concatenated;
    None when an answering step has no labels (its answers are not classes)."""
    kinds, labels = [], []
    for step in spec.steps:
        if not step.has_answer:
            continue
        if step.labels is None:
            return None
        keep = step.labels >= 0
        kind = step.question if step.question is not None else torch.zeros_like(step.labels)
        kinds.append(kind[keep])
        labels.append(step.labels[keep])
    if not labels:
        return None
    return torch.cat(kinds), torch.cat(labels)
