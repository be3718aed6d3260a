"""Byte-level BPE tokenizer of the task language, and the token layout the brain is trained on.

Penguin's text is byte-level BPE (GPT-2 style, built with Hugging Face ``tokenizers``): any UTF-8
text encodes, nothing is ever ``<unk>``, and ``decode(encode(s)) == s`` exactly. The shipped
``penguin/text/tokenizer.json`` is built by ``python -m penguin.text.build_tokenizer`` from the
task language (``penguin.text.prompts``) and the procedural corpus (``penguin.text.corpus``).

Special tokens — one id each, all distinct (ids of the shipped file):

=============== ==== ==========================================================================
role            id   token
=============== ==== ==========================================================================
``pad``         0    ``<pad>``   padding; never equal to ``<s>``, so padding never reads as a sentence start
``bos``         1    ``<s>``     starts the prompt
``eos``         2    ``</s>``    ends the answer
``sep``         3    ``<sep>``   between prompt and answer
``unk``         4    ``<unk>``   reserved (byte-level BPE never produces it)
``forward``     5    ``<forward>``    action 1
``backward``    6    ``<backward>``   action 2
``clock``       7    ``<clock>``      action 3 (θ + π/30, clockwise in the image)
``anticlock``   8    ``<anticlock>``  action 4
=============== ==== ==========================================================================

Text that contains a special token's spelling (``"what does <clock> mean?"``) encodes it as that
single id. Padding is id 0 in every Penguin tokenizer (the brain's ``PAD_ID``); other roles should
be read from ``bos_id``/``sep_id``/… since a tokenizer loaded with ``from_vocab_merges`` keeps that
vocabulary's ids.

Layout of a dialogue (the contract with the brain, see ``encode_dialogue``)::

    prompt_ids  <s> prompt … <pad> <pad>            → the brain's text encoder
    reply_ids   <sep> answer … </s> <pad>           → the brain's text decoder (teacher forcing)

Example::

    tok = Tokenizer.load()
    tok.encode("are you near the gold?")            # [ids...], no <s>/</s> added
    p, r = tok.encode_dialogue(["are you near the gold?"], ["yes"], 24, 8)
    table = PromptTable(tok, prompts("near_gold"), max_len=24)   # tokenise once, pick rows by index

Over-long text is an error, never a silent cut: ``TokenOverflowError`` says the length, the limit
and the fix (raise ``max_len`` or pass ``truncate=True``).
"""
from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Mapping, Sequence

import torch
from tokenizers import AddedToken, decoders, models, pre_tokenizers
from tokenizers import Tokenizer as _Backend

from penguin.text.prompts import ACTION_TOKENS

#: Penguin's special roles and their canonical spellings, in id order of the shipped tokenizer.
SPECIAL_TOKENS: dict[str, str] = {
    "pad": "<pad>",
    "bos": "<s>",
    "eos": "</s>",
    "sep": "<sep>",
    "unk": "<unk>",
    "forward": ACTION_TOKENS[1],
    "backward": ACTION_TOKENS[2],
    "clock": ACTION_TOKENS[3],
    "anticlock": ACTION_TOKENS[4],
}
_ACTION_ROLES = {1: "forward", 2: "backward", 3: "clock", 4: "anticlock"}
# Row framings: (roles before the text, roles after it).
_FRAMES = {"prompt": (("bos",), ()), "reply": (("sep",), ("eos",)), "plain": ((), ())}


