"""The brain: one multimodal transformer stepping through episodes with explicit state.

    from penguin.brain import Brain, BrainState, BrainStep, generate
    brain = Brain.from_preset("tiny64")
    out, state = brain(BrainStep(image=images, prompt_ids=prompt, reply_ids=reply),
                       BrainState.fresh(batch=8, device="cpu"))

Files, one concept each: `config.py` (sizes, presets), `layers.py` (attention blocks, positions,
masks), `vision.py` (image encoder/decoder), `language.py` (text encoder/decoder), `memory.py`
(memory writer, canvas FIFO), `kinds.py` (the names of the question-kind head's classes), `state.py`, `step.py` (inputs/outputs), `brain.py` (one step),
`generate.py` (writing a reply). `python -m penguin.brain` prints the presets' parameter counts.
"""
from penguin.brain.brain import Brain, Context, parameter_count
from penguin.brain.config import PAD_ID, PRESETS, BrainConfig, preset
from penguin.brain.generate import generate
from penguin.brain.kinds import KindVocabulary
from penguin.brain.state import BrainState
from penguin.brain.step import BrainOutput, BrainStep

__all__ = [
    "PAD_ID",
    "PRESETS",
    "Brain",
    "BrainConfig",
    "BrainOutput",
    "BrainState",
    "BrainStep",
    "Context",
    "KindVocabulary",
    "generate",
    "parameter_count",
    "preset",
]
