"""Semantic-version rules: parsing, ordering and choosing the next version.

Ordering is semver's (``1.10.0 > 1.9.0``, ``2.0.0-rc.1 < 2.0.0``), delegated to
the ``semver`` package rather than written by hand.
"""

from __future__ import annotations

from collections.abc import Iterable

import semver

from ..errors import InvalidVersionError

__all__ = ["BUMPS", "FIRST_VERSION", "is_version", "next_version", "parse_version", "sort_versions"]

FIRST_VERSION = "1.0.0"
BUMPS = ("major", "minor", "patch")
_HINT = "use MAJOR.MINOR.PATCH, optionally with a pre-release, e.g. 1.4.0 or 2.0.0-rc.1"
# Folder names are ``{name}_v{version}``; this keeps them well under the 255-byte limit.
MAX_VERSION_LENGTH = 64


def parse_version(text: str) -> semver.Version:
    """Parse ``text`` as a semantic version, or raise :class:`InvalidVersionError`."""
    if not isinstance(text, str):
        raise InvalidVersionError(f"version must be a string, got {type(text).__name__}; {_HINT}")
    if len(text) > MAX_VERSION_LENGTH:
        raise InvalidVersionError(f"version {text[:20]!r}... is {len(text)} characters long, "
                                  f"more than {MAX_VERSION_LENGTH}; {_HINT}")
    try:
        v = semver.Version.parse(text)
    except (ValueError, TypeError):
        if text[:1] in ("v", "V") and is_version(text[1:]):
            raise InvalidVersionError(f"{text!r} is not a semantic version: write it without "
                                      f"the leading 'v', as {text[1:]!r}; {_HINT}") from None
        raise InvalidVersionError(f"{text!r} is not a semantic version; {_HINT}") from None
    if v.build is not None:
        # Build metadata does not take part in ordering, so two folders would compare equal.
        raise InvalidVersionError(f"{text!r} has build metadata ('+...'), which the store does "
                                  f"not accept because it does not order versions; {_HINT}")
    return v


def is_version(text: str) -> bool:
    """Whether ``text`` parses as a version the store accepts."""
    try:
        parse_version(text)
    except InvalidVersionError:
        return False
    return True


def sort_versions(versions: Iterable[str]) -> list[str]:
    """Return ``versions`` in ascending semver order."""
    return sorted(versions, key=semver.Version.parse)


def next_version(latest: str | None, bump: str = "minor") -> str:
    """The version that follows ``latest`` under ``bump`` (``1.0.0`` when there is none).

    A pre-release is followed by its release (``2.0.0-rc.1`` -> ``2.0.0``) whatever
    the bump, since that release has not been published yet.
    """
    if bump not in BUMPS:
        raise InvalidVersionError(f"bump must be one of {', '.join(BUMPS)}, got {bump!r}")
    if latest is None:
        return FIRST_VERSION
    v = parse_version(latest)
    if v.prerelease:
        return str(v.finalize_version())
    return str(v.next_version(part=bump))