def _alternation(words: Mapping[str, str]) -> re.Pattern | None:
    """One regex matching any key of ``words`` (longest first), for single-pass replacement."""
    if not words:
        return None
    return re.compile("|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)))


class TokenOverflowError(ValueError):
    """A text encodes to more tokens than the limit; raised instead of silently truncating."""


def _overflow(n: int, limit: int, text: str, what: str = "text") -> TokenOverflowError:
    preview = text if len(text) <= 60 else text[:57] + "..."
    return TokenOverflowError(
        f"{what} {preview!r} is {n} tokens, over the limit of {limit}; raise max_len or pass truncate=True")


class Tokenizer:
    """Penguin's tokenizer: a ``tokenizers`` byte-level BPE plus the special-token roles.

    Build one with ``Tokenizer.load()`` (the shipped file or a saved ``tokenizer.json``) or
    ``Tokenizer.from_vocab_merges(...)`` (an external GPT-2/RoBERTa-style vocab.json + merges.txt).
    """

    def __init__(self, backend: _Backend, specials: Mapping[str, str] | None = None):
        """Wrap ``backend``; ``specials`` maps each role of ``SPECIAL_TOKENS`` to a token of it.

        Roles left out use Penguin's spelling. Every role's token must be in the backend's vocab,
        all roles must be distinct tokens, and the pad token must be id 0.
        """
        specials = {**SPECIAL_TOKENS, **(specials or {})}
        unknown = set(specials) - set(SPECIAL_TOKENS)
        if unknown:
            raise ValueError(f"unknown special roles {sorted(unknown)}; roles are {', '.join(SPECIAL_TOKENS)}")
        ids = {}
        for role, token in specials.items():
            tid = backend.token_to_id(token)
            if tid is None:
                raise ValueError(f"special token {token!r} (role {role}) is not in the tokenizer's vocabulary")
            ids[role] = tid
        if len(set(ids.values())) != len(ids):
            clash = [r for r in ids if list(ids.values()).count(ids[r]) > 1]
            raise ValueError(f"special roles {clash} share one token; every role needs its own token")
        if ids["pad"] != 0:
            raise ValueError(f"the pad token {specials['pad']!r} has id {ids['pad']}; Penguin pads with id 0 "
                             "(the brain's PAD_ID), so the pad token must be id 0")
        self._backend = backend
        self._ids = ids
        # Penguin's spellings in text always mean their roles, even where the vocab spells them otherwise.
        self._rename = {SPECIAL_TOKENS[r]: t for r, t in specials.items() if t != SPECIAL_TOKENS[r]}
        self._unrename = {t: c for c, t in self._rename.items()}
        self._rename_re = _alternation(self._rename)
        self._unrename_re = _alternation(self._unrename)
        self._id_to_action = {ids[role]: a for a, role in _ACTION_ROLES.items()}
        lookup = torch.zeros(self.vocab_size, dtype=torch.long)
        for tid, a in self._id_to_action.items():
            lookup[tid] = a
        self._action_of_id = lookup

    # ------------------------------------------------------------------ construction
    @classmethod
    def load(cls, path: str | Path | None = None) -> "Tokenizer":
        """Load a ``tokenizer.json``: the shipped ``penguin/text/tokenizer.json`` when ``path`` is None.

        The file must hold Penguin's special tokens (as files saved by ``save`` or built by
        ``build_tokenizer`` do). Missing or unreadable file → ``ValueError`` naming the path.
        """
        if path is None:
            ref = resources.files("penguin.text") / "tokenizer.json"
            try:
                text = ref.read_text(encoding="utf-8")
            except OSError as e:
                raise ValueError(f"cannot read the shipped tokenizer {ref}: {e.strerror or e}; "
                                 f"rebuild it with python -m penguin.text.build_tokenizer") from None
            where = str(ref)
        else:
            where = str(path)
            try:
                text = Path(path).read_text(encoding="utf-8")
            except OSError as e:
                raise ValueError(f"cannot read tokenizer file {where}: {e.strerror or e}") from None
        try:
            backend = _Backend.from_str(text)
        except Exception as e:  # tokenizers raises a bare Exception on malformed JSON
            first = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise ValueError(f"tokenizer file {where} is not a valid tokenizer.json: {first}") from None
        try:
            return cls(backend)
        except ValueError as e:
            raise ValueError(f"tokenizer file {where}: {e}") from None

    @classmethod
    def from_vocab_merges(cls, vocab_json: str | Path, merges_txt: str | Path,
                          special_tokens: Mapping[str, str] | None = None) -> "Tokenizer":
        """Load an external byte-level BPE pair (GPT-2/RoBERTa ``vocab.json`` + ``merges.txt``).

        This is the format ``tokenizers.ByteLevelBPETokenizer.save_model`` writes.
        ``special_tokens`` maps Penguin roles (keys of ``SPECIAL_TOKENS``) to that vocab's tokens,
        e.g. ``{"pad": "<pad>", "bos": "<s>", "eos": "</s>", "sep": "<sep>"}``; a role left out
        uses Penguin's spelling. A role whose token the vocab lacks is added as a new special
        token (appended ids).

        The vocab's ids are kept except one: padding is id 0 by contract with the brain
        (``penguin.brain.config.PAD_ID``), so the pad token trades ids with whatever token held 0
        (RoBERTa-style vocabs put ``<s>`` there). Merges refer to
        tokens by spelling, so the trade does not change how text splits.
        """
        for p in (vocab_json, merges_txt):
            try:
                with open(p, "rb") as f:
                    f.read(1)
            except OSError as e:
                raise ValueError(f"cannot read tokenizer file {p}: {e.strerror or e}") from None
        try:
            vocab, merges = models.BPE.read_file(str(vocab_json), str(merges_txt))
        except Exception as e:
            raise ValueError(
                f"cannot load BPE files {vocab_json} + {merges_txt}: {str(e).splitlines()[0]}") from None
        specials = {**SPECIAL_TOKENS, **(special_tokens or {})}
        pad = specials.get("pad", SPECIAL_TOKENS["pad"])
        if vocab.get(pad) != 0:
            holder = next((t for t, i in vocab.items() if i == 0), None)
            old = vocab.pop(pad, max(vocab.values(), default=-1) + 1)
            if holder is not None:
                vocab[holder] = old
            vocab[pad] = 0
        backend = _Backend(models.BPE(vocab, merges))
        backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        backend.decoder = decoders.ByteLevel()
        backend.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in specials.values()])
        return cls(backend, specials)

    def save(self, path: str | Path) -> None:
        """Write a ``tokenizer.json`` that ``Tokenizer.load(path)`` reads back (Penguin roles only)."""
        if self._rename:
            raise ValueError("save: this tokenizer spells some special roles differently from Penguin "
                             f"({self._rename}); keep its vocab.json + merges.txt and load those instead")
        Path(path).write_text(self._backend.to_str(pretty=True) + "\n", encoding="utf-8")

    # ------------------------------------------------------------------ ids of the roles
    @property
    def vocab_size(self) -> int:
        """Number of ids, special tokens included (size of the brain's embedding table)."""
        return self._backend.get_vocab_size(with_added_tokens=True)

    @property
    def pad_id(self) -> int:
        return self._ids["pad"]

    @property
    def bos_id(self) -> int:
        return self._ids["bos"]

    @property
    def eos_id(self) -> int:
        return self._ids["eos"]

    @property
    def sep_id(self) -> int:
        return self._ids["sep"]

    @property
    def unk_id(self) -> int:
        return self._ids["unk"]

    @property
    def special_ids(self) -> dict[str, int]:
        """Role → id for every special role."""
        return dict(self._ids)

    def action_id(self, action: int) -> int:
        """The token id of docs/game.md action ``action`` (1 forward, 2 backward, 3 clock, 4 anticlock)."""
        if action not in _ACTION_ROLES:
            raise ValueError(f"action {action!r} has no token; action ids with tokens are 1..4 (docs/game.md)")
        return self._ids[_ACTION_ROLES[action]]

    @property
    def id_to_action(self) -> dict[int, int]:
        """Token id → docs/game.md action id, for the four action tokens."""
        return dict(self._id_to_action)

    def actions_to_ids(self, actions: torch.Tensor) -> torch.Tensor:
        """Vectorised ``action_id``: a LongTensor of actions in 1..4 → their token ids (same shape)."""
        actions = torch.as_tensor(actions, dtype=torch.long)
        if actions.numel() and (actions.min() < 1 or actions.max() > 4):
            raise ValueError("actions_to_ids: every action must be in 1..4 (action 0 'nothing' has no token)")
        table = torch.tensor([-1] + [self.action_id(a) for a in (1, 2, 3, 4)], device=actions.device)
        return table[actions]

    def ids_to_actions(self, ids: torch.Tensor) -> torch.Tensor:
        """Token ids → docs/game.md action ids (same shape); any id that is not an action token gives 0."""
        ids = torch.as_tensor(ids, dtype=torch.long)
        lookup = self._action_of_id.to(ids.device)
        inside = (ids >= 0) & (ids < lookup.numel())
        return torch.where(inside, lookup[ids.clamp(0, lookup.numel() - 1)], torch.zeros_like(ids))

    def token_to_id(self, token: str) -> int | None:
        """The id of one vocabulary token (Penguin's special spellings resolve to their roles)."""
        return self._backend.token_to_id(self._rename.get(token, token))

    def id_to_token(self, token_id: int) -> str | None:
        """The vocabulary token of ``token_id`` (byte-level form, e.g. ``'Ġgold'``)."""
        token = self._backend.id_to_token(token_id)
        return self._unrename.get(token, token)

    # ------------------------------------------------------------------ text ↔ ids
    def _to_vocab(self, text: str) -> str:
        if self._rename_re is None:
            return text
        return self._rename_re.sub(lambda m: self._rename[m.group(0)], text)

    def encode(self, text: str, *, max_len: int | None = None, truncate: bool = False) -> list[int]:
        """Token ids of ``text``; no ``<s>``/``</s>`` added; special spellings become single ids.

        Longer than ``max_len`` → ``TokenOverflowError``, or the first ``max_len`` ids with
        ``truncate=True``.
        """
        ids = self._backend.encode(self._to_vocab(text), add_special_tokens=False).ids
        return self._fit(ids, max_len, truncate, text)

    def encode_batch(self, texts: Sequence[str], max_len: int | None = None,
                     truncate: bool = False) -> list[list[int]]:
        """``encode`` for many texts at once (the Rust batch encoder); same overflow rule per text."""
        encodings = self._backend.encode_batch([self._to_vocab(t) for t in texts], add_special_tokens=False)
        return [self._fit(e.ids, max_len, truncate, t) for e, t in zip(encodings, texts)]

    @staticmethod
    def _fit(ids: list[int], max_len: int | None, truncate: bool, text: str) -> list[int]:
        if max_len is None or len(ids) <= max_len:
            return ids
        if truncate:
            return ids[:max_len]
        raise _overflow(len(ids), max_len, text)

    def decode(self, ids: Sequence[int] | torch.Tensor, skip_special: bool = False) -> str:
        """Text of ``ids``. Padding is always dropped; other special tokens are kept unless
        ``skip_special``. ``decode(encode(s)) == s`` for any string ``s``.
        """
        if isinstance(ids, torch.Tensor):
            ids = ids.tolist()
        pad = self.pad_id
        text = self._backend.decode([i for i in ids if i != pad], skip_special_tokens=skip_special)
        if self._unrename_re is not None:
            text = self._unrename_re.sub(lambda m: self._unrename[m.group(0)], text)
        return text

    # ------------------------------------------------------------------ brain layout
    def framed_rows(self, texts: Sequence[str], role: str, max_len: int,
                    truncate: bool = False) -> list[list[int]]:
        """Id rows of ``texts`` framed for the brain, each at most ``max_len`` long (specials included).

        ``role="prompt"`` → ``<s> text``; ``"reply"`` → ``<sep> text </s>`` (``""`` → ``<sep> </s>``);
        ``"plain"`` → the text's ids alone. Too long → ``TokenOverflowError``, or with
        ``truncate=True`` the text is cut and the framing specials kept.
        """
        if role not in _FRAMES:
            raise ValueError(f"role {role!r} must be one of {', '.join(_FRAMES)}")
        head, tail = ([self._ids[r] for r in rs] for rs in _FRAMES[role])
        room = max_len - len(head) - len(tail)
        if room < 0:
            raise ValueError(
                f"max_len={max_len} cannot hold the {len(head) + len(tail)} special tokens of a {role} row")
        rows = []
        for ids, text in zip(self.encode_batch(list(texts)), texts):
            if len(ids) > room:
                if not truncate:
                    raise _overflow(len(ids) + len(head) + len(tail), max_len, text, role)
                ids = ids[:room]
            rows.append(head + ids + tail)
        return rows

    def pad_rows(self, rows: Sequence[Sequence[int]], width: int) -> torch.Tensor:
        """Right-pad id rows with ``pad_id`` into a LongTensor ``[len(rows), width]``."""
        out = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        for i, row in enumerate(rows):
            out[i, : len(row)] = torch.tensor(row, dtype=torch.long)
        return out

    def encode_dialogue(self, prompts: Sequence[str], answers: Sequence[str | None],
                        max_prompt_len: int, max_reply_len: int, *,
                        truncate: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Tokenise a batch of (prompt, answer) pairs into the brain's two id tensors.

        Returns ``prompt_ids`` LongTensor ``[B, max_prompt_len]`` = ``<s> prompt`` and
        ``reply_ids`` LongTensor ``[B, max_reply_len]`` = ``<sep> answer </s>``, both right-padded
        with ``pad_id`` to exactly the given widths (fixed shapes batch and compile well). An
        answer of ``None`` (image-target tasks) gives the reply ``<sep> </s>``: the decoder still
        sees a well-formed, never fully padded row and learns to say nothing.

        Teacher forcing: the decoder reads ``reply_ids[:, :-1]`` and predicts ``reply_ids[:, 1:]``;
        the answer-loss mask is ``reply_ids[:, 1:] != pad_id`` (the answer tokens and ``</s>``).
        Too long a prompt or answer → ``TokenOverflowError`` (widths include the specials), or
        with ``truncate=True`` the text is cut and the specials kept.
        """
        if len(prompts) != len(answers):
            raise ValueError(f"encode_dialogue: {len(prompts)} prompts but {len(answers)} answers")
        rows_p = self.framed_rows(prompts, "prompt", max_prompt_len, truncate)
        rows_r = self.framed_rows([a or "" for a in answers], "reply", max_reply_len, truncate)
        return self.pad_rows(rows_p, max_prompt_len), self.pad_rows(rows_r, max_reply_len)


class PromptTable:
    """A fixed set of strings tokenised once: a padded LongTensor ``ids [N, max_len]`` + ``lengths [N]``.

    Datamodules build one per prompt set (and per answer set) at setup, then pick rows by index
    in the hot path — no per-sample Python tokenising::

        table = PromptTable(tok, prompts("near_gold"), max_len=24)             # <s> prompt
        replies = PromptTable(tok, answers("near_gold"), 4, role="reply")      # <sep> answer </s>
        rows = table.ids[torch.randint(len(table), (B,), generator=g)]

    ``role`` sets the framing: ``"prompt"`` → ``<s> text``; ``"reply"`` → ``<sep> text </s>``
    (the layout of ``Tokenizer.encode_dialogue``); ``"plain"`` → the text's ids alone. ``max_len``
    is the row width, specials included. A string that does not fit raises
    ``TokenOverflowError`` unless ``truncate=True`` (then the text is cut, the specials kept).
    """

    def __init__(self, tokenizer: Tokenizer, strings: Sequence[str], max_len: int, *,
                 role: str = "prompt", truncate: bool = False):
        self.tokenizer = tokenizer
        self.strings: tuple[str, ...] = tuple(strings)
        self.role = role
        self.max_len = max_len
        rows = tokenizer.framed_rows(self.strings, role, max_len, truncate)
        self.ids: torch.Tensor = tokenizer.pad_rows(rows, max_len)
        self.lengths: torch.Tensor = torch.tensor([len(r) for r in rows], dtype=torch.long)
        self._index = {s: i for i, s in reversed(list(enumerate(self.strings)))}

    def __len__(self) -> int:
        return len(self.strings)

    def __getitem__(self, index) -> torch.Tensor:
        """Rows by index (int, slice or LongTensor), like ``table.ids[index]``."""
        return self.ids[index]

    def index(self, string: str) -> int:
        """Row of ``string`` (its first occurrence)."""
        try:
            return self._index[string]
        except KeyError:
            raise ValueError(f"{string!r} is not in this PromptTable") from None

    def to(self, device) -> "PromptTable":
        """Move ``ids`` and ``lengths`` to ``device`` (in place; returns self)."""
        self.ids = self.ids.to(device)
        self.lengths = self.lengths.to(device)
        return self

