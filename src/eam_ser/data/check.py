"""The data check: every audio file of a run probed before any training or evaluation starts.

`check_data` decodes every file of the training and test splits once (with a progress bar) and
reports, by path and, for CSV manifests, by line:

- audio problems: unreadable, empty, NaN/inf samples, digital silence, a peak far outside full
  scale, or shorter than the encoder accepts (`FlamConfig.min_input_samples`: the CNN receptive
  field, or Whisper's STFT);
- data problems: the same row twice, the same audio content (hash of the decoded samples) under
  two speakers or in both training and test, labels the model does not know, fewer than two
  classes left to train on, a label or speaker written two ways (case, spaces, Unicode form;
  leading zeros);
- a warning, not a problem: the speaker/label confound (`speaker_label_confound`), when most
  speakers carry one label.

Policy (`on_bad_audio`): ``"error"`` (default) refuses the run when any file has an audio problem;
``"skip"`` drops those files and lists them (`DataCheckReport.skipped`). Data problems are
always refused: they are mistakes in the dataset that skipping files would hide. The check
raises `DataCheckError` (a ValueError) whose message lists every problem, so a run never stops
half-way on a file that could have been caught here.
"""

from __future__ import annotations

import concurrent.futures
import csv
import dataclasses
import hashlib
import json
import os
import tempfile
from collections import Counter, defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import soundfile
from tqdm.auto import tqdm

from eam_ser.data.audio import (
    DEFAULT_SAMPLING_RATE,
    MAX_WHOLE_CLIP_S,
    load_audio,
)
from eam_ser.models.flam.arguments import check_integer

if TYPE_CHECKING:
    from datasets import Dataset

