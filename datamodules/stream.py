"""`BatchStream`: an iterable dataset of ready-made batches, batch `i` = `make(i)`.

Task datamodules draw whole batches (vectorised), so the DataLoader runs with `batch_size=None`
and this stream hands it one `EpisodeSpec` per index. Indices run from `start` to `stop`
(forever when `stop` is None). With DataLoader workers, worker `k` of `n` makes indices
`i ≡ k (mod n)`; the DataLoader reads workers round-robin, so the order is unchanged and batch `i`
is the same with or without workers. Under DDP, `make` already includes the rank in its seed.
"""
from __future__ import annotations

import itertools
from typing import Callable, Iterator

from torch.utils.data import IterableDataset, get_worker_info


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
