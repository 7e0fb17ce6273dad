"""eam_ser.cli.options: flags generated from the settings dataclasses (one declaration of a
setting gives its flag, its config key and its model-card entry)."""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from eam_ser.cli import build_parser, config_from_args, main
from eam_ser.cli.augment import AUGMENT_P
from eam_ser.cli.options import LEGACY_FLAGS, SETTINGS_SECTIONS, setting_flags
from eam_ser.hub import render_model_card
from eam_ser.mixup.settings import EnergyAdaptiveMixupSettings
from eam_ser.models.flam.loss_settings import MultiLossSettings
from test_hub import make_results

TRAIN = ["train", "--data", "x", "--cv"]

# A value for each field, different from its default, as typed on a command line.
GIVEN = {
    "head_learning_rate": ("0.002", 0.002),
    "encoder_learning_rate": ("3e-05", 3e-05),
    "center_learning_rate": ("0.01", 0.01),
    "max_steps": ("7", 7),
    "num_train_epochs": ("3", 3.0),
    "per_device_train_batch_size": ("4", 4),
    "per_device_eval_batch_size": ("2", 2),
    "gradient_accumulation_steps": ("2", 2),
    "warmup_steps": ("0.2", 0.2),
    "weight_decay": ("0.01", 0.01),
    "seed": ("5", 5),
    "logging_steps": ("3", 3),
    "dataloader_num_workers": ("1", 1),
    "save_steps": ("9", 9),
    "max_train_seconds": ("4.5", 4.5),
    "feature_cache_dir": ("features/", "features/"),
    "max_batch_seconds": ("60", 60.0),
    "feature_cache_dtype": ("float16", "float16"),
    "validation_speakers": ("2", 2),
    "p": ("0.25", 0.25),
    "min_snr_db": ("-3", -3.0),
    "max_snr_db": ("3", 3.0),
    "max_mix_fraction": ("0.4", 0.4),
    "min_length_samples": ("800", 800),
    "label_mode": ("length", "length"),
    "kl_weight": ("0.5", 0.5),
    "focal_weight": ("0.7", 0.7),
    "center_weight": ("0.02", 0.02),
    "supcon_weight": ("0.3", 0.3),
    "focal_gamma": ("1.5", 1.5),
    "supcon_temperature": ("0.1", 0.1),
}


def test_every_scalar_setting_is_a_flag_that_reaches_its_config_key():
    seen = set()
    for section, settings_class in SETTINGS_SECTIONS.items():
        for setting in dataclasses.fields(settings_class):
            flag = LEGACY_FLAGS.get((section, setting.name), "--" + setting.name.replace("_", "-"))
            if setting.type == "bool":
                argv = [*TRAIN, f"--no-{flag[2:]}" if setting.default else flag]
                expected = not setting.default
            elif setting.name == "focal_alpha":
                argv, expected = [*TRAIN, flag, "1", "2.5"], [1.0, 2.5]
            else:
                text, expected = GIVEN[setting.name]
                argv = [*TRAIN, flag, text]
            config = config_from_args(build_parser().parse_args(argv))
            value = getattr(getattr(config, section), setting.name)
            assert value == expected and value != setting.default, (flag, value)
            seen.add((section, setting.name))
    assert len(seen) == 21 + 6 + 7  # TrainingSettings, EAM, MultiLoss: none left out


def test_the_flags_of_0_3_keep_their_names():
    assert LEGACY_FLAGS == {
        ("training", "num_train_epochs"): "--epochs",
        ("training", "per_device_train_batch_size"): "--batch-size",
        ("eam", "p"): "--eam-p",
    }
    for (section, name), legacy in LEGACY_FLAGS.items():
        text, expected = GIVEN[name]
        config = config_from_args(build_parser().parse_args([*TRAIN, legacy, text]))
        assert getattr(getattr(config, section), name) == expected
        with pytest.raises(SystemExit):  # one name per setting: no second spelling
            build_parser().parse_args([*TRAIN, "--" + name.replace("_", "-"), text])
    config = config_from_args(
        build_parser().parse_args([*TRAIN, "--trainable-encoder-layers", "2"])
    )
    assert config.flam["trainable_encoder_layers"] == 2


def test_flag_help_is_the_field_help_and_states_the_default():
    flags = {flag.dest: flag for flag in setting_flags()}
    snr = flags["eam.min_snr_db"]
    help_of = next(
        f.metadata["help"]
        for f in dataclasses.fields(EnergyAdaptiveMixupSettings)
        if f.name == "min_snr_db"
    )
    assert snr.kwargs["help"] == f"{help_of} (default -5.0)"
    assert flags["eam.label_mode"].kwargs["choices"] == ("energy", "length", "hard")
    # A command with its own default states it: augment mixes every utterance.
    augment = {flag.dest: flag for flag in setting_flags({"p": AUGMENT_P})}
    assert augment["eam.p"].kwargs["help"].endswith("(default 1.0)")