__all__ = [
    "ON_BAD_AUDIO",
    "AudioProbe",
    "DataCheckError",
    "DataCheckReport",
    "DataProblem",
    "SpeakerLabelConfound",
    "check_data",
    "check_run_data",
    "holds_files",
    "probe_audio",
    "speaker_label_confound",
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


ONE_LABEL_SHARE = 0.9
"""A speaker whose dominant label covers at least this share of its utterances "carries one
label" in the confound audit."""
CONFOUNDED_SPEAKER_SHARE = 0.5
"""The confound audit warns when more than this share of the speakers (with at least
`CONFOUND_MIN_UTTERANCES` utterances) carry one label."""
CONFOUND_MIN_UTTERANCES = 2
"""Speakers with fewer utterances say nothing about a confound (one utterance has one label)."""


@dataclass(frozen=True)
class SpeakerLabelConfound:
    """How far speaker identity predicts the label (`speaker_label_confound`).

    Attributes:
        speakers: per speaker (sorted by id): ``(speaker, utterances, dominant label, share of
            its utterances with that label)``.
        speaker_accuracy: the share of all utterances whose label is their speaker's dominant
            label: the accuracy of a "classifier" that only recognises the speaker.
        majority_share: the share of the most common label (the accuracy of always answering
            it), what `speaker_accuracy` is to be read against.
        one_label_speakers: speakers with at least `CONFOUND_MIN_UTTERANCES` utterances whose
            dominant share is at least `ONE_LABEL_SHARE`.
        counted_speakers: speakers with at least `CONFOUND_MIN_UTTERANCES` utterances.
    """

    speakers: tuple[tuple[str, int, str, float], ...]
    speaker_accuracy: float
    majority_share: float
    one_label_speakers: tuple[str, ...]
    counted_speakers: int

    @property
    def confounded(self) -> bool:
        """More than `CONFOUNDED_SPEAKER_SHARE` of the counted speakers carry one label."""
        return (
            self.counted_speakers > 0
            and len(self.one_label_speakers) > CONFOUNDED_SPEAKER_SHARE * self.counted_speakers
        )

    def warning(self) -> str | None:
        """What a user must know when speaker and label are confounded (None: they are not)."""
        if not self.confounded:
            return None
        return (
            f"speaker and label are confounded: {len(self.one_label_speakers)} of "
            f"{self.counted_speakers} speakers carry one label (at least "
            f"{100 * ONE_LABEL_SHARE:.0f} % of their utterances); knowing the speaker predicts "
            f"{100 * self.speaker_accuracy:.1f} % of the labels (the most common label: "
            f"{100 * self.majority_share:.1f} %). Random or utterance-level splits would "
            "measure the speaker, not the emotion: test on speakers held out "
            "(speaker-independent folds)"
        )

    def lines(self) -> list[str]:
        """One line per speaker: utterances, dominant label and its share."""
        return [
            f"speaker {speaker}: {count} utterances, {100 * share:.0f} % {label}"
            for speaker, count, label, share in self.speakers
        ]


def speaker_label_confound(splits: Mapping[str, Dataset]) -> SpeakerLabelConfound:
    """The confound audit of the utterances of all `splits` together: per speaker the share of
    its dominant label, and whether speaker identity predicts the label."""
    from eam_ser.corpora.base import label_names

    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for dataset in splits.values():
        names = label_names(dataset)
        for speaker, label in zip(dataset["speaker"], dataset["label"], strict=True):
            counts[str(speaker)][names[label]] += 1
    total = sum(sum(labels.values()) for labels in counts.values())
    speakers, dominant_total, one_label = [], 0, []
    for speaker in sorted(counts):
        # Ties go to the label first in alphabetical order, whatever the order of the rows.
        label, count = min(counts[speaker].items(), key=lambda item: (-item[1], item[0]))
        utterances = sum(counts[speaker].values())
        share = count / utterances
        speakers.append((speaker, utterances, label, share))
        dominant_total += count
        if utterances >= CONFOUND_MIN_UTTERANCES and share >= ONE_LABEL_SHARE:
            one_label.append(speaker)
    overall = sum((labels for labels in counts.values()), Counter())
    return SpeakerLabelConfound(
        speakers=tuple(speakers),
        speaker_accuracy=dominant_total / total if total else 0.0,
        majority_share=max(overall.values()) / total if total else 0.0,
        one_label_speakers=tuple(one_label),
        counted_speakers=sum(
            1 for labels in counts.values() if sum(labels.values()) >= CONFOUND_MIN_UTTERANCES
        ),
    )


@dataclass
class DataCheckReport:
    """Result of `check_data`: the probes, the problems, the skipped rows, the splits kept and
    the speaker/label confound audit (a warning, not a problem: such a corpus can still be
    tested honestly on held-out speakers)."""

    probes: dict[str, AudioProbe] = field(default_factory=dict)
    audio_problems: list[DataProblem] = field(default_factory=list)
    data_problems: list[DataProblem] = field(default_factory=list)
    skipped: list[DataProblem] = field(default_factory=list)
    confound: SpeakerLabelConfound | None = None

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
    """Labels that differ only by case, spaces or Unicode form (``Angry`` / ``angry ``, or
    ``wütend`` with a precomposed or a combining umlaut: two classes by mistake; `label_key`) and numeric speaker ids that differ only by leading zeros (``011`` / ``11``, as
    a spreadsheet rewrites them: one speaker that a speaker split puts on both sides)."""
    from eam_ser.corpora.base import label_names
    from eam_ser.corpora.vocabulary import label_key

    problems = []
    labels = sorted({name for dataset in splits.values() for name in label_names(dataset)})
    speakers = sorted(
        {str(speaker) for dataset in splits.values() for speaker in dataset["speaker"]}
    )
    for kind, names, key in (
        ("labels", labels, label_key),
        ("speakers", speakers, lambda name: (name.lstrip("0") or "0") if name.isdigit() else name),
    ):
        groups: dict[str, list[str]] = defaultdict(list)
        for name in names:
            groups[key(name)].append(name)
        for group in groups.values():
            if len(group) > 1:
                how = "by case, spaces or Unicode form" if kind == "labels" else "by leading zeros"
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
        else "cut it into clips (segmentation='auto' scores long recordings)"
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
    num_workers: int = 1,
    probe_record: str | os.PathLike | None = None,
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
            no limit), e.g. `MAX_WHOLE_CLIP_S` for whole-clip training and testing; a longer
            clip is an audio problem that says how to crop or segment it.
        unscored_splits: names of splits whose labels are never a target, such as the
            interfering speech of the robustness ladder: their labels are not checked against
            `model_labels`.
        num_workers: processes that decode the files (1: in this process).
        probe_record: a JSON file of files already probed, keyed by absolute path, size,
            modification time and `min_input_samples`: a file found there unchanged is not
            decoded again, and every new probe is added (None: no record). The report is the
            same with or without it.

    Returns:
        The splits (without the skipped rows) and the report.

    Raises:
        DataCheckError: any data problem, or an audio problem with ``on_bad_audio="error"``.
        ValueError: `on_bad_audio` is not one of ``ON_BAD_AUDIO``.
    """
    if on_bad_audio not in ON_BAD_AUDIO:
        raise ValueError(f"on_bad_audio must be one of {ON_BAD_AUDIO}, got {on_bad_audio!r}")
    report = DataCheckReport()
    num_workers = check_integer(num_workers, "num_workers", minimum=1)
    report.probes.update(
        _probe_files(splits, min_input_samples, progress, num_workers, probe_record)
    )
    owners: dict[str, set[tuple[str, str]]] = defaultdict(set)
    kept: dict[str, Dataset] = {}
    for name, dataset in splits.items():
        bad_rows = _check_rows(name, dataset, report, (max_seconds or {}).get(name), owners)
        if on_bad_audio == "skip":
            report.skipped.extend(
                problem for problem in report.audio_problems if problem.split == name
            )
            if bad_rows:
                dataset = dataset.select(sorted(set(range(dataset.num_rows)) - set(bad_rows)))
        kept[name] = dataset
        report.data_problems.extend(
            _label_problems(name, dataset, model_labels if name not in unscored_splits else None)
        )
    report.data_problems.extend(_near_duplicate_names(splits))
    report.data_problems.extend(_shared_audio(owners, report.probes))
    report.confound = speaker_label_confound(splits)
    _refuse(report, on_bad_audio)
    return kept, report


PROBE_RECORD_FORMAT = 1
"""Version of the probe record's layout (a record of another version is not read)."""


