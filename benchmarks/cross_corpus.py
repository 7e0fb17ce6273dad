"""Does EAM travel? Train on one corpus, test on another language and recording condition.

Each row is one ``eam-ser train --corpus A --test-corpus B`` run (the label harmonisation as
shipped: the test corpus's labels are renamed to the training labels through the shared
vocabulary, the rest left out and named), a frozen Whisper base encoder
(``--trainable-encoder-layers 0``) at the library's default budget (10 epochs, batch 8), with
EAM at its defaults (``--eam-p 0.5``) or without mixing (``--eam-p 0``):

- ``emodb_to_urdu_*``: trained on all of EmoDB (German, acted, 7 labels), tested on URDU's
  400 clips (Urdu talk-show speech) of the 4 labels both corpora share;
- ``urdu_to_emodb_*``: trained on all of URDU (4 labels), tested on the EmoDB clips of those
  4 labels (angry, happy, neutral, sad: 339 clips).

Every score carries the 95 % speaker-bootstrap interval the library prints; the EAM row is
paired with the no-mixing row of its direction (the paired speaker bootstrap of
``eam-ser compare`` over the same test utterances). The test speakers are never training
speakers (another corpus), so the intervals resample speakers the model never heard.

Reproduce (2 CPU cores: about 10 minutes per row; resumable, one JSON):

    python benchmarks/cross_corpus.py --resume

Writes ``benchmarks/results/cross_corpus.json`` after every finished row.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from results_file import add_output_arguments, output_path, source_revision

ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = ROOT / "shared" / "data"
ENCODER_DIR = ROOT / "shared" / "models" / "whisper-base-encoder"
RESULTS_PATH = Path(__file__).resolve().parent / "results" / "cross_corpus.json"

ROWS = {
    f"{train}_to_{test}_{mixing}": (train, test, p)
    for train, test in (("emodb", "urdu"), ("urdu", "emodb"))
    for mixing, p in (("no_mix", 0.0), ("eam", 0.5))
}
"""Row name -> (training corpus, test corpus, EAM mixing probability)."""


def train_command(train: str, test: str, p: float, output_dir: Path, encoder: Path) -> list[str]:
    """The ``eam-ser train`` command line of one row."""
    return [
        sys.executable,
        "-m",
        "eam_ser",
        "train",
        "--corpus",
        train,
        "--root",
        str(DATA_DIR / train),
        "--test-corpus",
        test,
        "--test-root",
        str(DATA_DIR / test),
        "--encoder",
        str(encoder),
        "--trainable-encoder-layers",
        "0",
        "--eam-p",
        str(p),
        "--output-dir",
        str(output_dir),
    ]


def run_row(name: str, encoder: Path) -> dict[str, Any]:
    """Train and test one row; its scores, intervals and per-utterance predictions."""
    train, test, p = ROWS[name]
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        command = train_command(train, test, p, Path(folder) / "run", encoder)
        completed = subprocess.run(command, capture_output=True, text=True)
        if completed.returncode != 0:
            raise RuntimeError(f"{name}: {' '.join(command)} failed:\n{completed.stderr[-3000:]}")
        results = json.loads((Path(folder) / "run" / "results.json").read_text(encoding="utf-8"))
    fold = results["folds"][0]
    return {
        "row": name,
        "train_corpus": train,
        "test_corpus": test,
        "eam_p": p,
        "command": " ".join(["eam-ser", *command[3:-1], "RUN"]).replace(str(ROOT), ".."),
        "num_train": fold["num_train"],
        "num_test": fold["num_test"],
        **{key: fold[key] for key in ("wa", "ua", "macro_f1") if key in fold},
        "intervals": fold.get("intervals"),
        "utterances": fold.get("utterances"),
        "train_s": fold.get("train_runtime_s"),
        "total_s": round(time.perf_counter() - start, 1),
        # The report lines, without the lines naming the temporary run folder.
        "printed": [
            line
            for line in completed.stdout.strip().splitlines()[-6:]
            if not line.startswith(("results:", "model:"))
        ],
    }


def paired_differences(report: dict[str, Any]) -> dict[str, Any]:
    """EAM minus no mixing per direction on the same test utterances, with the paired
    speaker-bootstrap interval of ``eam-ser compare``."""
    from eam_ser.cli.compare import paired_predictions
    from eam_ser.evaluation.report import paired_speaker_bootstrap

    differences = {}
    for train, test in (("emodb", "urdu"), ("urdu", "emodb")):
        names = (f"{train}_to_{test}_no_mix", f"{train}_to_{test}_eam")
        rows = [report["rows"].get(name) for name in names]
        if not all(row and row["utterances"] for row in rows):
            continue
        predictions_a, predictions_b, references, speakers, labels = paired_predictions(
            rows[0]["utterances"], rows[1]["utterances"], names
        )
        differences[f"{train}_to_{test}"] = paired_speaker_bootstrap(
            predictions_a, predictions_b, references, speakers, len(labels)
        )
    return differences


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoder", type=Path, default=ENCODER_DIR)
    parser.add_argument("--rows", type=lambda s: s.split(","), default=list(ROWS))
    parser.add_argument("--resume", action="store_true", help="keep the rows already in --output")
    add_output_arguments(parser, RESULTS_PATH)
    args = parser.parse_args(argv)
    unknown = sorted(set(args.rows) - set(ROWS))
    if unknown:
        parser.error(f"--rows: unknown {unknown}; known: {', '.join(ROWS)}")
    report: dict[str, Any] = {"rows": {}, "machines": []}
    if args.resume and args.output.is_file():
        report = json.loads(args.output.read_text(encoding="utf-8"))
    else:
        args.output = output_path(args.output, args.overwrite)
    report["machines"].append({"source": source_revision(), "encoder": args.encoder.name})
    args.output.parent.mkdir(parents=True, exist_ok=True)
    for name in args.rows:
        if name in report["rows"]:
            continue
        row = run_row(name, args.encoder)
        report["rows"][name] = row
        report["paired_ua_differences"] = paired_differences(report)
        args.output.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
        print(f"{name}: UA {100 * row['ua']:.1f} % ({row['total_s']:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
