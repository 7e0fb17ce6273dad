"""Encoder features computed once, for training a head on a frozen encoder.

When the encoder does not train (``freeze_encoder_steps=-1`` or ``trainable_encoder_layers=0``)
every epoch would run the same clips through the same encoder again. `EncoderFeatureCache` runs
the encoder over a dataset once (`FlamForSequenceClassification.encode`, eval mode, no
gradients) and keeps each clip's frames; `CachedFeatureCollator` pads them into
``encoder_hidden_states`` batches that `FlamForSequenceClassification.forward` takes instead of
audio, so only the head runs per step (unmixed, uncropped batches: ``eam.p = 0``, validation).

With EAM, a mixed clip is new audio and needs the encoder, but an unmixed clip of the same
batch is still its cached frames: `PartiallyCachedMixupCollator` draws and mixes exactly as the
EAM collator (same generator, same mixes and soft labels) and sends only the mixed rows through
the encoder, in the training step's `complete_on_device` hook. With p = 0.5 that is about half
the encoder work of mixing every batch through the encoder.

The cached frames are those of the encoder in eval mode: encoder dropout and SpecAugment-style
time masking (train-mode-only, and off for a frozen encoder in most recipes) are not applied.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset as TorchDataset
from tqdm.auto import tqdm

from eam_ser.data.collator import AudioCollator, one_hot
from eam_ser.mixup.collator import EnergyAdaptiveMixupCollator
from eam_ser.models.flam.arguments import check_integer

__all__ = [
    "CHUNK_CLIPS",
    "CachedFeatureCollator",
    "EncoderFeatureCache",
    "PartiallyCachedMixupCollator",
    "encoder_is_frozen",
    "feature_cache_key",
]

# Keys of the mixed rows' encoder inputs in a `PartiallyCachedMixupCollator` batch.
MIXED_ROWS_KEY = "mixed_rows"
MIXED_MASK_KEY = "mixed_attention_mask"
MIXED_INPUT_PREFIX = "mixed_"


def encoder_is_frozen(model: Any) -> bool:
    """True when no encoder parameter of `model` can train (now and later in the run)."""
    config = model.config
    if config.freeze_encoder_steps > 0:
        return False
    return not any(parameter.requires_grad for parameter in model.encoder.parameters())


FEATURE_CACHE_FORMAT = "eam-ser encoder feature cache 2"
"""Written into every cache key and index: a change of layout makes new keys."""
CHUNK_CLIPS = 1024
"""Clips decoded at a time while a cache on disk is built (memory flat in corpus size)."""


def _audio_fingerprint(audio: Any) -> bytes:
    """What identifies one clip for the cache key: a file by its absolute path, size and
    modification time (as ``make`` does: a rewritten file gets a new key without reading every
    file again), audio in memory by the hash of its samples and rate."""
    if isinstance(audio, Mapping):
        if audio.get("bytes") is not None:
            return hashlib.sha256(bytes(audio["bytes"])).digest()
        if audio.get("path") is not None and audio.get("array") is None:
            return _audio_fingerprint(audio["path"])
        array = audio.get("array", audio.get("raw"))
        rate = str(audio.get("sampling_rate")).encode()
        return hashlib.sha256(np.ascontiguousarray(np.asarray(array)).tobytes() + rate).digest()
    if isinstance(audio, (str, os.PathLike)):
        path = Path(audio).resolve()
        stat = path.stat()
        return f"{path}|{stat.st_size}|{stat.st_mtime_ns}".encode()
    if isinstance(audio, (bytes, bytearray, memoryview)):
        return hashlib.sha256(bytes(audio)).digest()
    if hasattr(audio, "get_all_samples"):  # a datasets >= 4 decoder: its samples and rate
        samples = audio.get_all_samples()
        data = samples.data.cpu().numpy().tobytes() + str(samples.sample_rate).encode()
        return hashlib.sha256(data).digest()
    array = np.asarray(audio)
    if array.dtype.kind not in "iuf":
        raise ValueError(
            f"audio of type {type(audio).__name__} ({array.dtype}): the feature cache cannot "
            "tell one such clip from another; give paths (Audio(decode=False)) or arrays"
        )
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).digest()


def feature_cache_key(model: Any, feature_extractor: Any, audio: Sequence[Any], dtype: str) -> str:
    """The folder name of a cache on disk: a SHA-256 over the cache format, the encoder's config
    and weights, the feature extractor's settings, the stored dtype and every clip
    (`_audio_fingerprint`); any change gives another key, so a stale cache is never read."""
    digest = hashlib.sha256(FEATURE_CACHE_FORMAT.encode())
    digest.update(model.encoder.config.to_json_string(use_diff=False).encode())
    digest.update(str(model.config.use_weighted_layer_sum).encode())
    for name, tensor in model.encoder.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().reshape(-1).view(torch.uint8).numpy().tobytes())
    digest.update(feature_extractor.to_json_string().encode())
    digest.update(dtype.encode())
    for clip in audio:
        digest.update(_audio_fingerprint(clip))
    return digest.hexdigest()[:32]


class _FramesOnDisk(Sequence):
    """The frames of every clip, read from the cache's file when asked: ``rows[i]`` is a float32
    (frames, hidden) array. Each read is one ``pread`` of that clip's bytes, not a memory map,
    so the process holds only the clips of the batch at hand (the operating system's page
    cache keeps the file's hot parts, outside the process's memory)."""

    def __init__(self, folder: Path) -> None:
        index = json.loads((folder / "index.json").read_text(encoding="utf-8"))
        self.path = folder / "frames.bin"
        self.offsets = np.load(folder / "offsets.npy")
        self.lengths = np.load(folder / "lengths.npy")
        self.dtype = np.dtype(index["dtype"])
        self.hidden_size = int(index["hidden_size"])
        self._file: Any = None
        self._pid = -1

    def __getstate__(self) -> dict[str, Any]:
        # An open file is not sent to DataLoader workers: each opens its own.
        return {**self.__dict__, "_file": None, "_pid": -1}

    def __len__(self) -> int:
        return len(self.lengths)

    def __getitem__(self, row: int) -> np.ndarray:  # type: ignore[override]
        if self._file is None or self._pid != os.getpid():
            self._file, self._pid = open(self.path, "rb"), os.getpid()
        row_bytes = self.hidden_size * self.dtype.itemsize
        data = os.pread(
            self._file.fileno(),
            int(self.lengths[row]) * row_bytes,
            int(self.offsets[row]) * row_bytes,
        )
        frames = np.frombuffer(data, dtype=self.dtype).reshape(-1, self.hidden_size)
        return frames.astype(np.float32)


class EncoderFeatureCache(TorchDataset):
    """The encoder's last hidden state of every clip of a dataset, computed once.

    ``durations`` holds each clip's duration in seconds (for batches by duration).
    Items are ``{"encoder_hidden_states": float32 (frames, hidden) array, "label": int}``, plus
    ``"input_values"``: the float32 (samples,) waveform at the extractor's rate with
    `keep_waveforms` (what `PartiallyCachedMixupCollator` mixes); ``cache["label"]`` is the
    label column (for class counts and balanced sampling).

    In memory (`cache_dir` None) the frames (and, with `keep_waveforms`, the decoded clips) of
    the whole dataset are held in RAM: about 0.55 MiB per clip of 2-3 s for Whisper base. On
    disk (`cache_dir` a folder) the memory stays flat in corpus size: clips are decoded
    `CHUNK_CLIPS` at a time, their frames appended to ``<cache_dir>/<key>/frames.bin`` (read
    back clip by clip), and with `keep_waveforms` a clip is decoded again when its item is
    read. The folder is named by `feature_cache_key` (encoder, weights, extractor, dtype and
    every clip), so a later run with the same encoder and data reuses it and any change builds
    a new one; it is written under a temporary name and renamed when complete, so a killed
    build or two processes building at once never leave a partial cache to read.

    Args:
        model: a `FlamForSequenceClassification` (its encoder is run in eval mode).
        feature_extractor: the model's feature extractor.
        dataset: rows with ``audio`` (anything `load_audio` accepts) and ``label``.
        batch_size: clips per encoder batch (clips are batched by similar length).
        keep_waveforms: keep the decoded clips in the items (for mixing).
        description: the progress bar's label (None: no progress bar).
        cache_dir: folder for caches on disk; None keeps the cache in memory.
        dtype: ``"float32"`` or ``"float16"``, how the frames are stored; items are float32.
    """

    def __init__(
        self,
        model: Any,
        feature_extractor: Any,
        dataset: Sequence[Mapping[str, Any]] | Any,
        batch_size: int = 16,
        *,
        keep_waveforms: bool = False,
        description: str | None = None,
        cache_dir: str | os.PathLike | None = None,
        dtype: str = "float32",
    ) -> None:
        batch_size = check_integer(batch_size, "batch_size", minimum=1)
        try:
            stored = np.dtype(dtype)
        except TypeError:
            stored = None
        if stored is None or stored.kind != "f" or stored.itemsize not in (2, 4):
            raise ValueError(f"dtype must be float32 or float16, got {dtype!r}")
        dtype = stored.name
        self.labels = [int(label) for label in dataset["label"]]
        self.collator = AudioCollator(
            feature_extractor, sampling_rate=feature_extractor.sampling_rate
        )
        self.dtype = dtype
        self.folder: Path | None = None
        self._dataset = None
        self.waveforms: list[np.ndarray] | None = None
        audio = dataset["audio"]
        if cache_dir is None:
            waveforms = self.collator.load_waveforms([{"audio": clip} for clip in audio])
            samples = np.array([waveform.shape[0] for waveform in waveforms], np.int64)
            frames: list[np.ndarray | None] = [None] * len(waveforms)
            for row, states in self._encode(model, waveforms, batch_size, description):
                frames[row] = states.astype(dtype, copy=False)
            self.frames: Sequence[np.ndarray] = frames  # type: ignore[assignment]
            self.waveforms = waveforms if keep_waveforms else None
        else:
            key = feature_cache_key(model, feature_extractor, audio, dtype)
            self.folder = Path(cache_dir) / key
            if not (self.folder / "index.json").is_file():
                self._build_on_disk(model, audio, batch_size, description)
            self.frames = _FramesOnDisk(self.folder)
            samples = np.load(self.folder / "samples.npy")
            self._dataset = dataset if keep_waveforms else None
        self.durations = samples / self.collator.sampling_rate
        self.column_names = ["encoder_hidden_states", "label"]

    def _encode(
        self,
        model: Any,
        waveforms: Sequence[np.ndarray],
        batch_size: int,
        description: str | None,
        *,
        first_row: int = 0,
        progress: Any = None,
    ) -> Iterator[tuple[int, np.ndarray]]:
        """``(row, float32 (frames, hidden))`` for every clip of `waveforms`, rows counted from
        `first_row`, the encoder run in eval mode on length-sorted batches."""
        order = np.argsort([waveform.shape[0] for waveform in waveforms], kind="stable")
        device = next(model.parameters()).device
        was_training = model.training
        model.eval()
        own_progress = progress is None
        if own_progress:
            progress = tqdm(
                total=len(order),
                desc=description,
                unit="clip",
                disable=description is None,
            )
        try:
            for start in range(0, len(order), batch_size):
                rows = order[start : start + batch_size]
                batch = self.collator.collate_waveforms([waveforms[row] for row in rows])
                name = model.config.encoder_input_name
                with torch.no_grad():
                    hidden, mask = model.encode(
                        **{name: batch[name].to(device)},
                        attention_mask=batch["attention_mask"].to(device),
                    )
                lengths = mask.sum(dim=-1).tolist()
                for row, states, length in zip(
                    rows, hidden.float().cpu().numpy(), lengths, strict=True
                ):
                    yield first_row + int(row), states[: int(length)]
                progress.update(len(rows))
        finally:
            if own_progress:
                progress.close()
            model.train(was_training)

    def _build_on_disk(
        self, model: Any, audio: Sequence[Any], batch_size: int, description: str | None
    ) -> None:
        """Encode the clips `CHUNK_CLIPS` at a time into a temporary folder, then rename it to
        `folder` (a folder another process completed first is kept)."""
        assert self.folder is not None
        self.folder.parent.mkdir(parents=True, exist_ok=True)
        building = Path(tempfile.mkdtemp(prefix=f"{self.folder.name}.", dir=self.folder.parent))
        offsets = np.zeros(len(audio), np.int64)
        samples = np.zeros(len(audio), np.int64)
        lengths = np.zeros(len(audio), np.int64)
        written, hidden_size = 0, 0
        progress = tqdm(
            total=len(audio), desc=description, unit="clip", disable=description is None
        )
        try:
            with open(building / "frames.bin", "wb") as frames_file:
                for first in range(0, len(audio), CHUNK_CLIPS):
                    chunk = audio[first : first + CHUNK_CLIPS]
                    waveforms = self.collator.load_waveforms([{"audio": clip} for clip in chunk])
                    samples[first : first + len(chunk)] = [w.shape[0] for w in waveforms]
                    encoded = self._encode(
                        model, waveforms, batch_size, None, first_row=first, progress=progress
                    )
                    for row, states in encoded:
                        offsets[row], lengths[row] = written, states.shape[0]
                        frames_file.write(np.ascontiguousarray(states, self.dtype).tobytes())
                        written += states.shape[0]
                        hidden_size = states.shape[1]
            np.save(building / "offsets.npy", offsets)
            np.save(building / "lengths.npy", lengths)
            np.save(building / "samples.npy", samples)
            index = {
                "format": FEATURE_CACHE_FORMAT,
                "clips": len(audio),
                "total_frames": written,
                "hidden_size": hidden_size,
                "dtype": self.dtype,
                "encoder": model.encoder.config.name_or_path,
            }
            (building / "index.json").write_text(json.dumps(index, indent=1), encoding="utf-8")
            try:
                os.rename(building, self.folder)
            except OSError:
                if not (self.folder / "index.json").is_file():
                    raise
                shutil.rmtree(building, ignore_errors=True)  # another process finished first
        except BaseException:
            shutil.rmtree(building, ignore_errors=True)
            raise
        finally:
            progress.close()

    @property
    def disk_bytes(self) -> int:
        """Bytes the cache takes on disk (0 in memory)."""
        if self.folder is None:
            return 0
        return sum(path.stat().st_size for path in self.folder.iterdir())

    def __len__(self) -> int:
        return len(self.labels)

    def _waveform(self, row: int) -> np.ndarray | None:
        if self.waveforms is not None:
            return self.waveforms[row]
        if self._dataset is None:
            return None
        return self.collator.load_waveforms([{"audio": self._dataset[row]["audio"]}])[0]

    def __getitem__(self, key: int | str) -> Any:
        if key == "label":
            return list(self.labels)
        if key == "encoder_hidden_states":
            return list(self.frames)
        frames = np.asarray(self.frames[key], dtype=np.float32)  # float16 storage: float32 items
        item = {"encoder_hidden_states": frames, "label": self.labels[key]}
        waveform = self._waveform(key)
        if waveform is not None:
            item["input_values"] = waveform
        return item


class CachedFeatureCollator:
    """Pad cached encoder frames into a batch for `FlamForSequenceClassification.forward`.

    Returns ``encoder_hidden_states`` (batch, frames, hidden) float32 zero-padded,
    ``attention_mask`` (batch, frames) int64 frame mask, ``labels`` (batch,) and one-hot
    ``soft_labels`` (batch, num_labels): the batch of an unmixed EAM collator, after the
    encoder.
    """

    def __init__(self, num_labels: int) -> None:
        self.num_labels = num_labels

    def as_eval(self) -> CachedFeatureCollator:
        """Never mixes: itself."""
        return self

    def __call__(self, features: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        if len(features) == 0:
            raise ValueError("features: empty batch")
        states = [np.asarray(feature["encoder_hidden_states"]) for feature in features]
        labels = np.array([int(feature["label"]) for feature in features], dtype=np.int64)
        lengths = np.array([state.shape[0] for state in states])
        hidden = np.zeros((len(states), int(lengths.max()), states[0].shape[1]), np.float32)
        for row, state in enumerate(states):
            hidden[row, : state.shape[0]] = state
        return {
            "encoder_hidden_states": torch.from_numpy(hidden),
            "attention_mask": torch.from_numpy(
                np.arange(hidden.shape[1]) < lengths[:, None]
            ).long(),
            "labels": torch.from_numpy(labels),
            "soft_labels": torch.from_numpy(one_hot(labels, self.num_labels)),
        }


class PartiallyCachedMixupCollator:
    """EAM for a frozen encoder: cached frames for the unmixed rows, the encoder for the mixed.

    Takes items of an `EncoderFeatureCache` built with ``keep_waveforms=True``. In training
    mode, `mixup.mix_waveforms` draws and mixes the batch's waveforms exactly as the EAM
    collator's own call would (same generator, same draws, same soft labels); the rows left
    unmixed take their cached frames, and only the mixed rows are featurized. The batch holds

    - ``encoder_hidden_states`` (batch, frames, hidden) float32: cached frames, zeros in the
      mixed rows until `complete_on_device` fills them;
    - ``attention_mask`` (batch, frames) int64 frame mask (a mixed clip keeps its length, so
      its frame count is that of its cached frames);
    - ``labels`` (batch,), ``soft_labels`` (batch, num_labels) float32 (the EAM soft labels);
    - when a row is mixed: ``mixed_rows`` (mixed,) int64 and the mixed rows' encoder input
      (``mixed_input_features`` or ``mixed_input_values``) with ``mixed_attention_mask``.

    `complete_on_device` (called by `MultiLossTrainer` in the training step, on the model's
    device) runs the frozen encoder on the mixed rows and writes their frames into
    ``encoder_hidden_states``. The result equals the EAM collator's batch run through the
    whole model within float rounding (the cached frames come from other padded batches),
    when the encoder computes the same in train and eval mode (no dropout, no SpecAugment).

    Args:
        mixup: the EAM collator of the run (its settings, generator and feature extractor);
            it must not crop (`max_train_seconds` None) nor mix on the device.
        model: the `FlamForSequenceClassification` whose frozen encoder made the cache.
    """

    def __init__(self, mixup: EnergyAdaptiveMixupCollator, model: Any) -> None:
        if mixup.max_train_samples is not None:
            raise ValueError(
                "PartiallyCachedMixupCollator: the cache holds whole clips, so the EAM collator "
                "must not crop (max_train_seconds=None)"
            )
        if mixup.mix_on_device:
            raise ValueError("PartiallyCachedMixupCollator: the EAM collator must mix on the host")
        self.mixup = mixup
        self.model = model
        self.cached = CachedFeatureCollator(mixup.num_labels)

    def as_eval(self) -> CachedFeatureCollator:
        """Evaluation batches are never mixed: the plain cached-feature collator."""
        return self.cached

    def state_dict(self) -> dict[str, Any]:
        """The EAM collator's random state (`EnergyAdaptiveMixupCollator.state_dict`)."""
        return self.mixup.state_dict()

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a `state_dict`."""
        self.mixup.load_state_dict(state)

    def __call__(self, features: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        """Collate cache items (with waveforms) into a batch; see the class docstring."""
        if not self.mixup.training:
            return self.cached(features)
        buffer, lengths, _, soft_labels = self.mixup.mix_waveforms(features)
        batch = self.cached(features)
        batch["soft_labels"] = torch.from_numpy(soft_labels)
        rows = np.flatnonzero(self.mixup.last_applied)
        if rows.size:
            inputs = self.mixup.collate_padded(buffer[rows], lengths[rows])
            batch[MIXED_ROWS_KEY] = torch.from_numpy(rows.astype(np.int64))
            batch[MIXED_MASK_KEY] = inputs.pop("attention_mask")
            (name,) = inputs
            batch[MIXED_INPUT_PREFIX + name] = inputs[name]
        return batch

    def complete_on_device(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Run the frozen encoder on the mixed rows and put their frames into
        ``encoder_hidden_states``; a batch without mixed rows is returned as it is."""
        batch = dict(batch)
        rows = batch.pop(MIXED_ROWS_KEY, None)
        if rows is None:
            return batch
        mask = batch.pop(MIXED_MASK_KEY)
        name = self.model.config.encoder_input_name
        hidden, frame_mask = self.model.encode(
            **{name: batch.pop(MIXED_INPUT_PREFIX + name)}, attention_mask=mask
        )
        states = batch["encoder_hidden_states"].clone()
        frames = min(hidden.shape[1], states.shape[1])
        fresh = hidden[:, :frames].to(states.dtype) * frame_mask[:, :frames, None]
        states[rows, :frames] = fresh
        batch["encoder_hidden_states"] = states
        return batch