def _probe_key(path: str, min_input_samples: int) -> str | None:
    """What identifies one probe in the record (None: the file cannot be stat'ed)."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return f"{os.path.abspath(path)}|{stat.st_size}|{stat.st_mtime_ns}|{min_input_samples}"


def _read_probe_record(record: Path) -> dict[str, dict[str, Any]]:
    try:
        stored = json.loads(record.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # none yet, or unreadable: probe again and write a new one
    if not isinstance(stored, dict) or stored.get("format") != PROBE_RECORD_FORMAT:
        return {}
    return stored.get("probes", {})


def _probe(arguments: tuple[str, int]) -> AudioProbe:
    return probe_audio(arguments[0], min_input_samples=arguments[1])


def _probe_files(
    splits: Mapping[str, Dataset],
    min_input_samples: int,
    progress: bool,
    num_workers: int = 1,
    probe_record: str | os.PathLike | None = None,
) -> dict[str, AudioProbe]:
    """Each distinct file of `splits`, decoded once (in `num_workers` processes), unless the
    `probe_record` holds its probe unchanged."""
    paths = sorted({path for dataset in splits.values() for path in dataset["audio"]})
    record = _read_probe_record(Path(probe_record)) if probe_record is not None else {}
    keys = {path: _probe_key(path, min_input_samples) for path in paths}
    probes: dict[str, AudioProbe] = {}
    for path, key in keys.items():
        if key is not None and key in record:
            probes[path] = AudioProbe(**{**record[key], "path": path})
    todo = [path for path in paths if path not in probes]
    bar = tqdm(
        total=len(paths),
        initial=len(probes),
        desc="checking audio",
        unit="file",
        disable=not progress,
    )
    try:
        if num_workers > 1 and len(todo) > 1:
            with concurrent.futures.ProcessPoolExecutor(num_workers) as pool:
                found = pool.map(_probe, [(path, min_input_samples) for path in todo], chunksize=16)
                for path, probe in zip(todo, found, strict=True):
                    probes[path] = probe
                    bar.update()
        else:
            for path in todo:
                probes[path] = probe_audio(path, min_input_samples=min_input_samples)
                bar.update()
    finally:
        bar.close()
    if probe_record is not None and todo:
        for path in todo:
            if keys[path] is not None:
                record[keys[path]] = dataclasses.asdict(probes[path])
        _write_probe_record(Path(probe_record), record)
    return {path: probes[path] for path in paths}


def _write_probe_record(record: Path, probes: Mapping[str, Any]) -> None:
    """Write the record whole under a temporary name, then rename it into place (a reader never
    sees half of it; of two writers, the last one's record stays)."""
    record.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=record.name, dir=record.parent)
    with os.fdopen(handle, "w", encoding="utf-8") as file:
        json.dump({"format": PROBE_RECORD_FORMAT, "probes": probes}, file)
    os.replace(temporary, record)


def _check_rows(
    name: str,
    dataset: Dataset,
    report: DataCheckReport,
    max_seconds: float | None,
    owners: dict[str, set[tuple[str, str]]],
) -> list[int]:
    """The rows of split `name` with an audio problem (recorded in `report`, as are duplicate
    rows); every usable file's content is recorded in `owners` with its split and speaker."""
    seen: dict[str, str] = {}
    bad_rows = []
    for row, (path, speaker) in enumerate(zip(dataset["audio"], dataset["speaker"], strict=True)):
        where = _where(dataset, row)
        if path in seen:
            report.data_problems.append(
                DataProblem(name, where, f"duplicate row: the same file as {seen[path]}")
            )
        seen.setdefault(path, where)
        probe = report.probes[path]
        reason = probe.problem or _too_long(probe, max_seconds, name)
        if reason is not None:
            report.audio_problems.append(DataProblem(name, where, reason))
            bad_rows.append(row)
        else:
            owners[probe.content_hash].add((name, str(speaker)))
    return bad_rows


