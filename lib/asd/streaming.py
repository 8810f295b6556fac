"""Frame vectors streamed in batches: train the baseline's dense autoencoder in bounded memory.

The DCASE 2020 baseline stacks every 640-d vector of every training clip into one float64
matrix before training (about 7 GB for one machine type of the development set). Here the
vectors are cut from the per-clip log-mel spectrograms only when a batch needs them
(:class:`FrameVectorBatches`): training holds the log-mels (5x smaller than the vectors) plus a
few batches. When the log-mels are memory-mapped from a feature pack (``asd train`` asks
:func:`asd.features.extract_features` for ``mmap=True``), not even they stay in the process:
the stream visits the clips a window at a time and releases the pages of the clips it has left
(:func:`asd.features.release_pages`).

Which vectors are seen, and in which order, is a pure function of the seed, whether the
log-mels are in memory or mapped:

- one seeded permutation of all vector positions sets the validation vectors aside (the last
  ``validation_split`` of it, as ``keras.Model.fit(validation_split=...)`` takes the last ones);
- epoch ``e`` (generator seeded with ``(seed, e)``) permutes the clips, cuts that order into
  windows of :data:`SHUFFLE_WINDOW_CLIPS` clips and visits each window's training vectors in a
  random order: a shuffle buffer, as ``tf.data.Dataset.shuffle`` has. With fewer clips than
  the window (``make report``'s data) it is a full shuffle of every vector.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from typing import Sequence

import keras
import numpy as np

from .features import release_pages

#: Clips whose vectors are shuffled together within an epoch (about 45 MB of 11 s log-mels).
SHUFFLE_WINDOW_CLIPS = 256


def vector_counts(log_mels: Sequence[np.ndarray], *, frames: int) -> np.ndarray:
    """Frame vectors per clip, ``n_frames - frames + 1``, shape ``(n_clips,)`` (int64).

    Raises
    ------
    ValueError
        A clip with fewer than ``frames`` frames (as :func:`asd.features.frame_vectors`).
    """
    counts = np.array([np.shape(log_mel)[1] - frames + 1 for log_mel in log_mels], dtype=np.int64)
    short = np.flatnonzero(counts < 1)
    if short.size:
        raise ValueError(f"clip {int(short[0])}: need at least {frames} frames, got {int(counts[short[0]]) + frames - 1}")
    return counts


class FrameVectorBatches(keras.utils.PyDataset):
    """Batches ``(vectors, vectors)`` of frame vectors, cut on the fly from per-clip log-mels.

    Vector ``t`` of a clip is ``log_mel[:, t], ..., log_mel[:, t + frames - 1]`` concatenated,
    exactly as :func:`asd.features.frame_vectors` builds it. Vector positions are numbered
    clip after clip (``0 .. sum(n_frames - frames + 1) - 1``).

    Parameters
    ----------
    log_mels : sequence of np.ndarray, each ``(n_mels, n_frames)``
        Per-clip log-mel spectrograms, in memory or ``numpy.memmap`` views of a feature pack
        (not copied; they must stay unchanged while training).
    positions : np.ndarray of int, shape ``(n_vectors,)``
        The vector positions this dataset serves (any order; they are sorted).
    frames : int
        Context width; vectors have ``n_mels * frames`` values.
    batch_size : int
        Vectors per batch (the last batch may be smaller).
    shuffle_seed : int, optional
        Visit the positions in a new window-shuffled order each epoch (see the module notes),
        seeded with ``(shuffle_seed, epoch)``. ``None``: in increasing order (validation).
    window_clips : int
        Clips per shuffle window.

    Each batch is a float32 array of shape ``(batch, n_mels * frames)``, returned as input
    and target (an autoencoder). ``__getitem__`` depends only on the index and the epoch, so
    Keras may prefetch batches in another thread. With memory-mapped log-mels, at most
    ``2 * window_clips`` clips keep their pages mapped at a time.
    """

    def __init__(
        self,
        log_mels: Sequence[np.ndarray],
        *,
        positions: np.ndarray,
        frames: int,
        batch_size: int,
        shuffle_seed: int | None = None,
        window_clips: int = SHUFFLE_WINDOW_CLIPS,
    ):
        super().__init__(workers=1, use_multiprocessing=False)
        if batch_size < 1 or window_clips < 1:
            raise ValueError(f"batch_size and window_clips must be at least 1, got {batch_size}, {window_clips}")
        self.log_mels = log_mels
        self.frames = int(frames)
        self.batch_size = int(batch_size)
        self.shuffle_seed = shuffle_seed
        self.window_clips = int(window_clips)
        counts = vector_counts(log_mels, frames=self.frames)
        bands = {np.shape(log_mel)[0] for log_mel in log_mels}
        if len(bands) > 1:
            raise ValueError(f"log-mels differ in their number of bands: {sorted(bands)}")
        self.starts = np.concatenate([[0], np.cumsum(counts)])  # first position of each clip
        index_type = np.int32 if self.starts[-1] < 2**31 else np.int64
        self.positions = np.sort(np.asarray(positions)).astype(index_type)
        if self.positions.size and (self.positions[0] < 0 or self.positions[-1] >= self.starts[-1]):
            raise ValueError(f"positions must lie in [0, {int(self.starts[-1])})")
        self.clip_bounds = np.searchsorted(self.positions, self.starts)  # clip c: positions[b[c]:b[c + 1]]
        self._mapped = any(isinstance(log_mel, np.memmap) for log_mel in log_mels)
        self._resident: OrderedDict[int, None] = OrderedDict()
        self._lock = threading.Lock()
        self.epoch = 0
        self.order = self._order_for(0)

    def _order_for(self, epoch: int) -> np.ndarray:
        if self.shuffle_seed is None:
            return self.positions
        rng = np.random.default_rng([self.shuffle_seed, epoch])
        clips = rng.permutation(len(self.log_mels))
        bounds = self.clip_bounds
        parts = []
        for first in range(0, len(clips), self.window_clips):
            window = [self.positions[bounds[c] : bounds[c + 1]] for c in clips[first : first + self.window_clips].tolist()]
            parts.append(rng.permutation(np.concatenate(window)))
        return np.concatenate(parts) if parts else self.positions[:0]

    def __len__(self) -> int:
        return math.ceil(len(self.positions) / self.batch_size)

    def vectors(self, positions: np.ndarray) -> np.ndarray:
        """The vectors at ``positions``, shape ``(len(positions), n_mels * frames)``, float32."""
        positions = np.asarray(positions, dtype=np.int64)
        clips = np.searchsorted(self.starts, positions, side="right") - 1
        offsets = positions - self.starts[clips]
        frames = self.frames
        n_mels = np.shape(self.log_mels[0])[0]
        out = np.empty((len(positions), frames, n_mels), dtype=np.float32)
        for row, (clip, start) in enumerate(zip(clips.tolist(), offsets.tolist())):
            out[row] = self.log_mels[clip][:, start : start + frames].T  # (frames, n_mels)
        if self._mapped:
            self._keep_mapped(np.unique(clips).tolist())
        return out.reshape(len(positions), frames * n_mels)  # frame after frame, as frame_vectors

    def _keep_mapped(self, clips: list[int]) -> None:
        """Note the clips just read; release the pages of the least recently read beyond 2 windows."""
        with self._lock:
            for clip in clips:
                self._resident[clip] = None
                self._resident.move_to_end(clip)
            stale = []
            while len(self._resident) > 2 * self.window_clips:
                stale.append(self._resident.popitem(last=False)[0])
        release_pages(self.log_mels[clip] for clip in stale)

    def release(self) -> None:
        """Release the pages of every memory-mapped clip read so far."""
        with self._lock:
            stale, self._resident = list(self._resident), OrderedDict()
        release_pages(self.log_mels[clip] for clip in stale)

    def __getitem__(self, index: int):
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} out of range (0..{len(self) - 1})")
        batch = self.vectors(self.order[index * self.batch_size : (index + 1) * self.batch_size])
        return batch, batch

    def on_epoch_end(self) -> None:
        self.epoch += 1
        self.order = self._order_for(self.epoch)


def frame_vector_batches(
    log_mels: Sequence[np.ndarray],
    *,
    frames: int,
    batch_size: int,
    validation_split: float,
    seed: int,
) -> tuple[FrameVectorBatches, FrameVectorBatches | None]:
    """Training and validation batches of every frame vector of ``log_mels``.

    Parameters
    ----------
    log_mels : sequence of np.ndarray, each ``(n_mels, n_frames)``
    frames : int
        Context width (the baseline's 5).
    batch_size : int
        Vectors per batch.
    validation_split : float
        Fraction of the vectors held out; ``0``, or fewer than one vector, means no validation.
    seed : int
        Seeds the split and the per-epoch order.

    Returns
    -------
    (FrameVectorBatches, FrameVectorBatches or None)
        Training batches (reshuffled every epoch) and validation batches (fixed order).
    """
    total = int(vector_counts(log_mels, frames=frames).sum())
    if total == 0:
        raise ValueError("no frame vectors to train on")
    permutation = np.random.default_rng(seed).permutation(total)
    split_at = total
    if validation_split > 0 and total * validation_split >= 1:
        split_at = int(math.ceil(total * (1.0 - validation_split)))  # as keras.Model.fit splits
    train = FrameVectorBatches(log_mels, positions=permutation[:split_at], frames=frames, batch_size=batch_size, shuffle_seed=seed)
    if split_at == total:
        return train, None
    validation = FrameVectorBatches(log_mels, positions=permutation[split_at:], frames=frames, batch_size=batch_size)
    return train, validation
