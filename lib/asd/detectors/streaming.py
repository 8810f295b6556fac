"""Training inputs streamed in batches: the Keras detectors train in bounded memory.

The DCASE 2020 baseline stacks every 640-d vector of every training clip into one float64
matrix before training (about 7 GB for one machine type of the development set); stacking the
ID classifier's 64x64 patches costs as much again. Here every training example is a window of
consecutive frames of one clip's log-mel spectrogram, cut only when a batch needs it:

:class:`FrameVectorBatches` (``dense_ae``)
    5 consecutive frames (every frame a start), flattened frame after frame: 640-d vectors.
:class:`PatchBatches` (``id_classifier``)
    ``(n_bands, 64)`` patches of the mel-pooled, standardised log-mel, a start every 32
    frames and the last one aligned to the clip's end, with the clip's class label and weight.

Training holds the log-mels plus a few assembled windows of clips. When the log-mels are
memory-mapped from a feature pack (``asd train`` asks :func:`asd.features.extract_features`
for ``mmap=True``), not even they stay in the process: a window's clips are read once into one
contiguous array, and their pages released (:func:`asd.features.release_pages`).

Which examples are seen, and in which order, is a pure function of the seed, whether the
log-mels are in memory or mapped:

- one seeded permutation of all example positions sets the validation examples aside (the last
  ``validation_split`` of it, as ``keras.Model.fit(validation_split=...)`` takes the last ones);
- epoch ``e`` (generator seeded with ``(seed, e)``) permutes the clips, cuts that order into
  windows of :data:`SHUFFLE_WINDOW_CLIPS` clips and visits each window's examples in a random
  order: a shuffle buffer, as ``tf.data.Dataset.shuffle`` has. With fewer clips than the
  window it is a full shuffle of every example.

A batch costs a handful of NumPy calls whatever its size (one gather from the window's array),
so the Python work per batch is small and runs while TensorFlow trains on the previous batch
(Keras prefetches from a :class:`keras.utils.PyDataset` in a background thread).
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence

import keras
import numpy as np

from ..features import release_pages
from .windows import tile_to, vector_counts, window_counts

#: Clips whose examples are shuffled together within an epoch (about 45 MB of 11 s log-mels).
SHUFFLE_WINDOW_CLIPS = 256
#: Assembled windows kept per dataset (the current one and the next, where a batch straddles both).
_WINDOWS_KEPT = 2


class _WindowBatches(keras.utils.PyDataset):
    """Batches of windows of ``width`` consecutive frames cut from per-clip ``(n_bands, n_frames)`` arrays.

    Example positions are numbered clip after clip; example ``k`` of a clip starts at frame
    ``min(k * hop, n_frames - width)`` of the clip's *prepared* array (``prepare(log_mel)``,
    ``n_frames`` at least ``width``). Subclasses turn the gathered windows, shape
    ``(batch, width, n_bands)`` float32, into a Keras batch (:meth:`_batch`).
    """

    def __init__(
        self,
        log_mels: Sequence[np.ndarray],
        *,
        n_frames: np.ndarray,
        width: int,
        hop: int,
        positions: np.ndarray,
        batch_size: int,
        prepare: Callable[[np.ndarray], np.ndarray],
        shuffle_seed: int | None = None,
        window_clips: int | None = None,
    ):
        super().__init__(workers=1, use_multiprocessing=False)
        window_clips = SHUFFLE_WINDOW_CLIPS if window_clips is None else window_clips
        if batch_size < 1 or window_clips < 1:
            raise ValueError(f"batch_size and window_clips must be at least 1, got {batch_size}, {window_clips}")
        bands = {np.shape(log_mel)[0] for log_mel in log_mels}
        if len(bands) > 1:
            raise ValueError(f"log-mels differ in their number of bands: {sorted(bands)}")
        self.log_mels = log_mels
        self.width = int(width)
        self.hop = int(hop)
        self.batch_size = int(batch_size)
        self.prepare = prepare
        self.shuffle_seed = shuffle_seed
        self.window_clips = int(window_clips)
        self.n_frames = np.asarray(n_frames, dtype=np.int64)
        counts = window_counts(self.n_frames, width=self.width, hop=self.hop)
        self.starts = np.concatenate([[0], np.cumsum(counts)])  # first position of each clip
        index_type = np.int32 if self.starts[-1] < 2**31 else np.int64
        self.positions = np.sort(np.asarray(positions)).astype(index_type)
        if self.positions.size and (self.positions[0] < 0 or self.positions[-1] >= self.starts[-1]):
            raise ValueError(f"positions must lie in [0, {int(self.starts[-1])})")
        self.clip_bounds = np.searchsorted(self.positions, self.starts)  # clip c: positions[b[c]:b[c + 1]]
        self._mapped = any(isinstance(log_mel, np.memmap) for log_mel in log_mels)
        self._windows: OrderedDict[tuple[int, int], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.epoch = 0
        self._set_epoch(0)

    # -- order -----------------------------------------------------------------------------
    def _set_epoch(self, epoch: int) -> None:
        """This epoch's clip windows and example order (see the module notes)."""
        n_clips = len(self.log_mels)
        if self.shuffle_seed is None:
            rng, clips = None, np.arange(n_clips)
        else:
            rng = np.random.default_rng([self.shuffle_seed, epoch])
            clips = rng.permutation(n_clips)
        bounds = self.clip_bounds
        parts, window_clips = [], []
        for first in range(0, n_clips, self.window_clips):
            members = clips[first : first + self.window_clips]
            window_clips.append(members)
            if rng is not None:
                window = [self.positions[bounds[c] : bounds[c + 1]] for c in members.tolist()]
                parts.append(rng.permutation(np.concatenate(window)))
        if rng is None:
            self.order = self.positions
        else:
            self.order = np.concatenate(parts) if parts else self.positions[:0]
        self.window_members = window_clips
        self.clip_window = np.empty(n_clips, dtype=np.int64)  # window of each clip this epoch
        self.clip_offset = np.empty(n_clips, dtype=np.int64)  # its first frame in the window's array
        for window, members in enumerate(window_clips):
            self.clip_window[members] = window
            self.clip_offset[members] = np.concatenate([[0], np.cumsum(self.n_frames[members])[:-1]])
        self._key = epoch if rng is not None else 0  # a fixed order keeps its windows across epochs
        with self._lock:  # windows of another epoch's order are of no further use
            for key in [key for key in self._windows if key[0] != self._key]:
                del self._windows[key]

    def __len__(self) -> int:
        return math.ceil(len(self.positions) / self.batch_size)

    def on_epoch_end(self) -> None:
        self.epoch += 1
        self._set_epoch(self.epoch)

    # -- windows of clips --------------------------------------------------------------------
    def _window(self, window: int) -> np.ndarray:
        """The window's prepared clips, time-major and concatenated: ``(sum of n_frames, n_bands)``."""
        key = (self._key, window)
        with self._lock:
            if key in self._windows:
                self._windows.move_to_end(key)
                return self._windows[key]
        members = self.window_members[window].tolist()
        array = np.concatenate([self.prepare(self.log_mels[c]).T for c in members]).astype(np.float32, copy=False)
        if self._mapped:  # read once into the window's array: hand the pages back
            release_pages(self.log_mels[c] for c in members)
        with self._lock:
            self._windows[key] = array
            while len(self._windows) > _WINDOWS_KEPT:
                self._windows.popitem(last=False)
        return array

    def windows(self, positions: np.ndarray) -> np.ndarray:
        """The examples at ``positions`` as ``(len(positions), width, n_bands)`` float32 (time-major)."""
        positions = np.asarray(positions, dtype=np.int64)
        clips = np.searchsorted(self.starts, positions, side="right") - 1
        first = np.minimum((positions - self.starts[clips]) * self.hop, self.n_frames[clips] - self.width)
        rows = self.clip_offset[clips] + first
        span = np.arange(self.width)
        owners = self.clip_window[clips]
        n_bands = np.shape(self.log_mels[0])[0] if self.log_mels else 0
        out = None
        for window in np.unique(owners).tolist():
            array = self._window(window)
            selected = owners == window
            gathered = array[rows[selected, np.newaxis] + span]
            if out is None:
                if selected.all():
                    return gathered
                out = np.empty((len(positions), self.width, array.shape[1]), dtype=np.float32)
            out[selected] = gathered
        return out if out is not None else np.empty((0, self.width, n_bands), dtype=np.float32)

    def release(self) -> None:
        """Drop the assembled windows (call when training is over)."""
        with self._lock:
            self._windows.clear()

    def __getitem__(self, index: int):
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} out of range (0..{len(self) - 1})")
        positions = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        return self._batch(positions, self.windows(positions))

    def _batch(self, positions: np.ndarray, windows: np.ndarray):
        raise NotImplementedError