def test_a_new_setting_is_a_flag_and_a_card_entry_without_writing_it_again(monkeypatch):
    """What the redesign promises a contributor: add a field with its help to the settings
    dataclass, and the CLI and the model card pick it up."""

    @dataclasses.dataclass(frozen=True)
    class WithGain(EnergyAdaptiveMixupSettings):
        partner_gain_db: float = dataclasses.field(
            default=0.0, metadata={"help": "extra gain of the partner segment in dB"}
        )

    monkeypatch.setitem(SETTINGS_SECTIONS, "eam", WithGain)
    args = build_parser().parse_args([*TRAIN, "--partner-gain-db", "1.5"])
    assert getattr(args, "eam.partner_gain_db") == 1.5
    help_text = build_parser()._subparsers._group_actions[0].choices["train"].format_help()
    assert "--partner-gain-db X" in help_text and "extra gain of the partner" in help_text
    # The card's "meaning" column is each field's help: a new field needs no card text.
    results = make_results()
    results["config"] = {
        "eam": dataclasses.asdict(EnergyAdaptiveMixupSettings()),
        "loss": dataclasses.asdict(MultiLossSettings()),
    }
    card = str(render_model_card(results, model_id="user/flam-emodb"))
    for settings_class, section in (
        (EnergyAdaptiveMixupSettings, "eam"),
        (MultiLossSettings, "loss"),
    ):
        for setting in dataclasses.fields(settings_class):
            value = results["config"][section][setting.name]
            assert f"| `{setting.name}` | {value} | {setting.metadata['help']} |" in card


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--min-snr-db", "8"],
            "--min-snr-db 8.0: --min-snr-db must be <= --max-snr-db (finite, in dB), got 8.0 and 5.0",
        ),
        (
            ["--min-snr-db", "8", "--max-snr-db", "6"],
            "--min-snr-db 8.0, --max-snr-db 6.0: --min-snr-db must be <= --max-snr-db",
        ),
        (["--label-mode", "soft"], "argument --label-mode: invalid choice: 'soft'"),
        (["--kl-weight", "nan"], "argument --kl-weight: must be finite, got nan"),
    ],
)
def test_a_bad_setting_is_refused_naming_its_flag(tmp_path, capsys, argv, message):
    output = tmp_path / "run"
    try:
        status = main(
            [*TRAIN[:2], str(tmp_path / "missing"), "--cv", "--output-dir", str(output), *argv]
        )
    except SystemExit as exit_info:  # argparse's own type and choice errors
        status = exit_info.code
    assert status == 2
    assert message in capsys.readouterr().err
    assert not output.exists()


def test_augment_mixes_every_utterance_unless_p_is_lowered(tmp_path, capsys):
    rng = np.random.default_rng(0)
    for label in ("angry", "sad"):
        (tmp_path / "in" / label).mkdir(parents=True)
        for stem in ("a", "b", "c"):
            clip = (0.1 * rng.standard_normal(8000)).astype(np.float32)
            sf.write(tmp_path / "in" / label / f"{stem}.flac", clip, 16000)

    def soft_labels(out: Path, *flags: str) -> list[dict[str, str]]:
        assert main(["augment", str(tmp_path / "in"), str(out), "--seed", "0", *flags]) == 0
        with (out / "soft_labels.csv").open() as handle:
            return list(csv.DictReader(handle))

    def unmixed(out: Path, rows: list[dict[str, str]]) -> int:
        """Rows written as an exact copy of their source."""
        return sum(
            np.array_equal(sf.read(out / row["file"])[0], sf.read(row["source"])[0]) for row in rows
        )

    assert AUGMENT_P == 1.0
    assert unmixed(tmp_path / "all", soft_labels(tmp_path / "all")) == 0
    assert unmixed(tmp_path / "none", soft_labels(tmp_path / "none", "--p", "0")) == 6
    assert (
        main(["augment", str(tmp_path / "in"), str(tmp_path / "bad"), "--max-mix-fraction", "2"])
        == 2
    )
    assert "--max-mix-fraction 2.0: --max-mix-fraction" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()  # refused before anything was read or written


def test_library_errors_speak_of_arguments_and_the_command_adds_its_flags() -> None:
    """`with_flag_names`: arguments and settings (with an underscore or a dot, or given a value)
    become the subcommand's flags; plain words and the keys of a config file stay as they are."""
    from eam_ser.cli import build_parser, with_flag_names

    parsers = build_parser().parse_args(["check", "--data", "x"]).command_parsers
    train, evaluate = parsers["train"], parsers["evaluate"]
    assert with_flag_names("label_map: ['x'] are not labels of the data", evaluate) == (
        "--label-map: ['x'] are not labels of the data"
    )
    assert with_flag_names('(on_bad_audio="skip" drops files)', train) == (
        "(--on-bad-audio skip drops files)"
    )
    assert with_flag_names("rerun with overwrite=True (from scratch)", train) == (
        "rerun with --overwrite (from scratch)"
    )
    assert with_flag_names("set training.max_train_seconds (e.g. 10)", train) == (
        "set --max-train-seconds (e.g. 10)"
    )
    assert with_flag_names("lower head_learning_rate and eam.p=0.2", train) == (
        "lower --head-learning-rate and --eam-p 0.2"
    )
    # The positive form of a --x / --no-x pair.
    assert with_flag_names("balanced_sampling needs a label", train) == (
        "--balanced-sampling needs a label"
    )
    # A config file's key, a path, an unknown name and a plain word are left alone.
    message = "config['training']['max_steps'] must be an int; seed_value and encoding stay"
    assert with_flag_names(message, train) == message
    path = "/data/test_speakers/label_map.wav: unreadable"
    assert with_flag_names(path, train) == path
