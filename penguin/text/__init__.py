"""Penguin's text: the building blocks of the task language, the tokenizer, the sentence corpus.

- ``prompts``: ``QuestionKind`` (a question's prompts, answers and rule; each task declares its
  own), ``check_kinds`` (the prompt rules), ``ACTION_NAMES`` / ``ACTION_TOKENS``. The project-wide
  set of kinds is ``datamodules.registry.question_kinds()``.
- ``tokenizer``: ``Tokenizer`` (byte-level BPE + special roles), ``PromptTable`` (tokenise once,
  pick rows by index), ``TokenOverflowError``.
- ``corpus``: ``sentences`` (procedural scene sentences), ``SentencePool``.
- ``build_tokenizer``: ``python -m penguin.text.build_tokenizer`` builds a tokenizer file.
"""
from penguin.text.corpus import SentencePool, sentences
from penguin.text.prompts import ACTION_NAMES, ACTION_TOKENS, PromptRegistryError, QuestionKind, check_kinds
from penguin.text.tokenizer import SPECIAL_TOKENS, PromptTable, Tokenizer, TokenOverflowError

__all__ = [
    "ACTION_NAMES",
    "ACTION_TOKENS",
    "SPECIAL_TOKENS",
    "PromptRegistryError",
    "PromptTable",
    "QuestionKind",
    "SentencePool",
    "TokenOverflowError",
    "Tokenizer",
    "check_kinds",
    "sentences",
]
