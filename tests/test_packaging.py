"""environment.yml and pyproject.toml pin the same versions."""

from __future__ import annotations

import re
import tomllib

from .conftest import ROOT

PIN = re.compile(r"^\s*([A-Za-z0-9_.\-\[\]]+?)==([^\s#]+)")


def pyproject_pins() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = list(project["dependencies"])
    for extra in ("cpu", "labs", "hub", "dev"):
        wanted += project["optional-dependencies"][extra]
    return dict(PIN.match(item).groups() for item in wanted)


def environment_pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "environment.yml").read_text().splitlines():
        match = PIN.match(line.strip().removeprefix("- "))
        if match:
            pins[match.group(1)] = match.group(2)
    return pins


def test_environment_yml_agrees_with_pyproject():
    assert environment_pins() == pyproject_pins()


def test_environment_yml_uses_python_311():
    assert re.search(r"^\s*- python=3\.11\s*$", (ROOT / "environment.yml").read_text(), re.M)


def test_cuda_extra_pins_the_same_tensorflow():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    cpu = project["optional-dependencies"]["cpu"][0].split("==")[1]
    cuda = project["optional-dependencies"]["cuda"][0].split("==")[1]
    assert cpu == cuda
