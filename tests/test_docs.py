"""The README and docs/ hold together: every relative link resolves (a file, and a heading where
the link names one), and CI runs the README's test command itself."""

import ast
import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")  # [text](target)
FENCE = re.compile(r"^```.*?^```", flags=re.S | re.M)


def anchors(page: Path) -> set[str]:
    """GitHub's anchors of a page's headings: lower case, punctuation dropped, spaces to dashes."""
    headings = re.findall(r"^#+ (.+)$", FENCE.sub("", page.read_text()), flags=re.M)
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-") for heading in headings}


def links(page: Path) -> list[str]:
    return [target for target in LINK.findall(FENCE.sub("", page.read_text())) if not re.match(r"[a-z]+:", target)]


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_relative_link_resolves(page):
    assert links(page) or page.name != "README.md"  # the README links its docs
    for target in links(page):
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        assert resolved.exists(), f"{page.name}: {target} does not exist"
        if anchor:
            assert anchor in anchors(resolved), f"{page.name}: {target} names no heading of {resolved.name}"


def test_the_readme_links_every_docs_page():
    linked = {(ROOT / target.partition("#")[0]).resolve() for target in links(ROOT / "README.md")}
    assert set(PAGES[1:]) <= linked


def test_ci_runs_the_readmes_test_command():
    commands = re.findall(r"```bash\n(.*?)\n```", (ROOT / "README.md").read_text(), flags=re.S)
    test_command = next(command for command in commands if "pytest" in command and "'.[test]'" in command)
    assert test_command in (ROOT / ".ci" / "run").read_text().splitlines()


# ---- every name of the package and every test file that the text cites exists ----

DOTTED = re.compile(r"(?<![\w./-])grpo(?:\.[A-Za-z_]\w*)+")  # grpo.core.config.TrainConfig, grpo.report
TEST_PATH = re.compile(r"(?<![\w./-])tests/[\w./-]*\w")  # tests/core/test_group.py, tests/modes/
CITING = sorted({*ROOT.glob("grpo/**/*.py"), *ROOT.glob("grpo/presets/*.toml"), *ROOT.glob("tests/**/*.py"),
                 *ROOT.glob("bench/**/*.py"), *ROOT.glob("examples/**/*.py"), *ROOT.glob("examples/**/*.md"),
                 *ROOT.glob("examples/**/*.toml"), *PAGES, ROOT / "pyproject.toml"}
                - {ROOT / "grpo" / "_moved.py"})  # docstrings, comments and pages; _moved.py is the table of old paths


def entry_point_groups() -> set[str]:
    """The entry-point groups plugins register in (``grpo.deltas``): names, not modules."""
    from grpo.experiment.claims import ENTRY_POINT_GROUP
    from grpo.modes.registry import GROUPS

    return {f"grpo.{group}" for group in GROUPS} | {ENTRY_POINT_GROUP}


def resolves(name: str) -> bool:
    """A module, or a module's attribute (a dataclass field, a class member), of the package as it
    is now: an old path that only the FutureWarning shims of grpo._moved still import does not count."""
    from grpo._moved import MOVED

    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        module = ".".join(parts[:cut])
        if module.partition(".")[::2] in [("grpo", old) for old in MOVED]:
            continue
        if module == "grpo.__main__":
            return (ROOT / "grpo" / "__main__.py").is_file() and cut == len(parts)
        try:
            found = importlib.import_module(module)
        except ImportError:
            continue
        for attribute in parts[cut:]:
            if hasattr(found, attribute):
                found = getattr(found, attribute)
            elif attribute in getattr(found, "__dataclass_fields__", {}) or attribute in getattr(found, "__annotations__", {}):
                found = None
            else:
                return False
        return True
    return False


def cited(pattern: re.Pattern) -> dict[str, list[str]]:
    """name -> the places (file:line) that cite it."""
    places: dict[str, list[str]] = {}
    for path in CITING:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            for name in pattern.findall(line):
                places.setdefault(name, []).append(f"{path.relative_to(ROOT)}:{number}")
    return places


