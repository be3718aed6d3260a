"""Build a tokenizer file, deterministically, from Penguin's own text.

Usage::

    python -m penguin.text.build_tokenizer --out /tmp/tok.json [--vocab-size 4096]

The shipped ``penguin/text/tokenizer.json`` is a fixed artefact: its token ids are part of every
brain's embedding, so every checkpoint depends on it, and rebuilding it would renumber the ids.
A new task does not need a new tokenizer (byte-level BPE encodes any text; the test
``tests/test_text.py::test_shipped_tokenizer_is_built_from_the_task_language`` tells which of the
registered task language is not one token per word). Build a new one for a new brain and point
the tasks at it (task option ``tokenizer``). The training text is

1. the task language of every registered task (``prompts.task_language``: every prompt,
   paraphrase, answer, slot value and action name), repeated so its words merge first;
2. a fixed sample of the procedural corpus (``corpus.sentences`` with seed 0);
3. a few hundred common English words (below), so user sentences tokenise reasonably too.

The model is byte-level BPE (GPT-2 pre-tokenisation without an added prefix space, so
``decode(encode(s)) == s``) with Penguin's special tokens first, in the id order of
``tokenizer.SPECIAL_TOKENS`` (``<pad>`` = 0). The vocabulary stops below ``--vocab-size`` when the
training text runs out of merges. The same inputs give a byte-identical file.
"""
from __future__ import annotations

import argparse
import re
from pathlib import Path

import torch
from tokenizers import AddedToken, decoders, models, pre_tokenizers, trainers
from tokenizers import Tokenizer as _Backend

from penguin.text import corpus, prompts
from penguin.text.tokenizer import SPECIAL_TOKENS, Tokenizer

DEFAULT_VOCAB_SIZE = 2048
CORPUS_SEED = 0
CORPUS_SENTENCES = 20_000
TASK_LANGUAGE_REPEATS = 20

COMMON_WORDS = """
a about above across after again against all almost alone along already also always am among an and
another any anything are around as ask at away back bad be because become been before behind being
below best better between big black blue body both bottom box bright bring but by call came can
car carry centre change circle clear close closer colour come corner could count cross day did
different do does done door down draw each early east easy eat edge eight else empty end enough even
ever every eye face far fast few field find first five floor follow for forward found four free from
front full game gap get give go gold good great green grid ground had half hand has have he head hear
heavy help her here high him his hold home how i if image in inside into is it its just keep kind know
large last leave left less let light like line little long look lost low make many map may me middle
might mind more most move much must my name near need never new next nine no north not nothing now
number of off often old on once one only open or other our out outside over own page part path pick
picture place play point put quick quiet rather reach read ready red remember rest right road room
round run same saw say scene second see seen seven shape short should show side sight simple since six
size slow small so some something soon south space square stand start step still stop straight such
sure take tell ten than that the their them then there these they thing think third this those three
through time to today together too top toward turn two under until up upon us use very view wait walk
wall want was watch water way we well went were west what when where which while white who whole why
wide will with without word work world would write yellow yes yet you your zero
able air animal answer area arm art baby bag ball bank bed bird bit boat book boy bread break brother
brown build busy buy cat child children city class clean cold cook cool country dark dog dream drink
drive dry ear earth egg enemy evening example eyes family farm father feel fire fish fly food foot
friend fun girl glass grass happy hard hat heart heat hill horse hot house hundred idea island
job jump king lady land late laugh lazy learn leg letter life love machine man men milk minute money
month moon morning mother mountain mouth music night noise nose ocean paper party people person plant
pretty problem question rain river rock rule sad salt sand school sea season sell send sentence shoe
shop sing sister sit sky sleep smile snow song sound speak spring star stone story street strong
student summer sun swim table talk teacher team thank thought tree true try understand village voice
war warm wash week weight wind window winter woman women wood year young
"""


def training_text() -> list[str]:
    """The tokenizer's training text, in a fixed order (see the module docstring)."""
    from datamodules import registry

    language = list(prompts.task_language(kind for _, kind in registry.question_kinds().values()))
    sample = corpus.sentences(torch.Generator().manual_seed(CORPUS_SEED), CORPUS_SENTENCES)
    words = COMMON_WORDS.split()
    # Words alone and after a space: byte-level BPE sees "word" and " word" as different pieces.
    text = language * TASK_LANGUAGE_REPEATS + sample + words + [" ".join(words)]
    # Special tokens are whole ids already; cut them out so no merge is spent on "<forward" etc.
    special = re.compile("|".join(re.escape(t) for t in SPECIAL_TOKENS.values()))
    return [part for line in text for part in special.split(line) if part]


def build(vocab_size: int = DEFAULT_VOCAB_SIZE) -> Tokenizer:
    """Train the byte-level BPE on ``training_text()`` and return it wrapped as a ``Tokenizer``."""
    if vocab_size < len(SPECIAL_TOKENS) + 256:
        raise ValueError(f"--vocab-size {vocab_size} is too small: byte-level BPE needs at least "
                         f"{len(SPECIAL_TOKENS) + 256} ids (256 bytes + {len(SPECIAL_TOKENS)} special tokens)")
    backend = _Backend(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    specials = [AddedToken(t, special=True, normalized=False) for t in SPECIAL_TOKENS.values()]
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=1,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    text = training_text()
    backend.train_from_iterator(text, trainer=trainer, length=len(text))
    return Tokenizer(backend)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m penguin.text.build_tokenizer", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True,
                        help="output file (the shipped penguin/text/tokenizer.json is fixed: see above)")
    parser.add_argument("--vocab-size", type=int, default=DEFAULT_VOCAB_SIZE,
                        help=f"largest vocabulary, special tokens included (default: {DEFAULT_VOCAB_SIZE})")
    args = parser.parse_args(argv)
    try:
        tokenizer = build(args.vocab_size)
        tokenizer.save(args.out)
    except (ValueError, OSError) as e:
        parser.exit(2, f"build_tokenizer: {e}\n")
    print(f"wrote {args.out}: vocab size {tokenizer.vocab_size}")


if __name__ == "__main__":
    main()
