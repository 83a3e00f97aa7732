"""What code made a result: package versions, the git commit, and a fingerprint of the source.

The git commit ignores uncommitted edits, so results are matched by ``code_fingerprint``: a hash
of every source file of the installed ``grpo`` package (its ``.py`` files and presets). Two
results with the same fingerprint were made by the same trainer; a sweep refuses to mix
results of two fingerprints in one folder, and every Ray node must run the driver's
fingerprint.
"""

import functools
import hashlib
import platform
import subprocess
from importlib import metadata
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]  # the grpo package: this file is grpo/experiment/provenance.py
SOURCE_PATTERNS = ("*.py", "presets/*.toml")  # the files whose content decides the numbers


@functools.cache
def code_fingerprint() -> str:
    """sha256 (first 16 hex digits) over the relative path and bytes of each source file."""
    digest = hashlib.sha256()
    files = sorted({path for pattern in SOURCE_PATTERNS for path in PACKAGE.rglob(pattern)
                    if "__pycache__" not in path.parts})
    for path in files:
        digest.update(str(path.relative_to(PACKAGE)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


VERSION_KEYS = ("grpo_version", "torch_version", "ray_version", "python_version", "git_commit", "code_fingerprint")


@functools.cache
def versions() -> dict[str, str | None]:
    """Package versions, the git commit (informative: blind to uncommitted edits) and the
    code fingerprint (decisive) of the code that produced a run."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=PACKAGE, capture_output=True,
                                text=True, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    found = (metadata.version("grpo"), metadata.version("torch"), metadata.version("ray"), platform.python_version(),
             commit, code_fingerprint())
    return dict(zip(VERSION_KEYS, found, strict=True))


def plugins_of(config) -> dict[str, str]:
    """The plugin modes a configuration reads: name -> "origin code FINGERPRINT" (origin
    "package==version" or "module.function (in-process)"; the fingerprint of the code it runs,
    grpo.modes.registry.Registry.code_fingerprint). What the run info records beside grpo's own
    code fingerprint, so that results of other plugin code are refused like those of other grpo code."""
    from grpo.modes.registry import BUILT_IN

    found = {}
    for field, registry in config.registries_read().items():
        name = getattr(config, field)
        if registry.origin(name) != BUILT_IN:
            found[name] = f"{registry.origin(name)} code {registry.code_fingerprint(name)}"
    return found
