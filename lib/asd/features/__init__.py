"""Features: log-mel spectrograms of clips, computed fast, stored on disk, checked against librosa.

Modules, one job each (imports only go down this list's dependencies, never up):

- :mod:`asd.features.clips`       the mono check and the short-clip tiling rule every kind applies
- :mod:`asd.features.parallel`    ``default_workers``, ``single_threaded_blas``, an ordered parallel map
- :mod:`asd.features.wav`         fast 16-bit PCM WAV decoding from the file's bytes
- :mod:`asd.features.mel`         the fast backend: batched float32 STFT and block-sparse mel filterbank
- :mod:`asd.features.kinds`       one public function per feature kind (image, baseline log-mel and
  vectors, fine log-mel for figures) and the :data:`KINDS` table
- :mod:`asd.features.reference`   the same kinds with plain librosa: the oracle of the tests
- :mod:`asd.features.standardize` :class:`Standardizer` (training statistics, stored with a model)
- :mod:`asd.features.packs`       feature packs: many clips' features in one memory-mapped file
- :mod:`asd.features.store`       the on-disk store (cache entries and packs), its content key and
  the configuration fingerprint
- :mod:`asd.features.extract`     :func:`extract_features`: read, compute, store many clips in parallel

Adding a feature kind: write its batched function in :mod:`asd.features.kinds` and add one
:class:`FeatureKind` to :data:`KINDS` (the store's fingerprint and :func:`extract_features`
follow), and its librosa version to :mod:`asd.features.reference` for the tests.
"""

from .clips import check_mono, tile_to_length
from .extract import (
    CHUNK_CLIPS,
    MIN_PARALLEL_CLIPS,
    Extracted,
    compute_features_batch,
    extract_features,
)
from .kinds import (
    IMAGE_AMIN,
    KINDS,
    FeatureKind,
    baseline_log_mel,
    baseline_log_mels,
    baseline_vectors,
    feature_kind,
    fine_log_mel,
    frame_vectors,
    log_mel_image,
    log_mel_images,
)
from .mel import MEL_BLOCK, MelPlan, mel_plan, mel_power_batch
from .packs import FeaturePack, PackWriter, load_pack, release_pages
from .parallel import default_workers, single_threaded_blas
from .standardize import Standardizer
from .store import FeatureCache, content_key, data_fingerprint, fingerprint, read_keyed
from .wav import decode_pcm16, pcm16_duration, read_clip_fast, read_pcm16_wav

__all__ = [
    "CHUNK_CLIPS",
    "IMAGE_AMIN",
    "KINDS",
    "MEL_BLOCK",
    "MIN_PARALLEL_CLIPS",
    "Extracted",
    "FeatureCache",
    "FeatureKind",
    "FeaturePack",
    "MelPlan",
    "PackWriter",
    "Standardizer",
    "baseline_log_mel",
    "baseline_log_mels",
    "baseline_vectors",
    "check_mono",
    "compute_features_batch",
    "content_key",
    "data_fingerprint",
    "decode_pcm16",
    "default_workers",
    "extract_features",
    "feature_kind",
    "fine_log_mel",
    "fingerprint",
    "frame_vectors",
    "load_pack",
    "log_mel_image",
    "log_mel_images",
    "mel_plan",
    "mel_power_batch",
    "pcm16_duration",
    "read_clip_fast",
    "read_keyed",
    "read_pcm16_wav",
    "release_pages",
    "single_threaded_blas",
    "tile_to_length",
]
