"""The data check is in the library's run path: `run_split`, `run_cross_validation` and
`build_trainer` check every file before any training (policy `on_bad_audio`), as
``eam-ser train`` does."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from eam_ser.corpora import load_manifest, train_test_split_by_speakers
from eam_ser.data.check import DataCheckError
from eam_ser.experiment.build import build_trainer
from eam_ser.experiment.config import ExperimentConfig
from eam_ser.experiment.crossval import run_cross_validation, run_split
from test_crossval import TINY_CONFIG, write_tone_corpus


@pytest.fixture
def corpus_with_a_silent_file(tmp_path: Path) -> Path:
    """The tone corpus with s1's first 'low' clip replaced by digital silence."""
    manifest = write_tone_corpus(tmp_path)
    sf.write(tmp_path / "s1_low_0.wav", np.zeros(4800, np.float32), 16000)
    return manifest


def test_run_split_refuses_a_silent_file_before_training(corpus_with_a_silent_file, tmp_path):
    train, test = train_test_split_by_speakers(load_manifest(corpus_with_a_silent_file), ["s4"])
    config = ExperimentConfig.from_dict(TINY_CONFIG)
    with pytest.raises(DataCheckError, match=r"line 2 \(.*s1_low_0.wav\): .*silen") as error:
        run_split(train, test, config, tmp_path / "run")
    assert 'on_bad_audio="skip" drops files' in str(error.value)
    assert not (tmp_path / "run").exists()  # nothing trained, nothing written


def test_run_split_skips_a_silent_file_when_asked(corpus_with_a_silent_file, tmp_path):
    train, test = train_test_split_by_speakers(load_manifest(corpus_with_a_silent_file), ["s4"])
    config = ExperimentConfig.from_dict(TINY_CONFIG)
    results = run_split(train, test, config, tmp_path / "run", on_bad_audio="skip")
    assert results["folds"][0]["num_train"] == train.num_rows - 1 == 11
    listed = (tmp_path / "run" / "skipped_files.csv").read_text().splitlines()
    assert listed[0] == "split,where,problem" and "s1_low_0.wav" in listed[1]


def test_cross_validation_refuses_before_the_first_fold(corpus_with_a_silent_file, tmp_path):
    dataset = load_manifest(corpus_with_a_silent_file)
    config = ExperimentConfig.from_dict(TINY_CONFIG)
    with pytest.raises(DataCheckError, match=r"s1_low_0\.wav"):
        run_cross_validation(dataset, config, tmp_path / "cv")
    assert not (tmp_path / "cv" / "fold_0").exists()


def test_build_trainer_checks_datasets_of_files(corpus_with_a_silent_file, tmp_path):
    dataset = load_manifest(corpus_with_a_silent_file)
    config = ExperimentConfig.from_dict(TINY_CONFIG)
    with pytest.raises(DataCheckError, match=r"s1_low_0\.wav"):
        build_trainer(dataset, config, tmp_path / "trainer")
    trainer = build_trainer(dataset, config, tmp_path / "trainer", on_bad_audio="skip")
    assert len(trainer.train_dataset) == dataset.num_rows - 1
    # None: the caller checked them; the silent file then stays in.
    trainer = build_trainer(dataset, config, tmp_path / "trainer", on_bad_audio=None)
    assert len(trainer.train_dataset) == dataset.num_rows


def test_probes_in_parallel_and_from_the_record_give_the_same_report(tmp_path, monkeypatch):
    """Issue 32, point 5: worker processes decode the files, and a record of the files already
    probed (path, size, modification time) spares an unchanged file the next time; the report
    is the same either way, and a changed file is probed again."""
    import eam_ser.data.check as check
    from eam_ser.corpora import load_manifest
    from test_crossval import write_tone_corpus

    (tmp_path / "corpus").mkdir()
    dataset = load_manifest(write_tone_corpus(tmp_path / "corpus"))
    splits = {"train": dataset}
    _, alone = check.check_data(splits, progress=False)
    record = tmp_path / "record" / "probes.json"
    _, parallel = check.check_data(splits, progress=False, num_workers=2, probe_record=record)
    assert parallel.probes == alone.probes and parallel.lines() == alone.lines()
    assert len(json.loads(record.read_text())["probes"]) == len(alone.probes)

    probed = []
    real_probe = check.probe_audio
    monkeypatch.setattr(
        check, "probe_audio", lambda path, **kw: probed.append(path) or real_probe(path, **kw)
    )
    _, again = check.check_data(splits, progress=False, probe_record=record)
    assert probed == [] and again.probes == alone.probes
    changed = sorted(alone.probes)[0]
    waveform, rate = sf.read(changed, dtype="float32")
    sf.write(changed, waveform[: len(waveform) // 2], rate)
    _, after = check.check_data(splits, progress=False, probe_record=record)
    assert probed == [changed]
    assert after.probes[changed].duration_s == pytest.approx(
        alone.probes[changed].duration_s / 2, rel=0.01
    )
    with pytest.raises(ValueError, match="num_workers must be an integer >= 1"):
        check.check_data(splits, progress=False, num_workers=0)


def test_the_check_command_keeps_its_record_where_told(tmp_path, capsys):
    from eam_ser.cli import main

    (tmp_path / "corpus").mkdir()
    corpus = write_tone_corpus(tmp_path / "corpus")
    record = tmp_path / "probes.json"
    argv = ["check", "--data", str(corpus), "--workers", "2", "--probe-record", str(record)]
    assert main(argv) == 0
    first = capsys.readouterr().out
    assert len(json.loads(record.read_text())["probes"]) == 16
    assert main(argv) == 0
    assert capsys.readouterr().out.splitlines()[-1] == first.splitlines()[-1]
    assert main([*argv, "--no-probe-record"]) == 2
    assert "--probe-record and --no-probe-record: give one" in capsys.readouterr().err
