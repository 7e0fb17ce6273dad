"""Tests of eam_ser.models.flam.settings_field: a setting is a dataclass field with its default and help."""

from __future__ import annotations

import dataclasses

from eam_ser.models.flam.settings_field import setting


def test_setting_is_a_field_with_default_and_help():
    @dataclasses.dataclass(frozen=True)
    class Settings:
        rate_hz: int = setting(16000, "sampling rate in Hz")
        mode: str = setting("energy", "soft-label rule", choices=("energy", "hard"))

    rate, mode = dataclasses.fields(Settings)
    assert (rate.default, dict(rate.metadata)) == (16000, {"help": "sampling rate in Hz"})
    assert dict(mode.metadata) == {"help": "soft-label rule", "choices": ("energy", "hard")}
    assert Settings() == Settings(16000, "energy")
