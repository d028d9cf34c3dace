"""Names and paths of the store on disk.

``trained/{name}_v{version}/``, ``metadata/{name}_v{version}/``,
``evaluation/{name}_v{version}/`` and ``registry/``: the convention users already
keep by hand. This module only computes and checks names; :mod:`nbmodels.storage.local`
does the file access.
"""

from __future__ import annotations

import re
import unicodedata

from ..errors import InvalidNameError
from .versions import looks_like_version

__all__ = [
    "ALLOWED_NAMES",
    "MAX_NAME_LENGTH",
    "ORIGINAL_LABEL_MARKER",
    "loose_version",
    "parse_loose_version_dir",
    "parse_version_dir",
    "validate_alias",
    "validate_name",
    "version_dir",
]

MAX_NAME_LENGTH = 128
ALLOWED_NAMES = (f"letters, digits, '_', '-' and '.', starting with a letter or digit, "
                 f"at most {MAX_NAME_LENGTH} characters, no '..' and no trailing '.'")
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*")
_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$",
                     *(f"COM{i}" for i in range(10)), *(f"LPT{i}" for i in range(10))}
# Semver pre-releases cannot hold '_', so the last '_v' always splits name from version.
_DIR_RE = re.compile(r"(?P<name>.+)_v(?P<version>[0-9][0-9A-Za-z.\-]*)")
# Hand-made labels that stand for a semantic version: v1, v1.2, v01.2.3.
_LOOSE_RE = re.compile(r"(?P<name>.+)_v(?P<label>[0-9]+(?:\.[0-9]+){0,2})")

TRAINED, METADATA, EVALUATION, REGISTRY = "trained", "metadata", "evaluation", "registry"
METADATA_FILE = "metadata.json"
MODEL_CARD = "model_card.md"
INCOMPLETE_MARKER = ".nbmodels-incomplete"
# Left in a hand-made folder while it is renamed to its semantic version: its original label.
ORIGINAL_LABEL_MARKER = ".nbmodels-original-version"
TMP_PREFIX = ".tmp-"
TRASH_PREFIX = ".trash-"


def validate_name(name: object, what: str = "model name") -> str:
    """Return ``name`` if it is a safe model name, else raise :class:`InvalidNameError`."""
    if not isinstance(name, str):
        raise InvalidNameError(f"{what} must be a string, got {type(name).__name__}; "
                               f"allowed: {ALLOWED_NAMES}")
    if (len(name) <= MAX_NAME_LENGTH and _NAME_RE.fullmatch(name) and ".." not in name
            and not name.endswith(".")
            and name.split(".")[0].upper() not in _WINDOWS_RESERVED):
        return name  # the common case, decided by one regex (ASCII only: no control chars)
    shown = repr(name) if len(name) <= 40 else repr(name[:40] + "...")
    problem = None
    if not name:
        problem = "is empty"
    elif len(name) > MAX_NAME_LENGTH:
        problem = f"is {len(name)} characters long"
    elif any(unicodedata.category(c).startswith("C") for c in name):
        problem = "contains control characters"
    elif "/" in name or "\\" in name:
        problem = "contains a path separator"
    elif ".." in name:
        problem = "contains '..'"
    elif not _NAME_RE.fullmatch(name):
        bad = sorted({c for c in name if not (c.isascii() and (c.isalnum() or c in "_.-"))})
        problem = (f"contains {''.join(bad)!r}" if bad else "does not start with a letter or digit")
    elif name.endswith("."):
        problem = "ends with '.'"
    elif name.split(".")[0].upper() in _WINDOWS_RESERVED:
        problem = "is a reserved device name on Windows"
    if problem:
        raise InvalidNameError(f"{what} {shown} {problem}; allowed: {ALLOWED_NAMES}")
    return name


def validate_alias(alias: object) -> str:
    """Return ``alias`` if usable as an alias: a valid name that is not a version or 'latest'."""
    validate_name(alias, "alias")
    assert isinstance(alias, str)
    if alias == "latest" or _looks_like_version(alias):
        raise InvalidNameError(f"alias {alias!r} would be read as a version; choose a word "
                               f"such as 'production' or 'staging'")
    return alias


def _looks_like_version(text: str) -> bool:
    return bool(re.fullmatch(r"v?\d+(\.\d+){0,2}([-+].*)?", text))


def version_dir(name: str, version: str) -> str:
    """The folder name of one version: ``{name}_v{version}``."""
    return f"{name}_v{version}"


def parse_version_dir(dirname: str) -> tuple[str, str] | None:
    """Split ``{name}_v{version}`` into ``(name, version)``, or ``None`` if it is not one."""
    m = _DIR_RE.fullmatch(dirname)
    if not m:
        return None
    if not looks_like_version(m["version"]):
        return None
    try:
        validate_name(m["name"])
    except ValueError:
        return None
    return m["name"], m["version"]


def loose_version(label: str) -> str | None:
    """The semantic version a hand-written numeric label stands for, or ``None``.

    Missing parts are zero and leading zeros are dropped: ``1`` -> ``1.0.0``,
    ``1.2`` -> ``1.2.0``, ``01.2.03`` -> ``1.2.3``. A leading ``v`` is allowed.
    """
    text = label[1:] if label[:1] in ("v", "V") else label
    if not re.fullmatch(r"[0-9]+(?:\.[0-9]+){0,2}", text):
        return None
    parts = [int(p) for p in text.split(".")] + [0, 0]
    return ".".join(str(p) for p in parts[:3])


def parse_loose_version_dir(dirname: str) -> tuple[str, str, str] | None:
    """``(name, version, label)`` of a folder named by hand with a version that is not
    semantic (``churn_v1`` -> ``("churn", "1.0.0", "v1")``, ``churn_v1.2`` ->
    ``("churn", "1.2.0", "v1.2")``), or ``None``: for any other name, and for a proper
    ``{name}_v{version}`` folder, which :func:`parse_version_dir` reads.
    """
    if parse_version_dir(dirname) is not None:
        return None
    m = _LOOSE_RE.fullmatch(dirname)
    if not m:
        return None
    try:
        validate_name(m["name"])
    except ValueError:
        return None
    version = loose_version(m["label"])
    return (m["name"], version, f"v{m['label']}") if version else None
