"""eam_ser.inference.robustness: the corrupted test sets, checked against their definitions,
and ``eam-ser evaluate --robustness`` end to end."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from conftest import png_picture, shows_colour, tone
from eam_ser.cli import main
from eam_ser.inference.robustness import (
    CLIPPING_LEVEL,
    ROBUSTNESS_SNRS,
    clip_peaks,
    corrupted_sets,
    interference_sets,
    robustness_ladder,
    telephone_band,
)


def power(x: np.ndarray) -> float:
    return float(np.mean(np.square(x, dtype=np.float64)))


def test_interference_is_added_at_the_stated_snr_from_one_generator():
    clips = [tone(0.5, 200.0), tone(0.3, 800.0, amplitude=0.2)]
    pool = [tone(0.1, 1500.0, amplitude=0.7), tone(0.2, 3000.0)]
    sets = interference_sets(clips, pool, len(pool), np.random.default_rng(1))
    again = interference_sets(clips, pool, len(pool), np.random.default_rng(1))
    drawn = np.random.default_rng(1).choice(len(pool), size=2)
    for name in ("noise", "speech"):
        assert list(sets[name]) == list(ROBUSTNESS_SNRS)
        for snr, mixed in sets[name].items():
            for clip, out, other in zip(clips, mixed, again[name][snr], strict=True):
                assert np.array_equal(out, other) and out.dtype == np.float32
                added = out.astype(np.float64) - clip
                assert 10 * np.log10(power(clip) / power(added)) == pytest.approx(snr, abs=1e-3)
    # The speech condition adds the drawn interferer, looped to the clip's length.
    added = sets["speech"][0.0][0].astype(np.float64) - clips[0]
    interferer = np.tile(pool[drawn[0]], 10)[: clips[0].size]
    assert abs(np.corrcoef(added, interferer)[0, 1]) > 0.999


def test_telephone_band_and_clipping():
    low, kept, high = tone(1.0, 100.0), tone(1.0, 1000.0), tone(1.0, 6000.0)
    assert power(telephone_band(low, 16000)) < 1e-6 * power(low)
    assert power(telephone_band(high, 16000)) < 1e-6 * power(high)
    assert power(telephone_band(kept, 16000)) == pytest.approx(power(kept), rel=1e-3)
    clipped = clip_peaks(kept)
    assert np.abs(clipped).max() == pytest.approx(CLIPPING_LEVEL * np.abs(kept).max(), rel=1e-6)
    assert np.array_equal(clipped[np.abs(kept) < 0.01], kept[np.abs(kept) < 0.01])


def test_ladder_scores_every_condition():
    clips = [tone(0.5, 300.0), tone(0.5, 900.0)]
    sets = corrupted_sets(clips, [tone(0.2, 2000.0)], 16000)
    assert list(sets) == ["noise", "speech", "telephone", "clipping"]
    assert list(sets["telephone"]) == ["300-3400 Hz"] and list(sets["clipping"]) == ["25 % of peak"]
    ladder = robustness_ladder(lambda batch: power(batch[0]), clips, [tone(0.2, 2000.0)], 16000)
    assert ladder["ua"]["noise"]["-5.0"] == pytest.approx(power(sets["noise"]["-5.0"][0]))
    with pytest.raises(ValueError, match="needs interfering utterances"):
        robustness_ladder(lambda batch: 0.0, clips, [], 16000)


def hand_ua(predictions: np.ndarray, references: np.ndarray) -> float:
    """Unweighted accuracy: the mean over the tested classes of the share predicted right."""
    return float(np.mean([np.mean(predictions[references == c] == c) for c in set(references)]))


def test_evaluate_robustness_through_the_command(corpus, trained, tmp_path, capsys, monkeypatch):
    from eam_ser.corpora import load_local, train_test_split_by_speakers
    from eam_ser.evaluation.plots import plot_robustness_ladder
    from eam_ser.inference import EmotionRecognizer
    from eam_ser.inference.evaluation import dataset_waveforms, model_references

    scored = []  # (clips, logits) of every call of the model
    predict_logits = EmotionRecognizer.predict_logits

    def recording(self, waveforms):
        logits = predict_logits(self, waveforms)
        scored.append(([np.array(w) for w in waveforms], logits))
        return logits

    monkeypatch.setattr(EmotionRecognizer, "predict_logits", recording)
    out = tmp_path / "metrics.json"
    command = ["evaluate", str(trained), "--data", str(corpus), "--test-speakers", "s4"]
    plot = tmp_path / "ladder.png"
    assert (
        main([*command, "--robustness", "--robustness-plot", str(plot), "--output", str(out)]) == 0
    )
    metrics = json.loads(out.read_text())
    ladder = metrics["robustness"]
    assert ladder["interferers"] == 12  # the utterances of s1-s3, never the tested s4
    assert {condition: list(levels) for condition, levels in ladder["ua"].items()} == {
        "noise": ["20.0", "10.0", "5.0", "0.0", "-5.0"],
        "speech": ["20.0", "10.0", "5.0", "0.0", "-5.0"],
        "telephone": ["300-3400 Hz"],
        "clipping": ["25 % of peak"],
    }
    # Each rung's UA is that of the model's predictions on exactly the clips its definition
    # gives (corrupted_sets on the tested clips, interferers from the untested speakers), and
    # the clean UA that of the tested clips themselves.
    recognizer = EmotionRecognizer.from_pretrained(trained)
    untested, tested = train_test_split_by_speakers(load_local(corpus), ["s4"])
    clean = dataset_waveforms(recognizer, tested)
    references = model_references(recognizer.model, tested)
    sets = corrupted_sets(clean, dataset_waveforms(recognizer, untested), 16000)

    def ua_of(clips) -> float:
        matching = [
            logits
            for seen, logits in scored
            if len(seen) == len(clips) and all(map(np.array_equal, seen, clips))
        ]
        assert len(matching) == 1, f"the model scored these clips {len(matching)} times"
        return hand_ua(matching[0].argmax(axis=-1), references)

    assert metrics["ua"] == pytest.approx(ua_of(clean))
    for condition, levels in sets.items():
        for level, clips in levels.items():
            assert ladder["ua"][condition][level] == pytest.approx(ua_of(clips)), (condition, level)
    assert len(scored) == 1 + 12  # the clean test, then one pass per rung
    assert "UA % under speech: 20.0: " in capsys.readouterr().out
    # The plot: a 6 x 4 in figure at 120 dpi with the clean line (grey) and every condition
    # drawn in its colour; another ladder draws another picture.
    picture = png_picture(plot)
    assert picture.shape[:2] == (480, 720)
    for colour in ("grey", "C0", "C1", "C2", "C3"):
        assert shows_colour(picture, colour), colour
    other = {**ladder, "ua": {**ladder["ua"], "noise": dict.fromkeys(ladder["ua"]["noise"], 0.9)}}
    if other["ua"]["noise"] == ladder["ua"]["noise"]:
        other["ua"]["noise"] = dict.fromkeys(ladder["ua"]["noise"], 0.1)
    moved = plot_robustness_ladder(other, metrics["ua"], tmp_path / "other.png")
    assert not np.array_equal(png_picture(moved), picture)
    assert main(["evaluate", str(trained), "--data", str(corpus), "--robustness"]) == 2
    assert "choose the tested ones with --test-speakers or --test-fold" in capsys.readouterr().err


def test_evaluate_writes_the_ladder_into_the_model_card_once(corpus, trained, tmp_path, capsys):
    from eam_ser.hub import robustness_markdown

    model = tmp_path / "model"
    shutil.copytree(trained, model)
    card = model / "README.md"
    original = card.read_text()
    out = tmp_path / "metrics.json"
    command = ["evaluate", str(model), "--data", str(corpus), "--test-speakers", "s4"]
    assert main([*command, "--robustness", "--update-card", "--output", str(out)]) == 0
    assert f"robustness section written to {card}" in capsys.readouterr().out
    metrics = json.loads(out.read_text())
    written = card.read_text()
    start, end = written.index("## Robustness\n"), written.index("## Usage\n")
    assert written[:start] + written[end:] == original  # only the section is new
    section = written[start:end]
    assert section.startswith(
        f"## Robustness\n\nUA of speakers s4 of {corpus.name} (4 utterances), clean and corrupted: "
    )
    assert "drawn from 12 utterances of speakers who were not tested" in section
    assert section.endswith(f"{robustness_markdown(metrics['robustness'], metrics['ua'])}\n\n")
    # The section carries the eleven rungs and the clean UA.
    assert section.count("dB SNR") == 10 and "| telephone band | 300-3400 Hz |" in section
    assert main([*command, "--robustness", "--update-card"]) == 0
    assert card.read_text() == written  # replaced, not appended: one section, the same ladder
    # Refused before any work: without the ladder, or without a local card to write to.
    capsys.readouterr()
    assert main([*command, "--update-card"]) == 2
    assert "--update-card writes the robustness ladder: add --robustness" in (
        capsys.readouterr().err
    )
    seen = ["evaluate", str(model), "--data", str(corpus), "--test-speakers", "s3"]
    assert main([*seen, "--robustness", "--update-card"]) == 2
    assert "the model was trained on speakers of this data (s3)" in capsys.readouterr().err
    assert card.read_text() == written
    card.unlink()
    assert main([*command, "--robustness", "--update-card"]) == 2
    assert "is not a local model folder with a model card (README.md)" in capsys.readouterr().err


def test_evaluate_robustness_decodes_each_clip_once(corpus, trained, tmp_path, monkeypatch):
    """The clean test and the ladder share one decode of the test clips (the data check
    reads the files on its own, before)."""
    import eam_ser.data.collator
    from eam_ser.corpora import load_local, train_test_split_by_speakers
    from eam_ser.inference import evaluate_model, evaluate_robustness

    decoded = []
    load_audio = eam_ser.data.collator.load_audio

    def counting(source, *args, **kwargs):
        decoded.append(Path(source).name)
        return load_audio(source, *args, **kwargs)

    monkeypatch.setattr(eam_ser.data.collator, "load_audio", counting)
    out = tmp_path / "metrics.json"
    command = ["evaluate", str(trained), "--data", str(corpus), "--test-speakers", "s4"]
    assert main([*command, "--robustness", "--output", str(out)]) == 0
    counts = Counter(decoded)
    assert len(counts) == 16 and set(counts.values()) == {1}  # 4 tested, 12 interferers
    # The numbers are those of the two evaluations decoding on their own.
    metrics = json.loads(out.read_text())
    from eam_ser.inference import EmotionRecognizer

    recognizer = EmotionRecognizer.from_pretrained(trained)
    untested, tested = train_test_split_by_speakers(load_local(corpus), ["s4"])
    model, extractor = recognizer.model, recognizer.feature_extractor
    assert evaluate_model(model, extractor, tested)["ua"] == metrics["ua"]
    ladder = evaluate_robustness(model, extractor, tested, untested)
    assert ladder["ua"] == metrics["robustness"]["ua"]
