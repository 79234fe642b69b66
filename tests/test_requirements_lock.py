"""deploy/requirements.lock, which the README's deployment installs from with hashes, pins every
package pyproject.toml asks for (with the `prod` extra) at a version it allows: a dependency
added or narrowed without `make lock` fails here, not on the production machine."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)")


def pinned() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (REPO / "deploy" / "requirements.lock").read_text().splitlines():
        found = PIN.match(line)
        if found:
            pins[canonicalize_name(found[1])] = found[2]
    return pins


def wanted() -> list[Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return [Requirement(text) for text in
            [*project["dependencies"], *project["optional-dependencies"]["prod"]]]


def test_every_requirement_is_pinned_at_a_version_pyproject_allows() -> None:
    pins = pinned()
    problems = []
    for requirement in wanted():
        version = pins.get(canonicalize_name(requirement.name))
        if version is None:
            problems.append(f"{requirement.name} is not in the lock")
        elif not requirement.specifier.contains(version, prereleases=True):
            problems.append(f"{requirement.name}=={version} is outside {requirement.specifier}")
    assert not problems, "run `make lock`: " + "; ".join(problems)


def test_every_pin_carries_hashes() -> None:
    text = (REPO / "deploy" / "requirements.lock").read_text()
    entries = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[2])
    assert entries and all("--hash=sha256:" in entry for entry in entries if "==" in entry)
