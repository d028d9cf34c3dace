"""A model's aliases: ``registry/aliases/{name}.json``, ``{alias: version}``.

Unlike the index, aliases are not derived from anything: the file is their source of
truth. So a file that exists but cannot be read is never treated as empty
(:class:`AliasFileError`), and a change is written as a compare-and-swap against the
file that was read (:func:`read_aliases` hands out its token, :func:`write_aliases`
takes it back), so that another writer's change, on a store whose lock does not keep
other machines out, is refused rather than overwritten.
"""

from __future__ import annotations

import json
from pathlib import PurePosixPath
from typing import Any

from ..errors import ConcurrentUpdateError, IntegrityError
from ..storage.backend import StorageBackend, json_bytes
from ..storage.layout import REGISTRY
from ..storage.versions import is_version

__all__ = [
    "UNCONDITIONAL",
    "AliasFileError",
    "aliased_names",
    "aliases_path",
    "read_aliases",
    "write_aliases",
]

#: ``expected`` of :func:`write_aliases` that writes whatever the file holds now (only
#: for a writer that owns the store, such as an import or a rebuild under the lock).
UNCONDITIONAL: Any = object()


class AliasFileError(IntegrityError):
    """A model's aliases file exists but cannot be read as ``{alias: version}``.

    Aliases are not derived from anything, so the store neither guesses nor overwrites
    them: reading them raises this error and changing them is refused until the file
    is repaired by hand (or moved away, which drops every alias of the model).
    """


def aliases_path(name: str) -> str:
    """Where ``name``'s aliases are kept."""
    return f"{REGISTRY}/aliases/{name}.json"


def read_aliases(fs: StorageBackend, name: str) -> tuple[dict[str, str], str | None]:
    """``alias -> version`` for ``name`` (empty if it has none) and a token of the file
    read (``None``: no file), to hand back to :func:`write_aliases` so that a change
    made meanwhile by another writer is never overwritten.

    Raises :class:`AliasFileError` when the file exists but is not a readable
    ``{alias: version}`` object: its aliases are unknown, not absent.
    """
    path = aliases_path(name)
    info = fs.stat(path)
    if info is None:
        return {}, None
    problem = None
    data: Any = None
    token = None
    if info.kind != "file":
        problem = "is not a regular file"
    else:
        try:
            got = fs.read_versioned(path, limit=1 << 20)
            if got is None:
                return {}, None
            data, token = json.loads(got[0]), got[1]
        except (OSError, ValueError, RecursionError) as exc:
            problem = f"cannot be read ({exc})"
    if problem is None and not isinstance(data, dict):
        problem = "does not hold a JSON object"
    if problem is None:
        # Only entries that name a version: a hand-edited target such as "../../x"
        # must never become part of a path.
        bad = [k for k, v in data.items() if not (isinstance(v, str) and is_version(v))]
        if bad:
            problem = f"has entries that are not versions: {', '.join(map(str, bad[:5]))}"
    if problem is not None:
        raise AliasFileError(
            f"the aliases of {name!r} are unknown: {fs.display(path)} {problem}. "
            f"Repair it by hand (a JSON object such as {{\"production\": \"1.2.0\"}}), "
            f"or move it away to drop every alias of {name!r}; aliases are not "
            f"changed until then, so none is lost")
    return {str(k): v for k, v in data.items()}, token


def write_aliases(fs: StorageBackend, name: str, aliases: dict[str, str],
                  expected: Any = UNCONDITIONAL) -> None:
    """Replace ``name``'s aliases (durably: they are not derived from anything).

    Call with the model's lock held, after :func:`read_aliases` succeeded (which
    refuses a damaged file, so a write never replaces aliases that could not be read),
    passing its token as ``expected``: the write is a compare-and-swap, and
    :class:`ConcurrentUpdateError` says that another writer changed the aliases first
    (on a shared store the lock does not keep other machines out).
    """
    path = aliases_path(name)
    if expected is UNCONDITIONAL:
        if not aliases:
            fs.remove_file(path)
            return
        fs.make_dirs(f"{REGISTRY}/aliases")
        fs.write_json(path, dict(sorted(aliases.items())))
        return
    if not aliases:
        done = expected is None or fs.remove_if(path, expected)
    else:
        fs.make_dirs(f"{REGISTRY}/aliases")
        done = fs.replace_if(path, json_bytes(dict(sorted(aliases.items()))), expected)
    if not done:
        raise ConcurrentUpdateError(
            f"the aliases of {name!r} were changed by another writer while this change "
            f"was made; nothing was written and theirs stands. Look at the aliases "
            f"again (`nbmodels versions {name}`) and repeat the change if it still "
            f"applies")


def aliased_names(fs: StorageBackend) -> list[str]:
    """Names that have an aliases file."""
    return sorted(n[:-5] for n in fs.list_dir(PurePosixPath(REGISTRY) / "aliases")
                  if n.endswith(".json"))
