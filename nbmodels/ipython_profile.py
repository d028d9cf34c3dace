"""Switch the magics on for every IPython session and kernel of a profile, or off again.

IPython reads no drop-in config folder, so this edits the profile's
``ipython_config.py``: a marked block that appends ``nbmodels`` to
``c.InteractiveShellApp.extensions`` (kernels read this file too). Whatever else the
file holds is left as it is.
"""

from __future__ import annotations

from pathlib import Path

from .storage import local

__all__ = ["disable_magics", "enable_magics", "profile_config_path"]

_BEGIN = "# >>> nbmodels magics (added by `nbmodels enable-magics`) >>>"
_END = "# <<< nbmodels magics <<<"
_BLOCK = f"""{_BEGIN}
c = get_config()  # noqa
c.InteractiveShellApp.extensions.append("nbmodels")
{_END}
"""


def profile_config_path(profile: str = "default") -> Path:
    """``ipython_config.py`` of ``profile`` (under ``$IPYTHONDIR`` or ``~/.ipython``).

    ``profile`` is a plain name: one with a path separator or ``..`` would put the file
    outside the profile's folder, and is refused with :class:`InvalidNameError`.
    """
    from IPython.paths import get_ipython_dir

    from .errors import InvalidNameError

    if (not isinstance(profile, str) or not profile or "/" in profile or "\\" in profile
            or ".." in profile or not profile.isprintable()):
        raise InvalidNameError(f"IPython profile {profile!r} is not a plain profile name "
                               f"(no '/', '\\' or '..'); e.g. 'default'")
    return Path(get_ipython_dir()) / f"profile_{profile}" / "ipython_config.py"


def _without_block(text: str) -> tuple[str, bool]:
    start = text.find(_BEGIN)
    if start < 0:
        return text, False
    end = text.find(_END, start)
    end = len(text) if end < 0 else end + len(_END)
    return (text[:start] + text[end:].lstrip("\n")).rstrip("\n") + "\n", True


def enable_magics(profile: str = "default") -> tuple[Path, bool]:
    """Add the block to the profile's config; returns ``(path, changed)``."""
    path = profile_config_path(profile)
    text = local.read_text(path) if local.exists(path) else ""
    if _BEGIN in text:
        return path, False
    local.make_dirs(path.parent)
    sep = "" if not text or text.endswith("\n\n") else ("\n" if text.endswith("\n") else "\n\n")
    local.atomic_write_bytes(path, (text + sep + _BLOCK).encode("utf-8"))
    return path, True


def disable_magics(profile: str = "default") -> tuple[Path, bool]:
    """Remove the block again; returns ``(path, changed)``."""
    path = profile_config_path(profile)
    if not local.exists(path):
        return path, False
    text, found = _without_block(local.read_text(path))
    if found:
        local.atomic_write_bytes(path, ("" if not text.strip() else text).encode("utf-8"))
    return path, found
