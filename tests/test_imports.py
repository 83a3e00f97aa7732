"""Import cost and side effects, each in a fresh interpreter (this one has imported everything)."""

import subprocess
import sys

LIGHT = """
import sys
import grpo
from grpo.cli import build_parser
build_parser(None)
heavy = sorted(name for name in ("torch", "pandas", "ray", "pyarrow", "matplotlib") if name in sys.modules)
sys.exit(f"loaded {heavy}" if heavy else 0)
"""

NO_WORK = """
import importlib, pkgutil, subprocess, sys
import grpo

def refuse(self, *args, **kwargs):
    raise AssertionError(f"a subprocess at import time: {args[0]!r}")

subprocess.Popen.__init__ = refuse  # every way of starting one (run, check_output, ...) goes through it
for module in pkgutil.walk_packages(grpo.__path__, "grpo."):
    if module.name != "grpo.__main__":
        importlib.import_module(module.name)
"""


def run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)


def test_import_grpo_and_the_command_list_load_nothing_heavy():
    done = run(LIGHT)
    assert done.returncode == 0, done.stderr


def test_the_public_names_load_on_first_use():
    done = run("import grpo, sys; assert 'torch' not in sys.modules; grpo.TrainConfig(); assert 'torch' in sys.modules")
    assert done.returncode == 0, done.stderr


def test_importing_any_module_runs_no_subprocess():
    """No git call or hashing at import time: every module of the package imported with
    subprocess refused."""
    done = run(NO_WORK)
    assert done.returncode == 0, done.stderr
