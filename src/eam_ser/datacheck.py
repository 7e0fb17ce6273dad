"""The data check: every audio file of a run probed before any training or evaluation starts.

`check_data` decodes every file of the training and test splits once (with a progress bar) and
reports, by path and, for CSV manifests, by line:

- audio problems: unreadable, empty, NaN/inf samples, digital silence, a peak far outside full
  scale, or shorter than the encoder accepts (`FlamConfig.min_input_samples`: the CNN receptive
  field, or Whisper's STFT);
- data problems: the same row twice, the same audio content (hash of the decoded samples) under
  two speakers or in both training and test, labels the model does not know, fewer than two
  classes left to train on.

Policy (`on_bad_audio`): ``"error"`` (default) refuses the run when any file has an audio problem;
``"skip"`` drops those files and lists them (`DataCheckReport.skipped`). Data problems are
always refused: they are mistakes in the dataset that skipping files would hide. The check
raises `DataCheckError` (a ValueError) whose message lists every problem, so a run never stops
half-way on a file that could have been caught here.
"""

from __future__ import annotations

import csv
import hashlib
import os
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import soundfile
from tqdm.auto import tqdm

from eam_ser.audio import DEFAULT_SAMPLING_RATE, load_audio

if TYPE_CHECKING:
    from datasets import Dataset

__all__ = [
    "ON_BAD_AUDIO",
    "AudioProbe",
    "DataCheckError",
    "DataCheckReport",
    "DataProblem",
    "check_data",
    "probe_audio",
    "speaker_overlap",
]

ON_BAD_AUDIO = ("error", "skip")


class DataCheckError(ValueError):
    """The data check found problems; the message lists them and `report` holds them all."""

    def __init__(self, message: str, report: DataCheckReport) -> None:
        super().__init__(message)
        self.report = report


@dataclass(frozen=True)
class AudioProbe:
    """What probing one file found.

    Attributes:
        path: the file.
        sampling_rate: its rate in Hz (None when unreadable).
        channels: its channel count (None when unreadable).
        duration_s: its duration in seconds (0 when unreadable).
        content_hash: SHA-1 of the decoded mono 16 kHz float32 samples (None when unreadable).
        problem: why the file cannot be used, or None.
    """

    path: str
    sampling_rate: int | None
    channels: int | None
    duration_s: float
    content_hash: str | None
    problem: str | None


@dataclass(frozen=True)
class DataProblem:
    """One problem: the split, where it is (manifest line or path) and what it is."""

    split: str
    where: str
    problem: str

    def __str__(self) -> str:
        return f"{self.split}: {self.where}: {self.problem}"


@dataclass
class DataCheckReport:
    """Result of `check_data`: the probes, the problems, the skipped rows and the splits kept."""

    probes: dict[str, AudioProbe] = field(default_factory=dict)
    audio_problems: list[DataProblem] = field(default_factory=list)
    data_problems: list[DataProblem] = field(default_factory=list)
    skipped: list[DataProblem] = field(default_factory=list)

    def summary(self) -> str:
        """One line: files, hours, problems."""
        hours = sum(probe.duration_s for probe in self.probes.values()) / 3600
        return (
            f"{len(self.probes)} files ({hours:.2f} h): {len(self.audio_problems)} with audio "
            f"problems, {len(self.data_problems)} data problems, {len(self.skipped)} skipped"
        )

    def lines(self) -> list[str]:
        """Every problem, one per line."""
        return [str(p) for p in self.data_problems] + [str(p) for p in self.audio_problems]

    def write_skipped(self, path: Path) -> Path:
        """The skipped rows as CSV (split, where, problem)."""
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["split", "where", "problem"])
            for problem in self.skipped:
                writer.writerow([problem.split, problem.where, problem.problem])
        return path


