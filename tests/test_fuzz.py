"""Fuzzing the path from raw arrays to the loss: the EAM collator (waveform and Whisper log-mel
output) and the four MLL terms, over amplitudes from 1e-30 to 1e30, integer PCM dtypes, NaN
members and clips as short as one sample. Every outcome is either finite numbers or a
ValueError that names the offending batch member; any other exception fails."""

from __future__ import annotations

import re

import numpy as np
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from transformers import WhisperFeatureExtractor

from eam_ser.data.audio import MAX_ABS_AMPLITUDE
from eam_ser.mixup.collator import EnergyAdaptiveMixupCollator
from eam_ser.models.flam.losses import MultiLoss

NUM_LABELS = 3
WHISPER = WhisperFeatureExtractor()
INTEGER_DTYPES = (np.int8, np.int16, np.int32, np.uint8)

member = st.tuples(
    st.integers(1, 4000),  # length in samples
    st.sampled_from(["float", "int", "nan", "silent"]),
    st.floats(-30, 30),  # log10 of the amplitude (float members)
    st.integers(0, 3),  # integer dtype index
    st.integers(0, 2**16),  # noise seed
)


def make_waveform(length: int, kind: str, log_amplitude: float, dtype_index: int, seed: int):
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal(length)
    if kind == "int":
        dtype = np.dtype(INTEGER_DTYPES[dtype_index])
        info = np.iinfo(dtype)
        return np.clip(noise * info.max / 4 + (info.min + info.max) / 2, info.min, info.max).astype(
            dtype
        )
    if kind == "silent":
        return np.zeros(length, np.float32)
    waveform = (10.0**log_amplitude * noise).astype(np.float32)
    if kind == "nan":
        waveform[rng.integers(length)] = np.nan
    return waveform


def explained(error: ValueError, num_members: int) -> bool:
    """A refusal that names a batch member and a reason the library documents."""
    text = str(error)
    names_member = re.search(r"features\[(\d+)\]", text) is not None
    reasons = (
        "NaN/inf",
        "far outside full scale",
        "integer PCM stored as floats",
        "STFT",
        "fewer than",
        "samples;",
    )
    return names_member and any(reason in text for reason in reasons)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    members=st.lists(member, min_size=1, max_size=5),
    seed=st.integers(0, 2**16),
    whisper=st.booleans(),
)
def test_collator_and_losses_give_finite_values_or_a_named_refusal(members, seed, whisper):
    waveforms = [make_waveform(*spec) for spec in members]
    features = [{"audio": w, "label": i % NUM_LABELS} for i, w in enumerate(waveforms)]
    collator = EnergyAdaptiveMixupCollator(
        NUM_LABELS,
        p=1.0,
        seed=seed,
        min_length_samples=1,
        feature_extractor=WHISPER if whisper else None,
    )
    try:
        batch = collator(features)
    except ValueError as error:
        assert explained(error, len(members)), str(error)
        # Refused only for a reason the member really has.
        index = int(re.search(r"features\[(\d+)\]", str(error)).group(1))
        bad = waveforms[index]
        float_bad = bad.astype(np.float64)
        assert (
            not np.isfinite(float_bad).all()
            or (bad.dtype.kind == "f" and np.abs(float_bad).max() > MAX_ABS_AMPLITUDE)
            # Whole-number floats above full scale: integer PCM stored as floats.
            or (
                bad.dtype.kind == "f"
                and np.abs(float_bad).max() > 1.0
                and np.array_equal(float_bad, np.round(float_bad))
            )
            or (whisper and bad.size <= WHISPER.n_fft // 2)
        ), str(error)
        return
    inputs = batch["input_features" if whisper else "input_values"]
    assert torch.isfinite(inputs).all()
    assert torch.isfinite(batch["soft_labels"]).all()
    torch.testing.assert_close(
        batch["soft_labels"].sum(-1), torch.ones(len(members)), atol=1e-5, rtol=0
    )
    # The losses on logits and embeddings made from these inputs stay finite, with gradients.
    flat = inputs.reshape(len(members), -1)[:, :64]
    flat = torch.nn.functional.pad(flat, (0, 64 - flat.shape[1]))
    weights = torch.linspace(-1, 1, 64 * 8).reshape(64, 8).requires_grad_(True)
    embeddings = flat @ weights
    logits = embeddings[:, :NUM_LABELS] * 10
    centers = torch.zeros(NUM_LABELS, 8, requires_grad=True)
    result = MultiLoss()(logits, embeddings, batch["soft_labels"], batch["labels"], centers)
    result.loss.backward()
    assert torch.isfinite(result.loss)
    assert torch.isfinite(weights.grad).all() and torch.isfinite(centers.grad).all()
