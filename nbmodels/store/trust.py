"""Which artifacts this user trusts to run code when loaded.

A pickle-based artifact (joblib, pickle, a whole torch module) runs code when it is
loaded. Its hash proves it matches its record, but whoever can write a store can write
the record too, so the decision is this user's, kept in this user's own configuration
folder (never inside a store): the sha256 of every artifact this user saved, or
trusted explicitly (``load(..., trust=True)``, ``%load_model ... --trust``,
``nbmodels trust NAME@VERSION``), one per line in ``trusted_artifacts.txt``.

The folder is ``$NBMODELS_CONFIG_DIR`` when set, else the user configuration folder
that :mod:`platformdirs` names for ``nbmodels`` (``~/.config/nbmodels`` on Linux).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..errors import UntrustedArtifactError
from ..storage import local

__all__ = ["CONFIG_ENV", "code_runs_on_load", "config_dir", "is_trusted", "refusal",
           "remember", "trust_file", "trusted_hashes"]

CONFIG_ENV = "NBMODELS_CONFIG_DIR"
TRUST_FILE = "trusted_artifacts.txt"
_MAX_TRUST_FILE = 64 << 20


def config_dir() -> Path:
    """This user's nbmodels configuration folder."""
    given = os.environ.get(CONFIG_ENV)
    if given:
        return Path(given).expanduser().absolute()
    import platformdirs

    return Path(platformdirs.user_config_dir("nbmodels", appauthor=False))


def trust_file() -> Path:
    """The file that lists the trusted artifact hashes."""
    return config_dir() / TRUST_FILE


def trusted_hashes() -> set[str]:
    """Every artifact sha256 this user saved or trusted (empty when there is none)."""
    try:
        data = local.read_regular(trust_file(), _MAX_TRUST_FILE)
    except FileNotFoundError:
        return set()
    except (OSError, ValueError) as exc:
        raise UntrustedArtifactError(f"the trust file {trust_file()} cannot be read ({exc}); "
                                     f"fix or remove it (set {CONFIG_ENV} to use another "
                                     f"folder)") from None
    found = set()
    for line in data.decode("utf-8", "replace").splitlines():
        digest = line.split("\t", 1)[0].strip()
        if len(digest) == 64 and all(c in "0123456789abcdef" for c in digest):
            found.add(digest)
    return found


def _hashes(files: Iterable[dict[str, Any]]) -> list[str]:
    return [f["sha256"] for f in files if isinstance(f, dict) and isinstance(
        f.get("sha256"), str)]


def is_trusted(files: Iterable[dict[str, Any]]) -> bool:
    """Whether every artifact of a version (its record's ``files``) is trusted."""
    wanted = _hashes(files)
    if not wanted:
        return False
    known = trusted_hashes()
    return all(h in known for h in wanted)


def remember(files: Iterable[dict[str, Any]], *, how: str, ref: str, store: str) -> None:
    """Record the artifacts of a version as trusted (``how``: ``saved`` or ``trusted``)."""
    from ..record.capture import utc_now

    known = trusted_hashes()
    when = utc_now()
    for digest in _hashes(files):
        if digest not in known:
            note = "\t".join(" ".join(str(part).split()) for part in (how, ref, store, when))
            local.append_line(trust_file(), f"{digest}\t{note}")
            known.add(digest)


def code_runs_on_load(fmt: Any, options: dict[str, Any]) -> bool:
    """Whether loading with this format and these options would run code from the
    artifacts (a pickle); weights-only torch loads and safe formats do not."""
    if not getattr(fmt, "executes_code_on_load", True):
        return options.get("safe_mode") is False
    return not (options.get("weights_only") or options.get("into") is not None)


def refusal(store: str, name: str, version: str, record: dict[str, Any], fmt: Any,
            artifact_paths: list[str]) -> UntrustedArtifactError:
    """The one error that says where a version came from, what loading it would run,
    how to inspect it and how to trust it."""
    ref = f"{name}@{version}"
    said = ", ".join(f"{key} {record.get(key)!s}" for key in ("origin", "author",
                                                               "created_at")
                     if record.get(key) not in (None, ""))
    first = artifact_paths[0] if artifact_paths else "the artifact"
    message = (
        f"refusing to load {ref} from the store {store}: its {fmt.name} artifacts "
        f"were neither saved nor trusted by you, and loading them unpickles them, which "
        f"can run any code; its record says {said or 'nothing about where it came from'} "
        f"(whoever can write the store writes the record too); inspect it first with "
        f"`python -m pickletools {first}` (the imports and calls it would make), or ask for "
        f"a skops copy, whose types are audited before loading "
        f"(`skops.io.get_untrusted_types(file=...)`); if you trust it: load(..., trust=True), "
        f"`%load_model {ref} --trust` or `nbmodels trust {ref}` (remembered for these exact "
        f"bytes in {trust_file()})")
    return UntrustedArtifactError(message, ref)
