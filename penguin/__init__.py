"""Penguin: train one multimodal brain on cognitive tasks set in a tiny 2D game.

`penguin.game` (the engine), `penguin.brain` (the model), `penguin.text` (tokenizer, task
language, corpus), `penguin.episode` (the batch contract); the entry points are
`python -m penguin.fit`, `penguin.tasks`, `penguin.evaluate` and `penguin.bench`. The task
datamodules live in the top-level `datamodules` package, the LightningModule, loss weightings and
task samplers in `lit_modules`, callbacks in `callbacks`.
"""