def test_every_dotted_name_of_the_package_resolves():
    groups = entry_point_groups()
    stale = {name: places for name, places in cited(DOTTED).items() if name not in groups and not resolves(name)}
    assert not stale, "names of modules or attributes that do not exist: " + "; ".join(
        f"{name} ({', '.join(places[:3])})" for name, places in sorted(stale.items()))


def test_the_plugins_page_names_every_entry_point_group():
    """docs/plugins.md's table holds one row per mode group the registries read, and names the
    claims group: a renamed or added group cannot leave the page behind."""
    from grpo.experiment.claims import ENTRY_POINT_GROUP

    page = (ROOT / "docs" / "plugins.md").read_text()
    tabled = re.findall(r"^\| `(grpo\.\w+)` \|", page, flags=re.M)
    assert sorted(tabled) == sorted(entry_point_groups() - {ENTRY_POINT_GROUP}) and len(tabled) == len(set(tabled))
    assert f"`{ENTRY_POINT_GROUP}`" in page


def test_every_cited_test_file_exists():
    """From the repository's root, or an example package's own root (its tests/ beside its code)."""
    roots = [ROOT, *(path for path in (ROOT / "examples").iterdir() if path.is_dir())]
    missing = {name: places for name, places in cited(TEST_PATH).items()
               if not any((root / name).exists() for root in roots)}
    assert not missing, "; ".join(f"{name} ({', '.join(places[:3])})" for name, places in sorted(missing.items()))


# ---- the floors docs/architecture.md states are the code's ----

FLOOR = re.compile(r"^\s{0,3}(\d+)\s+(grpo/[\w/.]*)", flags=re.M)  # `  7    grpo/cli/   one module per command`


def stated_floors() -> dict[str, int]:
    """path (a package folder `grpo/cli/` or a module `grpo/files.py`) -> its floor, from the
    architecture page's first drawing."""
    page = (ROOT / "docs" / "architecture.md").read_text()
    drawing = re.search(r"```\n(floor .*?)```", page, flags=re.S)
    assert drawing, "docs/architecture.md draws no floors"
    return {path: int(floor) for floor, path in FLOOR.findall(drawing.group(1))}


def place(path: str, floors: dict[str, int]) -> str | None:
    """The entry of `floors` that holds the file `path` (the longest that is a prefix of it)."""
    holders = [entry for entry in floors if path == entry or (entry.endswith("/") and path.startswith(entry))]
    return max(holders, key=len, default=None)


def module_file(module: str) -> str | None:
    """A module (grpo.core.config) -> its file (grpo/core/config.py, or the package's __init__.py), None if none."""
    base = module.replace(".", "/")
    for candidate in (f"{base}.py", f"{base}/__init__.py"):
        if (ROOT / candidate).is_file():
            return candidate
    return None


def imports_of(path: Path) -> set[str]:
    """The package's files `path` imports, at any depth of its code (a function's own imports too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
        else:
            continue
        for module in modules:
            if module.split(".")[0] == "grpo" and (file := module_file(module)):
                found.add(file)
    return found


def test_each_package_imports_only_the_floors_below_it():
    """Every import of grpo/ points down a floor of docs/architecture.md, or stays inside its own
    package; every file of grpo/ stands on a floor the page names (presets are data)."""
    floors = stated_floors()
    wrong = []
    for path in sorted(ROOT.glob("grpo/**/*.py")):
        source = str(path.relative_to(ROOT))
        here = place(source, floors)
        assert here is not None, f"{source} is on no floor of docs/architecture.md"
        for target in imports_of(path):
            there = place(target, floors)
            assert there is not None, f"{target} is on no floor of docs/architecture.md"
            if there != here and floors[there] >= floors[here]:
                wrong.append(f"{source} (floor {floors[here]}) imports {target} (floor {floors[there]})")
    assert not wrong, "; ".join(wrong)
