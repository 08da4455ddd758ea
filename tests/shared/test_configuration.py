"""Every setting a service reads is documented in .env.example (the operators' one list)."""

from __future__ import annotations

import re
from pathlib import Path

from services.adoption.settings import AdoptionSettings
from services.api.settings import RegistrySettings
from services.notifier.settings import NotifierSettings
from services.web.settings import WebSettings

EXAMPLE = Path(__file__).resolve().parents[2] / ".env.example"


def test_every_setting_is_in_the_example_file():
    documented = set(re.findall(r"^#? ?(IOC_[A-Z0-9_]+)=", EXAMPLE.read_text(encoding="utf-8"), re.MULTILINE))
    settings = {
        f"IOC_{name.upper()}"
        for model in (RegistrySettings, NotifierSettings, AdoptionSettings, WebSettings)
        for name in model.model_fields
    }
    assert sorted(settings - documented) == []
