"""`BatchStream`: an iterable dataset of ready-made batches, batch `i` = `make(i)`.

Task datamodules draw whole batches (vectorised), so the DataLoader runs with `batch_size=None`
and this stream hands it one `EpisodeSpec` per index. Indices run from `start` to `stop`
(forever when `stop` is None). With DataLoader workers, worker `k` of `n` makes indices
`i ≡ k (mod n)`; the DataLoader reads workers round-robin, so the order is unchanged and batch `i`
is the same with or without workers. Under DDP, `make` already includes the rank in its seed.

`EpisodeStreamModule` is what every Penguin datamodule shares on top of that: training batches by
`(step, rank)` from `consumed` on, validation batches by key split across ranks, rendering on the
training device in `on_after_batch_transfer`, and the count of consumed batches for resume.
"""
from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from typing import Any, Callable, Iterator

import lightning as L
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from penguin.episode import EpisodeSpec


class BatchStream(IterableDataset):
    def __init__(self, make: Callable[[int], object], start: int = 0, stop: int | None = None):
        self.make, self.start, self.stop = make, start, stop

    def __iter__(self) -> Iterator[object]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        indices = itertools.count(self.start) if self.stop is None else range(self.start, self.stop)
        for i in indices:
            if (i - self.start) % workers == worker:
                yield self.make(i)


class EpisodeStreamModule(L.LightningDataModule, ABC):
    """Base of the task datamodules and the mixture. Subclasses provide `train_batch(step, rank)`,
    `validation_keys()` and `validation_batch(key)`, and set `image_size`."""

    image_size: int
    num_workers: int = 0

    def __init__(self) -> None:
        super().__init__()
        self.consumed = 0

    @abstractmethod
    def train_batch(self, step: int, rank: int = 0) -> EpisodeSpec:
        """See the class docstring."""

    @abstractmethod
    def validation_keys(self) -> list:
        """See the class docstring."""

    @abstractmethod
    def validation_batch(self, key: Any) -> EpisodeSpec:
        """See the class docstring."""

    @property
    def rank(self) -> tuple[int, int]:
        trainer = self.trainer
        return (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)

    def train_dataloader(self) -> DataLoader:
        rank, _ = self.rank
        stream = BatchStream(lambda s: self.train_batch(s, rank), start=self.consumed)
        return DataLoader(stream, batch_size=None, num_workers=self.num_workers)

    def val_dataloader(self) -> DataLoader:
        rank, world = self.rank
        mine = self.validation_keys()[rank::world]
        stream = BatchStream(lambda i: self.validation_batch(mine[i]), start=0, stop=len(mine))
        return DataLoader(stream, batch_size=None, num_workers=self.num_workers)

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        if isinstance(batch, EpisodeSpec):
            if self.trainer is not None and self.trainer.training:
                self.consumed += 1
            return batch.render(self.image_size)
        return batch
