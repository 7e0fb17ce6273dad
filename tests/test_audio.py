"""Tests of eam_ser.data.audio: decoding, downmix, resampling and validation."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile
import torch
from datasets import Audio, Dataset

from conftest import tone
from eam_ser.data.audio import DEFAULT_SAMPLING_RATE, load_audio, validate_waveform


def write(path: Path, data: np.ndarray, rate: int = 16000, subtype: str = "FLOAT") -> Path:
    soundfile.write(path, data, rate, subtype=subtype)
    return path


def dominant_frequency_hz(waveform: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(waveform))
    return float(np.fft.rfftfreq(waveform.size, 1.0 / rate)[np.argmax(spectrum)])


def test_wav_round_trip_is_exact_float32(tmp_path: Path) -> None:
    signal = tone(0.5, 220.0)
    loaded = load_audio(write(tmp_path / "a.wav", signal))
    assert DEFAULT_SAMPLING_RATE == 16000
    assert loaded.dtype == np.float32 and loaded.shape == (8000,)
    np.testing.assert_array_equal(loaded, signal)


def test_flac_and_ogg_decode(tmp_path: Path) -> None:
    signal = tone(0.5, 220.0)
    flac = load_audio(write(tmp_path / "a.flac", signal, subtype="PCM_16"))
    np.testing.assert_allclose(flac, signal, atol=1.0 / 32768)
    ogg = load_audio(write(tmp_path / "a.ogg", signal, subtype="VORBIS"))
    assert ogg.shape == (8000,)
    assert dominant_frequency_hz(ogg, 16000) == pytest.approx(220.0, abs=2.0)


def test_stereo_file_is_averaged_to_mono(tmp_path: Path) -> None:
    left, right = tone(0.25, 220.0, amplitude=0.4), tone(0.25, 330.0, amplitude=0.2)
    path = write(tmp_path / "stereo.wav", np.stack([left, right], axis=1))
    np.testing.assert_allclose(load_audio(path), (left + right) / 2, atol=1e-7)


def test_channels_first_array_is_averaged() -> None:
    stereo = np.stack([np.full(100, 0.2, np.float32), np.full(100, 0.6, np.float32)])
    np.testing.assert_allclose(load_audio(stereo), np.full(100, 0.4), atol=1e-7)


def test_resampling_8k_to_16k_doubles_length_and_keeps_pitch(tmp_path: Path) -> None:
    signal = tone(1.0, 440.0, sampling_rate=8000)
    loaded = load_audio(write(tmp_path / "8k.wav", signal, rate=8000))
    assert loaded.shape == (16000,) and loaded.dtype == np.float32
    assert dominant_frequency_hz(loaded, 16000) == pytest.approx(440.0, abs=1.0)
    # away from the edges, the resampled tone is the 16 kHz tone
    np.testing.assert_allclose(loaded[1000:-1000], tone(1.0, 440.0)[1000:-1000], atol=2e-3)


def test_bytes_dicts_and_decoder_objects_match_the_path(tmp_path: Path) -> None:
    signal = tone(0.25, 220.0, sampling_rate=8000)
    path = write(tmp_path / "clip.flac", signal, rate=8000, subtype="PCM_24")
    expected = load_audio(path)
    assert expected.shape == (4000,)
    encoded = path.read_bytes()
    np.testing.assert_array_equal(load_audio(encoded), expected)
    np.testing.assert_array_equal(load_audio({"path": str(path), "bytes": None}), expected)
    # a datasets value with embedded bytes and a relative (non-existing) path uses the bytes
    np.testing.assert_array_equal(load_audio({"path": "clip.flac", "bytes": encoded}), expected)
    decoded = load_audio({"array": signal, "sampling_rate": 8000})
    np.testing.assert_allclose(decoded, expected, atol=1e-4)
    decoder = SimpleNamespace(
        get_all_samples=lambda: SimpleNamespace(
            data=torch.from_numpy(signal)[None], sample_rate=8000
        )
    )
    np.testing.assert_allclose(load_audio(decoder), decoded, atol=1e-7)


def test_arrays_lists_and_tensors_are_taken_at_the_target_rate() -> None:
    np.testing.assert_array_equal(
        load_audio([0.0, 0.5, -0.5]), np.array([0.0, 0.5, -0.5], np.float32)
    )
    np.testing.assert_array_equal(load_audio(torch.tensor([0.25, -0.25])), [0.25, -0.25])
    assert load_audio(np.ones(10, np.float64)).dtype == np.float32


def test_datasets_audio_decode_false_column(tmp_path: Path) -> None:
    signals = [tone(0.3, 200.0 + 100 * k, sampling_rate=8000) for k in range(3)]
    paths = [
        str(write(tmp_path / f"{k}.flac", s, rate=8000, subtype="PCM_16"))
        for k, s in enumerate(signals)
    ]
    dataset = Dataset.from_dict({"audio": paths}).cast_column("audio", Audio(decode=False))
    for k, row in enumerate(dataset):
        loaded = load_audio(row["audio"], name=f"row {k}")
        assert loaded.shape == (4800,)
        assert dominant_frequency_hz(loaded, 16000) == pytest.approx(200.0 + 100 * k, abs=4.0)


def test_empty_file_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path / "empty.wav", np.zeros(0, np.float32))
    with pytest.raises(ValueError, match=r"empty\.wav: empty audio"):
        load_audio(path)


def test_unreadable_and_missing_files_name_the_file(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.wav"
    garbage.write_text("this is not audio")
    with pytest.raises(ValueError, match=r"garbage\.wav: unreadable audio"):
        load_audio(garbage)
    with pytest.raises(ValueError, match=r"missing\.flac: unreadable audio \(no such file\)"):
        load_audio(tmp_path / "missing.flac")
    with pytest.raises(ValueError, match=r"clip 7: unreadable"):
        load_audio(b"RIFF not really", name="clip 7")
    with pytest.raises(ValueError, match=r"<bytes>: empty audio \(0 bytes\)"):
        load_audio(b"")


def test_nan_and_inf_are_rejected_with_the_name(tmp_path: Path) -> None:
    path = write(tmp_path / "nan.wav", np.full(50, np.nan, np.float32))
    with pytest.raises(ValueError, match=r"nan\.wav: all samples are NaN/inf"):
        load_audio(path)
    with pytest.raises(ValueError, match=r"row 3: 1 of 3 samples are NaN/inf"):
        load_audio(np.array([0.0, np.inf, 0.1]), name="row 3")


def test_zero_length_after_resampling(tmp_path: Path) -> None:
    path = write(tmp_path / "one.wav", np.array([0.5], np.float32), rate=48000)
    with pytest.raises(
        ValueError, match=r"one\.wav: zero samples after resampling 1 samples from 48000 Hz"
    ):
        load_audio(path)


def test_bad_shapes_types_and_rates() -> None:
    with pytest.raises(ValueError, match=r"x: empty audio"):
        validate_waveform(np.zeros(0), name="x")
    with pytest.raises(ValueError, match=r"expected a mono waveform"):
        validate_waveform(np.zeros((2, 3)), name="x")
    with pytest.raises(ValueError, match=r"shape \(time,\) or \(channels, time\)"):
        load_audio(np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match=r"neither 'array', 'raw', 'bytes' nor 'path'"):
        load_audio({"path": None, "bytes": None})
    with pytest.raises(TypeError, match=r"cannot load audio from int"):
        load_audio(3)
    with pytest.raises(ValueError, match=r"sampling_rate must be between 4000 and 192000 Hz"):
        load_audio([0.1], sampling_rate=0)


def test_silence_is_accepted_for_training_and_refused_on_request(tmp_path: Path) -> None:
    path = tmp_path / "silent.wav"
    soundfile.write(path, np.zeros(1600, dtype=np.float32), DEFAULT_SAMPLING_RATE)
    assert load_audio(path).shape == (1600,)
    with pytest.raises(ValueError, match=r"silent\.wav: silent audio \(all 1600 samples are 0\)"):
        load_audio(path, allow_silence=False)
    with pytest.raises(ValueError, match=r"row 2: silent audio"):
        validate_waveform(np.zeros(3), name="row 2", allow_silence=False)
    assert validate_waveform([0.0, 1e-6], name="x", allow_silence=False).shape == (2,)
