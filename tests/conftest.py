"""Shared fixtures: synthetic audio, tiny encoder configs and the optional real corpus."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from transformers import WavLMConfig

SHARED_DIR = Path(__file__).resolve().parents[2] / "shared"
EMODB_DIR = SHARED_DIR / "data" / "emodb"
URDU_DIR = SHARED_DIR / "data" / "urdu"
WHISPER_TINY_DIR = SHARED_DIR / "models" / "whisper-tiny-en-encoder"

# `eam-ser check` keeps a record of probed files under $XDG_CACHE_HOME: the tests keep theirs
# in a temporary folder, not in the home of whoever runs them.
os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="eam-ser-test-cache-")


@pytest.fixture(autouse=True)
def environment_left_as_found():
    """Every test leaves the process environment as it found it. A benchmark module sets
    OMP/MKL/OPENBLAS_NUM_THREADS=1 when imported (for its worker processes); leaked, that
    made every later command a test starts run on one thread, so the quick start printed
    the single-thread figure instead of the one users get."""
    with environment_restored():
        yield


@contextlib.contextmanager
def environment_restored() -> Iterator[None]:
    """Put back every environment variable the block set, changed or removed (but pytest's
    own PYTEST_CURRENT_TEST, which it sets between a test's phases)."""
    saved = dict(os.environ)
    try:
        yield
    finally:
        for name in set(os.environ) - set(saved) - {"PYTEST_CURRENT_TEST"}:
            del os.environ[name]
        for name, value in saved.items():
            if name != "PYTEST_CURRENT_TEST" and os.environ.get(name) != value:
                os.environ[name] = value


TINY_CONV = {"conv_dim": (16, 16, 16), "conv_kernel": (10, 3, 3), "conv_stride": (5, 2, 2)}


def tiny_wavlm_config(**overrides) -> WavLMConfig:
    """WavLM with hidden 32 and 2 layers, deterministic in training mode (no dropout, layerdrop
    or SpecAugment) and padding-invariant (layer-norm front end)."""
    settings = {
        "hidden_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": 64,
        "feat_extract_norm": "layer",
        "num_conv_pos_embeddings": 16,
        "num_conv_pos_embedding_groups": 2,
        "num_buckets": 16,
        "max_bucket_distance": 64,
        "hidden_dropout": 0.0,
        "attention_dropout": 0.0,
        "activation_dropout": 0.0,
        "feat_proj_dropout": 0.0,
        "layerdrop": 0.0,
        "apply_spec_augment": False,
        **TINY_CONV,
    }
    settings.update(overrides)
    return WavLMConfig(**settings)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def tone(
    duration_s: float,
    frequency_hz: float = 220.0,
    sampling_rate: int = 16000,
    amplitude: float = 0.5,
) -> np.ndarray:
    """A float32 sine tone of `duration_s` seconds."""
    t = np.arange(round(duration_s * sampling_rate), dtype=np.float64) / sampling_rate
    return (amplitude * np.sin(2 * np.pi * frequency_hz * t)).astype(np.float32)


def png_picture(path: Path, min_colours: int = 16) -> np.ndarray:
    """The picture of the PNG file at `path`, (height, width, RGB or RGBA) floats in [0, 1],
    checked to be a drawn figure: it decodes, is at least 100 x 100 pixels and has more than
    `min_colours` distinct colours (a blank or single-colour canvas has one or two)."""
    import matplotlib.image

    assert Path(path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path
    picture = matplotlib.image.imread(path)
    assert picture.ndim == 3 and picture.shape[2] in (3, 4), picture.shape
    assert min(picture.shape[:2]) >= 100, picture.shape
    colours = len(np.unique(picture.reshape(-1, picture.shape[2]), axis=0))
    assert colours > min_colours, f"{path}: {colours} distinct colours"
    return picture


def shows_colour(picture: np.ndarray, colour: str, min_pixels: int = 20) -> bool:
    """Whether at least `min_pixels` pixels of `picture` (from `png_picture`) are `colour`
    (any matplotlib colour: "C0", "#1f77b4", ...), to within rounding to 8 bits."""
    import matplotlib.colors

    rgb = np.asarray(matplotlib.colors.to_rgb(colour))
    close = np.all(np.abs(picture[..., :3] - rgb) <= 1.0 / 255 + 1e-6, axis=-1)
    return int(close.sum()) >= min_pixels


def assert_shows_confusion(picture: np.ndarray, matrix, normalize: bool = True) -> None:
    """`picture` (`png_picture`) is the heat map of `matrix`: every cell drawn in the "Blues"
    colour of its value (rows divided by their sums when `normalize`; 0 to the largest value),
    so each distinct value covers at least 1500 pixels per cell holding it."""
    import matplotlib

    shown = np.asarray(matrix, dtype=float)
    if normalize:
        shown = shown / shown.sum(axis=1, keepdims=True)
    for value in np.unique(shown):
        colour = matplotlib.colormaps["Blues"](value / shown.max())
        cells = int((shown == value).sum())
        assert shows_colour(picture, colour, min_pixels=1500 * cells), (value, cells)


@pytest.fixture
def emodb_dir() -> Path:
    if not (EMODB_DIR / "manifest.csv").is_file():
        pytest.skip(f"real EmoDB copy not found at {EMODB_DIR}")
    return EMODB_DIR


@pytest.fixture
def urdu_dir() -> Path:
    if not (URDU_DIR / "manifest.csv").is_file():
        pytest.skip(f"real URDU copy not found at {URDU_DIR}")
    return URDU_DIR


@pytest.fixture
def whisper_tiny_dir() -> Path:
    if not (WHISPER_TINY_DIR / "config.json").is_file():
        pytest.skip(f"pretrained Whisper tiny.en encoder not found at {WHISPER_TINY_DIR}")
    return WHISPER_TINY_DIR


@pytest.fixture(scope="module")
def wavlm_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved tiny WavLM model folder (`inference_helpers.save_wavlm_folder`), once per module."""
    from inference_helpers import save_wavlm_folder

    return save_wavlm_folder(tmp_path_factory.mktemp("wavlm"))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tone corpus of `test_crossval` with the tiny config beside it, once per module."""
    from test_crossval import TINY_CONFIG, write_tone_corpus

    folder = tmp_path_factory.mktemp("corpus")
    write_tone_corpus(folder)
    (folder / "tiny.json").write_text(json.dumps(TINY_CONFIG))
    return folder


def train_command(corpus: Path, output: Path, *extra: str) -> list[str]:
    """``eam-ser train`` on the tone corpus (speaker s4 held out, the tiny config, 3 steps)."""
    return [
        "train",
        "--data",
        str(corpus),
        "--test-speakers",
        "s4",
        "--config",
        str(corpus / "tiny.json"),
        "--max-steps",
        "3",
        "--output-dir",
        str(output),
        *extra,
    ]


@pytest.fixture(scope="module")
def trained(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model folder trained on `corpus` by ``eam-ser train`` (3 steps), once per module."""
    from eam_ser.cli import main

    output = tmp_path_factory.mktemp("run") / "model"
    assert main(train_command(corpus, output)) == 0
    return output
