"""Penguin's text: the task language (prompts), the tokenizer, and the procedural sentence corpus.

- ``prompts``: ``QUESTION_KINDS`` — every question kind, its prompts, answers and answer rule.
  The function ``prompts.prompts(kind)`` is not re-exported here: it would shadow the module.
- ``tokenizer``: ``Tokenizer`` (byte-level BPE + special roles), ``PromptTable`` (tokenise once,
  pick rows by index), ``TokenOverflowError``.
- ``corpus``: ``sentences`` (procedural scene sentences), ``SentencePool``.
- ``build_tokenizer``: ``python -m penguin.text.build_tokenizer`` rebuilds ``tokenizer.json``.
"""
from penguin.text.corpus import SentencePool, sentences
from penguin.text.prompts import (
    ACTION_NAMES,
    ACTION_TOKENS,
    QUESTION_KINDS,
    PromptRegistryError,
    QuestionKind,
    answers,
    expand,
    kinds_of_task,
    moves_text,
    recall_prompts,
    verbal_moves,
)
from penguin.text.tokenizer import SPECIAL_TOKENS, PromptTable, Tokenizer, TokenOverflowError

__all__ = [
    "ACTION_NAMES",
    "ACTION_TOKENS",
    "QUESTION_KINDS",
    "SPECIAL_TOKENS",
    "PromptRegistryError",
    "PromptTable",
    "QuestionKind",
    "SentencePool",
    "TokenOverflowError",
    "Tokenizer",
    "answers",
    "expand",
    "kinds_of_task",
    "moves_text",
    "recall_prompts",
    "sentences",
    "verbal_moves",
]
