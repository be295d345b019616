"""The lock files pin a version of every requirement that pyproject.toml allows, and
production's lock leaves the development stand-ins out."""
from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]


def _pins(lock: str) -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements" / lock).read_text().splitlines():
        line = line.split("#")[0].strip()
        if "==" in line:
            name, version = line.split("==")
            pins[canonicalize_name(name.split("[")[0])] = version.strip()
    return pins


def _requirements(extra: str | None) -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = project["dependencies"] if extra is None else project["optional-dependencies"][extra]
    return [Requirement(r) for r in names]


@pytest.mark.parametrize("lock, groups", [("prod.lock", [None]), ("dev.lock", [None, "dev"])])
def test_every_requirement_is_pinned_within_its_range(lock, groups):
    pins = _pins(lock)
    for group in groups:
        for requirement in _requirements(group):
            name = canonicalize_name(requirement.name)
            assert name in pins, f"{name} is not in requirements/{lock}: run `make lock`"
            assert requirement.specifier.contains(pins[name]), (
                f"{name}=={pins[name]} in requirements/{lock} is outside {requirement.specifier}")


def test_production_installs_no_development_stand_in():
    assert "fakeredis" not in _pins("prod.lock")
    assert "fakeredis" in _pins("dev.lock")
