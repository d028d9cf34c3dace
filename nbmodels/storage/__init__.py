"""Storage: the only code that touches bytes.

``layout`` names the store's folders and checks names, ``versions`` holds the semver
rules, and ``local`` does every file operation of a store on a local disk.
"""

from __future__ import annotations

__all__: list[str] = []
