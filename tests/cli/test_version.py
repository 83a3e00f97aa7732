"""`grpo --version`: the installed package's version, pyproject.toml's."""

import tomllib
from pathlib import Path

from grpo.cli import main


def test_version_is_the_packages(capsys):
    assert main(["--version"]) == 0
    declared = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())["project"]["version"]
    assert capsys.readouterr().out == f"grpo {declared}\n"
