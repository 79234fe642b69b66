"""The flow is data, checked at start-up with an error that names the bad entry."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import helpline.flows.flow
from helpline.app import create_app
from helpline.flows.flow import FLOWS_DIR, FlowError, load_flows


@pytest.fixture
def flows_copy(tmp_path: Path) -> Path:
    target = tmp_path / "flows"
    shutil.copytree(FLOWS_DIR, target)
    return target


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_shipped_flows_are_valid_and_speak_spanish_with_a_spanish_voice():
    flows = load_flows()
    assert set(flows) == {"en", "es"}
    assert flows["es"].say_language == "es-MX" and flows["es"].voice == "Polly.Mia"
    assert flows["es"].queue_name("general") == "general-es"


@pytest.mark.parametrize(("file", "old", "new", "named"), [
    ("es.toml", 'key = "2"\nneed', 'key = "1"\nneed',
     "es.toml: options[2].key: key 1 is used twice"),
    ("es.toml", 'language_key = "2"', 'language_key = "1"',
     "es.toml: language_key: 1 is also the key of en.toml"),
    ("en.toml", 'need = "groups"', 'need = "bowling"', "en.toml: options[4].need"),
    ("es.toml", 'voice = "Polly.Mia"', 'voice = "Polly.Joanna"', "es.toml: voice"),
    ("en.toml", "You are number {position} in line.", "You are number {place} in line.",
     "en.toml: prompts.queue_position: unknown placeholder {place}"),
    ("en.toml", 'queue = "family"', 'queue = "familia"', "en.toml: options[2].queue"),
    ("es.toml", "[queues.crisis]\npriority = 100", "[queues.crisis]\npriority = -1",
     "es.toml: queues.crisis.priority"),
    ("en.toml", " Suicidal crisis: 9 8 8.", "",
     "en.toml: prompts.safety_line: must still tell callers about 988"),
    ("es.toml", "Si nadie ha llamado al 9 1 1 todavía, cuelgue ahora y marque 9 1 1.", "",
     "es.toml: prompts.medical_emergency: must still tell callers about 911"),
    ("es.toml", 'words = ["suicidio",', 'words = ["Sobredosis", "suicidio",',
     "es.toml: emergency.words: 'sobredosis' is also a crisis word"),
    ("es.toml", "[emergency]\nwords", "[emergency]\nphrases", "es.toml: emergency.words"),
])
def test_a_bad_entry_is_named(flows_copy, file, old, new, named):
    edit(flows_copy / file, old, new)
    with pytest.raises(FlowError) as err:
        load_flows(flows_copy)
    assert named in str(err.value)


def test_a_missing_prompt_is_named(flows_copy):
    path = flows_copy / "es.toml"
    lines = [ln for ln in path.read_text().splitlines() if not ln.startswith("zip_ask =")]
    path.write_text("\n".join(lines))
    with pytest.raises(FlowError, match=r"es.toml: prompts.zip_ask: missing"):
        load_flows(flows_copy)


def test_the_app_does_not_start_with_a_broken_flow(flows_copy, settings, monkeypatch):
    (flows_copy / "en.toml").write_text("language = 'en'\n[prompts\n")
    monkeypatch.setattr(helpline.flows.flow, "FLOWS_DIR", flows_copy)
    with pytest.raises(FlowError, match=r"en\.toml: cannot be read"):
        create_app(settings)
