"""`eam_ser.inference.pipeline`: the pipeline task, and the model card's snippet run as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import tone
from eam_ser.hub import write_model_card
from inference_helpers import LABELS, save_wavlm_folder, save_whisper_folder


def test_pipeline_decodes_any_rate_and_batches_invariantly(wavlm_folder: Path, tmp_path) -> None:
    from transformers import pipeline

    import eam_ser.inference.pipeline  # noqa: F401

    classifier = pipeline("speech-emotion-recognition", model=str(wavlm_folder))
    clip = tone(0.8, 300.0)
    sf.write(tmp_path / "clip_8k.wav", tone(0.8, 300.0, sampling_rate=8000), 8000)
    alone = classifier(clip)
    assert [entry["label"] for entry in alone] == sorted(
        LABELS.values(), key=lambda name: -next(e["score"] for e in alone if e["label"] == name)
    )
    batch = classifier(
        [tone(2.0, 900.0), clip, (tmp_path / "clip_8k.wav").read_bytes()], batch_size=3, top_k=3
    )
    assert {e["label"]: e["score"] for e in batch[1]} == pytest.approx(
        {e["label"]: e["score"] for e in alone}, abs=1e-5
    )
    resampled = {e["label"]: e["score"] for e in batch[2]}
    assert sum(resampled.values()) == pytest.approx(1.0, abs=1e-5)
    long = classifier(
        {"raw": np.tile(clip, 30), "sampling_rate": 16000},
        segmentation="fixed",
        window_s=6.0,
        hop_s=6.0,
        top_k=1,
    )
    assert len(long["segments"]) == 4 and long["duration_s"] == pytest.approx(24.0)
    assert long["label"] == long["scores"][0]["label"]


def test_pipeline_answers_uncertain_below_min_confidence(wavlm_folder: Path) -> None:
    """As EmotionRecognizer(min_confidence=...): a top score at the threshold keeps its label,
    one below it is answered "uncertain"; the scores are given either way."""
    from transformers import pipeline

    import eam_ser.inference.pipeline  # noqa: F401
    from eam_ser.inference import UNCERTAIN

    classifier = pipeline("speech-emotion-recognition", model=str(wavlm_folder))
    clip = tone(0.8, 300.0)
    ranked = classifier(clip)
    top = ranked[0]
    assert classifier(clip, min_confidence=top["score"]) == {
        "label": top["label"],
        "scores": ranked,
    }
    assert classifier(clip, min_confidence=top["score"] + 1e-3) == {
        "label": UNCERTAIN,
        "scores": ranked,
    }
    # Given to the pipeline once, for every call; segments and the recording abstain too.
    unsure = pipeline(
        "speech-emotion-recognition", model=str(wavlm_folder), min_confidence=1.0, top_k=1
    )
    assert unsure(clip) == {"label": UNCERTAIN, "scores": ranked[:1]}
    long = unsure({"raw": np.tile(clip, 15), "sampling_rate": 16000}, segmentation="fixed")
    assert long["label"] == UNCERTAIN
    assert {segment["label"] for segment in long["segments"]} == {UNCERTAIN}
    with pytest.raises(
        ValueError, match=r"min_confidence must be a finite number in \(0, 1\] \(or None\), got 1.5"
    ):
        classifier(clip, min_confidence=1.5)


def test_pipeline_refuses_an_unknown_keyword_by_name(wavlm_folder: Path) -> None:
    from transformers import pipeline

    import eam_ser.inference.pipeline  # noqa: F401

    classifier = pipeline("speech-emotion-recognition", model=str(wavlm_folder))
    with pytest.raises(TypeError, match=r"unexpected keyword argument 'min_confidense'; it takes"):
        classifier(tone(0.8, 300.0), min_confidense=0.5)
    with pytest.raises(TypeError, match=r"unexpected keyword argument 'threshold'"):
        pipeline("speech-emotion-recognition", model=str(wavlm_folder), threshold=0.5)


def test_a_calls_batch_size_holds_for_that_call_only(wavlm_folder: Path) -> None:
    from transformers import pipeline

    import eam_ser.inference.pipeline  # noqa: F401

    classifier = pipeline("speech-emotion-recognition", model=str(wavlm_folder), batch_size=2)
    assert classifier.recognizer.batch_size == 2
    clips = [tone(0.8, 300.0), tone(0.6, 900.0), tone(0.7, 1500.0)]
    batches = []
    collate = classifier.recognizer.collator.collate_waveforms

    def recording(waveforms):
        batches.append(len(waveforms))
        return collate(waveforms)

    classifier.recognizer.collator.collate_waveforms = recording
    classifier(clips, batch_size=5)
    assert batches == [3]  # the call's batch size: the 3 clips in one batch
    classifier(clips)
    assert batches == [3, 2, 1]  # the pipeline's again
    assert classifier.recognizer.batch_size == 2


@pytest.mark.parametrize("family", ["wavlm", "whisper"])
def test_model_card_snippet_runs_as_written(family: str, tmp_path: Path) -> None:
    folder = (save_wavlm_folder if family == "wavlm" else save_whisper_folder)(tmp_path / "model")
    results = {
        "corpus": "custom",
        "label_names": list(LABELS.values()),
        "folds": [
            {
                "fold": 0,
                "test_speakers": ["s1"],
                "num_train": 4,
                "num_test": 2,
                "wa": 0.5,
                "ua": 0.5,
                "macro_f1": 0.5,
            }
        ],
        "mean": {"wa": 0.5, "ua": 0.5, "macro_f1": 0.5},
        "std": {"wa": 0.0, "ua": 0.0, "macro_f1": 0.0},
        "config": {},
    }
    write_model_card(folder, results, model_id=str(folder))
    card = (folder / "README.md").read_text()
    (snippet,) = re.findall(r"```python\n(.*?)```", card, flags=re.DOTALL)
    sf.write(tmp_path / "speech.wav", tone(25.0, 300.0, sampling_rate=22050), 22050)
    # As written; only each call's result is printed so the test can read it.
    script = "\n".join(
        f"print({line.split('  #')[0]})" if line.startswith("classifier(") else line
        for line in snippet.splitlines()
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    printed = [line for line in result.stdout.splitlines() if line.startswith(("[", "{"))]
    assert len(printed) == 2 and "'segments'" in printed[1]
