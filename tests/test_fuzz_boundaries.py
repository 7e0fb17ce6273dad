"""Issue 30, point 5: the boundary fuzzer (`benchmarks/fuzz_boundaries.py`) in CI.

Every public entry point (the EAM collator, map function and transform, `AudioCollator`,
`load_audio`, the loss settings, `FlamConfig`, `EmotionRecognizer` and its recording path, the
pipeline call, the speaker bootstrap and the ``eam-ser`` flags) gets values whose validity is
known in advance, from hypothesis strategies: valid -> a finite result; invalid -> an error
that names the argument. A bounded number of cases here; the benchmark script runs more."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import fuzz_boundaries


def test_every_entry_point_gives_a_finite_result_or_names_the_argument():
    tally = fuzz_boundaries.run(num_cases=800, seed=0)
    bad = {outcome: examples for outcome, examples in tally.examples.items()}
    assert sum(tally.counts.values()) == 800
    assert tally.counts["ok"] == 800, bad
    # Every entry point was reached with valid and invalid values.
    assert set(tally.by_target) == {target.name for target in fuzz_boundaries.targets()}


@pytest.mark.parametrize(
    ("message", "name", "named"),
    [
        ("p (probability of mixing a sample) must be in [0, 1]", "p", True),
        ("expected non-negative integer", "seed", False),
        ("step must be positive", "p", False),
        ("argument --seed: must be a non-negative integer", "--seed", True),
        ("--seed-file is missing", "--seed", False),
    ],
)
def test_the_verdict_needs_the_argument_named_as_a_word(message, name, named):
    assert fuzz_boundaries.names_argument(message, name) is named


def test_the_verdict_sorts_each_kind_of_outcome():
    """The fuzzer's own sorting, on an entry point made to fail in each way."""

    def call(value):
        if value == "raw":
            raise KeyError("deep inside")
        if value == "nameless":
            raise ValueError("setting an array element with a sequence")
        if value == "named":
            raise ValueError(f"value must be a number, got {value!r}")
        return [float("nan")] if value == "nan" else [1.0]

    target = fuzz_boundaries.Target("probe", {}, {"value": 1.0}, call)
    cases = {
        ("raw", False): "raw",
        ("nameless", False): "nameless",
        ("named", False): "ok",
        ("accepted", False): "silent",
        ("named", True): "refused_valid",
        ("nan", True): "refused_valid",
        ("accepted", True): "ok",
    }
    for (value, valid), outcome in cases.items():
        assert fuzz_boundaries.verdict(target, "value", value, valid)[0] == outcome, value