class FrameVectorBatches(_WindowBatches):
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
    window_clips : int, optional
        Clips per shuffle window (default :data:`SHUFFLE_WINDOW_CLIPS`).

    Each batch is a float32 array of shape ``(batch, n_mels * frames)``, returned as input
    and target (an autoencoder). ``__getitem__`` depends only on the index and the epoch, so
    Keras may prefetch batches in another thread.
    """

    def __init__(
        self,
        log_mels: Sequence[np.ndarray],
        *,
        positions: np.ndarray,
        frames: int,
        batch_size: int,
        shuffle_seed: int | None = None,
        window_clips: int | None = None,
    ):
        counts = vector_counts(log_mels, frames=frames)
        super().__init__(
            log_mels,
            n_frames=counts + frames - 1,
            width=frames,
            hop=1,
            positions=positions,
            batch_size=batch_size,
            prepare=_as_float32,
            shuffle_seed=shuffle_seed,
            window_clips=window_clips,
        )
        self.frames = int(frames)

    def vectors(self, positions: np.ndarray) -> np.ndarray:
        """The vectors at ``positions``, shape ``(len(positions), n_mels * frames)``, float32."""
        windows = self.windows(positions)
        return windows.reshape(len(windows), -1)  # frame after frame, as frame_vectors

    def _batch(self, positions, windows):
        batch = windows.reshape(len(windows), -1)
        return batch, batch


def _as_float32(log_mel: np.ndarray) -> np.ndarray:
    return np.asarray(log_mel, dtype=np.float32)


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
    train = FrameVectorBatches(
        log_mels, positions=permutation[:split_at], frames=frames, batch_size=batch_size, shuffle_seed=seed
    )
    if split_at == total:
        return train, None
    validation = FrameVectorBatches(log_mels, positions=permutation[split_at:], frames=frames, batch_size=batch_size)
    return train, validation


class PatchBatches(_WindowBatches):
    """Batches ``(patches, labels, weights)`` of log-mel patches with each clip's class, for a classifier.

    Parameters
    ----------
    log_mels : sequence of np.ndarray, each ``(n_mels, n_frames)``
        Per-clip log-mel spectrograms, in memory or memory-mapped (not copied).
    prepare : callable
        ``log_mel -> (n_bands, n_frames')`` float32, applied to each clip before cutting (e.g.
        pool bands and standardise); must keep the number of frames (``n_frames' == n_frames``).
    frames, hop : int
        Patch width and the frames between patch starts; the last patch is aligned to the clip's
        end, and a clip shorter than ``frames`` is tiled in time to one full patch.
    labels : np.ndarray of int, shape ``(n_clips,)``
        Class of each clip (every patch of a clip has it).
    class_weights : np.ndarray of float, shape ``(n_classes,)``
        Sample weight of a patch of each class.
    batch_size : int
        Patches per batch.
    shuffle_seed : int, optional
        Window-shuffled order, reseeded every epoch; ``None``: clip after clip.
    window_clips : int, optional
        Clips per shuffle window (default :data:`SHUFFLE_WINDOW_CLIPS`).

    Each batch: patches ``(batch, n_bands, frames, 1)`` float32, labels ``(batch,)`` int32,
    weights ``(batch,)`` float32; patch ``k`` of a clip is what :func:`cut_patches` cuts.
    """

    def __init__(
        self,
        log_mels: Sequence[np.ndarray],
        *,
        prepare: Callable[[np.ndarray], np.ndarray],
        frames: int,
        hop: int,
        labels: np.ndarray,
        class_weights: np.ndarray,
        batch_size: int,
        shuffle_seed: int | None = None,
        window_clips: int | None = None,
    ):
        if hop < 1:
            raise ValueError(f"patch hop must be at least 1 frame, got {hop}")
        self.frames = int(frames)
        n_frames = np.maximum([np.shape(log_mel)[1] for log_mel in log_mels], self.frames)
        total = int(window_counts(n_frames, width=frames, hop=hop).sum()) if len(log_mels) else 0
        super().__init__(
            log_mels,
            n_frames=n_frames,
            width=frames,
            hop=hop,
            positions=np.arange(total),
            batch_size=batch_size,
            prepare=lambda log_mel: tile_to(prepare(log_mel), self.frames),
            shuffle_seed=shuffle_seed,
            window_clips=window_clips,
        )
        self.clip_labels = np.asarray(labels, dtype=np.int32)
        self.class_weights = np.asarray(class_weights, dtype=np.float32)
        if len(self.clip_labels) != len(log_mels):
            raise ValueError(f"{len(log_mels)} clips but {len(self.clip_labels)} labels")

    def patch_counts(self) -> np.ndarray:
        """Patches per clip, shape ``(n_clips,)``."""
        return np.diff(self.starts)

    def _batch(self, positions, windows):
        clips = np.searchsorted(self.starts, np.asarray(positions, dtype=np.int64), side="right") - 1
        labels = self.clip_labels[clips]
        patches = np.ascontiguousarray(windows.transpose(0, 2, 1))[..., np.newaxis]
        return patches, labels, self.class_weights[labels]


def streamed_mean_std(
    log_mels: Sequence[np.ndarray], prepare: Callable[[np.ndarray], np.ndarray]
) -> tuple[float, float]:
    """Mean and standard deviation over every value of ``prepare(log_mel)`` of every clip, two passes, float64.

    What ``np.stack([prepare(m) for m in log_mels])`` would give, without stacking; pages of
    memory-mapped clips are released as they are read.
    """
    total, count = 0.0, 0
    for log_mel in log_mels:
        values = np.asarray(prepare(log_mel), dtype=np.float64)
        total += float(values.sum())
        count += values.size
        release_pages([log_mel])
    if count == 0:
        raise ValueError("no values to compute a mean and standard deviation of")
    mean = total / count
    squares = 0.0
    for log_mel in log_mels:
        values = np.asarray(prepare(log_mel), dtype=np.float64)
        squares += float(np.square(values - mean).sum())
        release_pages([log_mel])
    return mean, math.sqrt(squares / count)