def _label_problems(
    name: str, dataset: Dataset, model_labels: Sequence[str] | None
) -> list[DataProblem]:
    """Labels of split `name` the model does not have, and a training split (``"train"``,
    after skipping) with fewer than two classes."""
    from eam_ser.corpora.base import label_names

    problems = []
    names = label_names(dataset)
    unknown = sorted(set(names) - set(model_labels)) if model_labels is not None else []
    if unknown:
        problems.append(
            DataProblem(
                name,
                "labels",
                f"labels {unknown} are not among the model's labels {list(model_labels or ())}",
            )
        )
    if name == "train":
        present = sorted({names[label] for label in dataset["label"]})
        if len(present) < 2:
            problems.append(
                DataProblem(
                    name, "labels", f"fewer than 2 classes to train on: {present or 'no rows left'}"
                )
            )
    return problems


def _shared_audio(
    owners: Mapping[str, set[tuple[str, str]]], probes: Mapping[str, AudioProbe]
) -> list[DataProblem]:
    """The same decoded audio under two speakers, or in training and test."""
    problems = []
    for content_hash, holders in owners.items():
        speakers = sorted({speaker for _, speaker in holders})
        split_names = sorted({split for split, _ in holders})
        files = sorted(path for path, probe in probes.items() if probe.content_hash == content_hash)
        if len(speakers) > 1:
            problems.append(
                DataProblem(
                    "/".join(split_names),
                    ", ".join(files),
                    f"the same audio under speakers {speakers}",
                )
            )
        elif len(split_names) > 1:
            problems.append(
                DataProblem(
                    "/".join(split_names), ", ".join(files), "the same audio in training and test"
                )
            )
    return problems


def _refuse(report: DataCheckReport, on_bad_audio: str) -> None:
    """Raise `DataCheckError` listing the refused problems (data problems always, audio
    problems unless skipped), if any."""
    refused = report.data_problems + (report.audio_problems if on_bad_audio == "error" else [])
    if not refused:
        return
    shown = "\n  ".join(str(problem) for problem in refused[:50])
    more = f"\n  ... and {len(refused) - 50} more" if len(refused) > 50 else ""
    hint = (
        '\n(on_bad_audio="skip" drops files with audio problems)'
        if report.audio_problems and on_bad_audio == "error"
        else ""
    )
    raise DataCheckError(
        f"data check: {len(refused)} problems found before any work started:\n  "
        f"{shown}{more}{hint}",
        report,
    )


def holds_files(dataset: Any) -> bool:
    """Whether `dataset` is a map-style `datasets.Dataset` whose ``audio`` column holds file
    paths (what `check_data` probes), not decoded arrays or a stream."""
    features = getattr(dataset, "features", None) or {}
    audio = features.get("audio") if hasattr(dataset, "num_rows") else None
    return getattr(audio, "dtype", None) == "string"


def check_run_data(
    splits: Mapping[str, Dataset],
    *,
    min_input_samples: int = 1,
    on_bad_audio: str = "error",
    model_labels: Sequence[str] | None = None,
    cropped_training: bool = False,
    unscored_splits: Collection[str] = (),
    progress: bool = True,
) -> tuple[dict[str, Dataset], DataCheckReport]:
    """`check_data` as a run makes it, before any long work: every split is used whole (at
    most `MAX_WHOLE_CLIP_S` per clip) but a ``"train"`` split that is `cropped_training`
    (``training.max_train_seconds``); the summary and each skipped file are printed. The
    other arguments are `check_data`'s."""
    kept, report = check_data(
        splits,
        min_input_samples=min_input_samples,
        model_labels=model_labels,
        unscored_splits=unscored_splits,
        on_bad_audio=on_bad_audio,
        progress=progress,
        max_seconds={
            name: None if name == "train" and cropped_training else MAX_WHOLE_CLIP_S
            for name in splits
        },
    )
    tqdm.write(f"data check: {report.summary()}")
    if report.confound is not None and report.confound.warning():
        tqdm.write(f"  warning: {report.confound.warning()}")
    for problem in report.skipped:
        tqdm.write(f"  skipped {problem}")
    return kept, report