def _truncated_riff(path: str) -> str | None:
    """For a RIFF (WAV) file whose header promises more bytes than the file holds, why it is
    refused: libsndfile reads what is there without a word, so half a recording would pass."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(12)
            size = os.fstat(handle.fileno()).st_size
    except OSError:
        return None
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    promised = int.from_bytes(head[4:8], "little") + 8
    if promised in (8, 0xFFFFFFFF + 8) or promised <= size:  # 0 / -1: length left open
        return None
    return (
        f"truncated: its header promises {promised} bytes, the file holds {size} "
        f"({100 * size / promised:.0f} %); copy it again"
    )


def probe_audio(path: str, *, min_input_samples: int = 1) -> AudioProbe:
    """Read the header of `path`, decode it to mono 16 kHz and check it (see module docstring).

    Args:
        path: an audio file soundfile reads.
        min_input_samples: shortest usable clip, in samples at 16 kHz.
    """
    try:
        info = soundfile.info(path)
    except (soundfile.LibsndfileError, RuntimeError, OSError, TypeError):
        try:
            load_audio(path)
        except ValueError as error:  # the reason, e.g. a git-lfs pointer in place of audio
            return AudioProbe(path, None, None, 0.0, None, str(error).removeprefix(f"{path}: "))
        return AudioProbe(path, None, None, 0.0, None, "unreadable audio header")
    rate, channels = int(info.samplerate), int(info.channels)
    truncated = _truncated_riff(path)
    if truncated is not None:
        return AudioProbe(path, rate, channels, float(info.duration), None, truncated)
    try:
        waveform = load_audio(path, DEFAULT_SAMPLING_RATE, allow_silence=False)
    except ValueError as error:
        problem = str(error).removeprefix(f"{path}: ")
        return AudioProbe(path, rate, channels, float(info.duration), None, problem)
    content_hash = hashlib.sha1(waveform.tobytes()).hexdigest()
    problem = None
    if waveform.size < min_input_samples:
        problem = (
            f"too short for the encoder: {waveform.size} samples at {DEFAULT_SAMPLING_RATE} Hz "
            f"({waveform.size / DEFAULT_SAMPLING_RATE * 1000:.1f} ms), it needs at least "
            f"{min_input_samples} ({min_input_samples / DEFAULT_SAMPLING_RATE * 1000:.1f} ms)"
        )
    duration_s = waveform.size / DEFAULT_SAMPLING_RATE
    return AudioProbe(path, rate, channels, duration_s, content_hash, problem)


def _near_duplicate_names(splits: Mapping[str, Dataset]) -> list[DataProblem]:
    """Labels that differ only by case or spaces (``Angry`` / ``angry ``: two classes by
    mistake) and numeric speaker ids that differ only by leading zeros (``011`` / ``11``, as
    a spreadsheet rewrites them: one speaker that a speaker split puts on both sides)."""
    from eam_ser.corpora.base import label_names

    problems = []
    labels = sorted({name for dataset in splits.values() for name in label_names(dataset)})
    speakers = sorted(
        {str(speaker) for dataset in splits.values() for speaker in dataset["speaker"]}
    )
    for kind, names, key in (
        ("labels", labels, lambda name: " ".join(name.split()).casefold()),
        ("speakers", speakers, lambda name: (name.lstrip("0") or "0") if name.isdigit() else name),
    ):
        groups: dict[str, list[str]] = defaultdict(list)
        for name in names:
            groups[key(name)].append(name)
        for group in groups.values():
            if len(group) > 1:
                how = "by case or spaces" if kind == "labels" else "by leading zeros"
                problems.append(
                    DataProblem(
                        "/".join(splits),
                        kind,
                        f"{kind} {group} differ only {how}: one {kind[:-1]} written two ways? "
                        "Write it one way in the data",
                    )
                )
    return problems


def _too_long(probe: AudioProbe, limit: float | None, split: str) -> str | None:
    """Why a clip longer than `limit` seconds cannot be used whole in `split` (None: fine)."""
    if limit is None or probe.duration_s <= limit:
        return None
    fix = (
        "set training.max_train_seconds (e.g. 10) to train on random crops, or cut it into clips"
        if split == "train"
        else "cut it into clips (eam-ser predict --segment auto scores long recordings)"
    )
    return (
        f"too long to use whole: {probe.duration_s:.0f} s (at most {limit:g} s in one piece); {fix}"
    )


def _where(dataset: Dataset, row: int) -> str:
    path = dataset[row]["audio"]
    if "manifest_line" in dataset.column_names:
        return f"line {dataset[row]['manifest_line']} ({path})"
    return path


def speaker_overlap(splits: Mapping[str, Dataset]) -> list[DataProblem]:
    """One problem per speaker found in more than one of `splits`, with its utterance count in
    each: the leak that makes a "speaker-independent" fold file score inflated numbers."""
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    for name, dataset in splits.items():
        for speaker in dataset["speaker"]:
            counts[str(speaker)][name] = counts[str(speaker)].get(name, 0) + 1
    return [
        DataProblem(
            "/".join(sorted(where)),
            f"speaker {speaker}",
            "in "
            + ", ".join(f"{split} ({count} utterances)" for split, count in sorted(where.items()))
            + ": the splits are not speaker-independent",
        )
        for speaker, where in sorted(counts.items())
        if len(where) > 1
    ]


def check_data(
    splits: Mapping[str, Dataset],
    *,
    min_input_samples: int = 1,
    model_labels: Sequence[str] | None = None,
    on_bad_audio: str = "error",
    progress: bool = True,
    max_seconds: Mapping[str, float | None] | None = None,
    unscored_splits: Collection[str] = (),
) -> tuple[dict[str, Dataset], DataCheckReport]:
    """Probe every file of `splits` and check the splits together.

    Args:
        splits: named corpus datasets (``audio`` path and ``label``/``speaker`` columns), e.g.
            ``{"train": train, "test": test}``; a split named ``"train"`` must keep two classes.
        min_input_samples: shortest usable clip in samples at 16 kHz (the model's
            `config.min_input_samples`).
        model_labels: the model's label names; a label outside them is a problem in every
            split but the `unscored_splits`.
        on_bad_audio: ``"error"`` or ``"skip"`` (see module docstring).
        progress: show a progress bar.
        max_seconds: per split name, the longest clip it may hold in seconds (None or absent:
            no limit), e.g. ``MAX_WHOLE_CLIP_S`` for whole-clip training and testing; a longer
            clip is an audio problem that says how to crop or segment it.
        unscored_splits: names of splits whose labels are never a target, such as the
            interfering speech of the robustness ladder: their labels are not checked against
            `model_labels`.

    Returns:
        The splits (without the skipped rows) and the report.

    Raises:
        DataCheckError: any data problem, or an audio problem with ``on_bad_audio="error"``.
        ValueError: `on_bad_audio` is not one of ``ON_BAD_AUDIO``.
    """
    from eam_ser.corpora.base import label_names

    if on_bad_audio not in ON_BAD_AUDIO:
        raise ValueError(f"on_bad_audio must be one of {ON_BAD_AUDIO}, got {on_bad_audio!r}")
    report = DataCheckReport()
    paths = sorted({path for dataset in splits.values() for path in dataset["audio"]})
    for path in tqdm(paths, desc="checking audio", unit="file", disable=not progress):
        report.probes[path] = probe_audio(path, min_input_samples=min_input_samples)

    owners: dict[str, set[tuple[str, str]]] = defaultdict(set)
    kept: dict[str, Dataset] = {}
    for name, dataset in splits.items():
        seen: dict[str, str] = {}
        bad_rows = []
        for row, (path, speaker) in enumerate(
            zip(dataset["audio"], dataset["speaker"], strict=True)
        ):
            where = _where(dataset, row)
            if path in seen:
                report.data_problems.append(
                    DataProblem(name, where, f"duplicate row: the same file as {seen[path]}")
                )
            seen.setdefault(path, where)
            probe = report.probes[path]
            reason = probe.problem or _too_long(probe, (max_seconds or {}).get(name), name)
            if reason is not None:
                problem = DataProblem(name, where, reason)
                report.audio_problems.append(problem)
                bad_rows.append(row)
                if on_bad_audio == "skip":
                    report.skipped.append(problem)
            else:
                owners[probe.content_hash].add((name, str(speaker)))
        names = label_names(dataset)
        if model_labels is not None and name not in unscored_splits:
            unknown = sorted(set(names) - set(model_labels))
            if unknown:
                report.data_problems.append(
                    DataProblem(
                        name,
                        "labels",
                        f"labels {unknown} are not among the model's labels {list(model_labels)}",
                    )
                )
        if on_bad_audio == "skip" and bad_rows:
            dataset = dataset.select(sorted(set(range(dataset.num_rows)) - set(bad_rows)))
        kept[name] = dataset
        if name == "train":
            present = sorted({names[label] for label in dataset["label"]})
            if len(present) < 2:
                report.data_problems.append(
                    DataProblem(
                        name,
                        "labels",
                        f"fewer than 2 classes to train on: {present or 'no rows left'}",
                    )
                )

    report.data_problems.extend(_near_duplicate_names(splits))
    for content_hash, holders in owners.items():
        speakers = sorted({speaker for _, speaker in holders})
        split_names = sorted({split for split, _ in holders})
        files = sorted(
            p for p, probe in report.probes.items() if probe.content_hash == content_hash
        )
        if len(speakers) > 1:
            report.data_problems.append(
                DataProblem(
                    "/".join(split_names),
                    ", ".join(files),
                    f"the same audio under speakers {speakers}",
                )
            )
        elif len(split_names) > 1:
            report.data_problems.append(
                DataProblem(
                    "/".join(split_names), ", ".join(files), "the same audio in training and test"
                )
            )

    refused = report.data_problems + (report.audio_problems if on_bad_audio == "error" else [])
    if refused:
        shown = "\n  ".join(str(problem) for problem in refused[:50])
        more = f"\n  ... and {len(refused) - 50} more" if len(refused) > 50 else ""
        hint = (
            "\n(--on-bad-audio skip drops files with audio problems)"
            if report.audio_problems and on_bad_audio == "error"
            else ""
        )
        raise DataCheckError(
            f"data check: {len(refused)} problems found before any work started:\n  "
            f"{shown}{more}{hint}",
            report,
        )
    return kept, report
