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


PACKAGES = ("grpo", "grpo.cli", "grpo.core", "grpo.modes", "grpo.experiment", "grpo.sweep", "grpo.tasks", "grpo.report",
            "grpo.report.grid", "grpo.report.random_study", "grpo.report.claims")

PUBLIC = """
import importlib, sys
for name in sys.argv[1:]:
    package = importlib.import_module(name)
    assert package.__all__, name
    for public in package.__all__:
        assert public in dir(package), f"dir({name}) lacks {public}"
        getattr(package, public)  # loads
"""


def test_each_package_names_its_public_names_and_dir_lists_them():
    done = subprocess.run([sys.executable, "-c", PUBLIC, *PACKAGES], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_a_lazy_name_is_no_attribute_of_another_kind():
    import grpo

    assert "TrainConfig" in dir(grpo) and "train" in dir(grpo)
    done = run("import grpo; getattr(grpo, 'no_such_name')")
    assert "module 'grpo' has no attribute 'no_such_name'" in done.stderr


MOVED_IMPORTS = """
import importlib, sys, warnings
from grpo._moved import MOVED
for name, new in MOVED.items():
    old = f"grpo.{name}"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module = importlib.import_module(old)
    assert module is importlib.import_module(new), old
    assert [str(w.message) for w in caught if w.category is FutureWarning] == [
        f"{old} moved to {new}; import it from there ({old} goes in the next release)"], (old, caught)
    assert module.__name__ == new and module.__spec__.name == new  # the new module is untouched
"""


def test_the_moved_modules_import_under_their_old_paths_with_a_future_warning():
    """A fourth-round path (``from grpo.losses import LOSSES``) gives the module at its new path,
    warning once with the new path; the new module keeps its own name."""
    done = run(MOVED_IMPORTS)
    assert done.returncode == 0, done.stderr


def test_an_old_path_warns_at_the_line_that_imports_it():
    done = run("import warnings\nwarnings.simplefilter('error')\nfrom grpo.modes import LOSSES\nfrom grpo.losses import LOSSES")
    assert 'File "<string>", line 4' in done.stderr and "FutureWarning: grpo.losses moved to grpo.modes.losses" in done.stderr
