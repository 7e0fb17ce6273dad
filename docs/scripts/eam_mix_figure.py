"""Draw one real EAM mix with the library's own code and save the Concepts page figure.

Two EmoDB clips from ``examples/data/`` (speaker 13: happy and angry), one draw of
`eam_ser.mixup.core.draw_mix_parameters` with a fixed seed, the mix by
`energy_adaptive_mix`, the soft label by `partner_label_weight` and `mix_soft_labels`. The
segment SNR is recomputed from the two segments' mean-square energies, as the library defines
it: ``10 log10(P'_i / P_added)``.

    PYTHONPATH=src python docs/scripts/eam_mix_figure.py            # writes docs/images/eam_mix.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib import mlab

from eam_ser.corpora.emodb import EMODB_EMOTION_CODES, EMODB_LABELS
from eam_ser.data.audio import load_audio
from eam_ser.mixup.core import (
    draw_mix_parameters,
    energy_adaptive_mix,
    mix_soft_labels,
    partner_label_weight,
)
from eam_ser.mixup.settings import EnergyAdaptiveMixupSettings
from eam_ser.models.flam.featurize import SAMPLING_RATE

REPO = Path(__file__).resolve().parents[2]
CLIP = REPO / "examples/data/13a01Fd.flac"  # x_i: speaker 13, happy
PARTNER = REPO / "examples/data/13a02Wa.flac"  # x_j: speaker 13, angry
SEED = 3


def emotion(path: Path) -> str:
    """EmoDB's emotion letter (6th character of the file name) as a label name."""
    return EMODB_EMOTION_CODES[path.stem[5]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=REPO / "docs/images/eam_mix.png")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args()

    clip, partner = load_audio(str(CLIP)), load_audio(str(PARTNER))
    # The library's defaults, but always mix (p = 1) so the figure shows a mix.
    settings = EnergyAdaptiveMixupSettings(p=1.0)
    parameters = draw_mix_parameters(
        [len(clip)], [len(partner)], [0], np.random.default_rng(args.seed), settings=settings
    )
    mixed, applied = energy_adaptive_mix(clip[None, :], parameters, partner[None, :])
    mixed = mixed[0]
    if not applied[0]:
        raise SystemExit(f"--seed {args.seed}: the drawn segment was silent; try another seed")

    length = int(parameters.mix_length[0])
    start, partner_start = int(parameters.start[0]), int(parameters.partner_start[0])
    snr_db = float(parameters.snr_db[0])
    own_segment = clip[start : start + length].astype(np.float64)
    added = mixed[start : start + length].astype(np.float64) - own_segment
    measured_snr_db = 10 * np.log10(np.mean(own_segment**2) / np.mean(added**2))

    labels = np.array([EMODB_LABELS.index(emotion(CLIP))])
    partner_labels = np.array([EMODB_LABELS.index(emotion(PARTNER))])
    weight = partner_label_weight(parameters.mix_length, [len(clip)], parameters.snr_db)
    soft = mix_soft_labels(labels, partner_labels, weight, len(EMODB_LABELS))[0]

    rate = SAMPLING_RATE
    seconds = np.arange(len(clip)) / rate
    partner_seconds = np.arange(len(partner)) / rate
    figure = plt.figure(figsize=(10, 8.6), layout="constrained")
    grid = figure.add_gridspec(4, 4)
    axes_clip = figure.add_subplot(grid[0, :3])
    axes_partner = figure.add_subplot(grid[1, :3], sharey=axes_clip)
    axes_mix = figure.add_subplot(grid[2, :3], sharex=axes_clip, sharey=axes_clip)
    axes_spec = figure.add_subplot(grid[3, :3], sharex=axes_clip)
    axes_label = figure.add_subplot(grid[1:3, 3])

    segment = (start / rate, (start + length) / rate)
    partner_segment = (partner_start / rate, (partner_start + length) / rate)
    axes_clip.plot(seconds, clip, lw=0.4, color="tab:blue")
    axes_clip.axvspan(*segment, color="tab:orange", alpha=0.2)
    axes_clip.set_title(
        f"$x_i$ = {CLIP.name} ({emotion(CLIP)}), segment [{start}, {start + length})"
    )
    axes_partner.plot(partner_seconds, partner, lw=0.4, color="tab:green")
    axes_partner.axvspan(*partner_segment, color="tab:orange", alpha=0.2)
    axes_partner.set_title(
        f"$x_j$ = {PARTNER.name} ({emotion(PARTNER)}), segment [{partner_start}, "
        f"{partner_start + length}): l = {length / rate:.2f} s"
    )
    axes_mix.plot(seconds, mixed, lw=0.4, color="tab:blue", label="mix")
    axes_mix.plot(
        seconds[start : start + length], added, lw=0.4, color="tab:green", label="added partner"
    )
    axes_mix.axvspan(*segment, color="tab:orange", alpha=0.2)
    axes_mix.legend(loc="upper right", fontsize=8)
    axes_mix.set_title(
        f"mix: drawn segment SNR s = {snr_db:.2f} dB;\nfrom the segments' energies "
        f"10 log10(P'_i / P_added) = {measured_snr_db:.2f} dB",
        fontsize=10,
    )
    for axes in (axes_clip, axes_partner, axes_mix):
        axes.set_ylabel("amplitude")
    power, frequencies, times = mlab.specgram(mixed, NFFT=512, Fs=rate, noverlap=384)
    # Digital silence (exact zeros between EmoDB's words) has no finite dB: floor it at -140 dB.
    axes_spec.pcolormesh(
        times, frequencies, 10 * np.log10(np.maximum(power, 1e-14)), cmap="magma", vmin=-140
    )
    for edge in segment:
        axes_spec.axvline(edge, color="white", ls="--", lw=1)
    axes_spec.set_ylim(0, 8000)
    axes_spec.set_ylabel("Hz")
    axes_spec.set_xlabel("time (s)")
    axes_spec.set_title("spectrogram of the mix (segment between the dashed lines)")

    colors = ["tab:gray"] * len(EMODB_LABELS)
    colors[labels[0]], colors[partner_labels[0]] = "tab:blue", "tab:green"
    axes_label.barh(EMODB_LABELS, soft, color=colors)
    axes_label.invert_yaxis()
    axes_label.set_xlim(0, 1)
    for row, value in enumerate(soft):
        if value > 0:
            axes_label.text(value + 0.02, row, f"{value:.3f}", va="center", fontsize=9)
    axes_label.set_title(
        f"soft label (energy mode)\nw = (l / len(x_i)) / (1 + 10^(s/10))\n"
        f"= ({length} / {len(clip)}) / (1 + 10^({snr_db:.2f}/10))\n= {float(weight[0]):.3f}",
        fontsize=9,
    )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(args.output, dpi=90)
    print(
        f"{args.output}: l = {length} samples, s = {snr_db:.2f} dB (measured "
        f"{measured_snr_db:.2f} dB), w = {float(weight[0]):.4f}"
    )


if __name__ == "__main__":
    main()
