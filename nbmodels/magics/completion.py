"""Reading a magic's line as it is typed: comments, and what to complete.

:func:`strip_comment` drops a trailing ``# comment`` (the parser of every magic uses it);
:class:`MagicCompletion` is the completion half of :class:`~nbmodels.magics.ModelMagics`
(model names, versions, aliases and notebook variables after our magics), and
:func:`completion_matcher` hands it to IPython's completer.
"""

from __future__ import annotations

import re
import types
from collections.abc import Callable
from typing import Any

__all__ = ["MagicCompletion", "completion_matcher", "strip_comment"]


# What the positional arguments of each magic are, for completion: a model reference
# (NAME or NAME@VERSION|ALIAS), a model name, a version of the first argument's model, an
# alias, or a notebook variable (the model first).
_POSITIONALS: dict[str, tuple[str, ...]] = {
    "load_model": ("ref",), "model_info": ("ref",), "compare_models": ("ref",) * 64,
    "model_alias": ("name", "alias", "version"), "models": ("name",),
    "save_model": ("model",), "evaluate": ("model", "var", "var"), "model_edit": ("ref",),
}
# Options followed by a value we can offer; every other option takes a value we cannot
# guess, except these flags.
_OPTION_VALUES = {"--data": "var", "--target": "var", "--name": "name"}
_FLAGS = frozenset({"--overwrite", "--no-save", "--all", "--remove", "--force",
                    "--allow-unfitted", "--force-new"})
_MAGIC_AT = re.compile(r"(?:^|[\s=(])%(\w+)(?:\s(.*))?$")


def strip_comment(line: str) -> str:
    """``line`` without a trailing ``# comment`` (a ``#`` that starts a word outside quotes).

    As in a shell: ``# latest`` is a comment, ``'a # b'`` and ``a#b`` are not.
    """
    quote = ""
    escaped = False
    for i, char in enumerate(line):
        if escaped:
            escaped = False
        elif char == "\\" and quote != "'":
            escaped = True
        elif quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip()
    return line


class MagicCompletion:
    """The completion half of :class:`~nbmodels.magics.ModelMagics`: what to offer after
    one of our magics, read from the store (``self.store``) and the notebook's namespace
    (``self.shell``) of the magics it is mixed into."""

    store: Any
    shell: Any

    def completions(self, text_until_cursor: str) -> tuple[str, list[str]] | None:
        """What to offer at the end of ``text_until_cursor`` in one of our magics.

        Returns ``(fragment, candidates)``, the part of the word the candidates replace and
        the candidates in the order to show them, or None when the line is not ours (or
        is at a value we know nothing about, such as ``--version``).
        """
        found = _MAGIC_AT.search(text_until_cursor)
        if not found or found.group(1) not in _POSITIONALS or found.group(2) is None:
            return None  # not ours, or still the magic's own name
        magic, rest = found.group(1), strip_comment(found.group(2))
        if rest != found.group(2) or rest.count('"') % 2 or rest.count("'") % 2:
            return None  # inside a comment or a quoted value
        words = rest.split()
        word = "" if not rest or rest[-1].isspace() else words.pop()

        def takes_value(option: str) -> bool:
            return option.startswith("-") and option not in _FLAGS

        if words and takes_value(words[-1]):
            kind = _OPTION_VALUES.get(words[-1])
            if kind is None:  # --version, --require, ...: nothing sensible to offer
                return None
        elif word.startswith("-"):
            return None
        else:
            positionals = [w for i, w in enumerate(words) if not w.startswith("-")
                           and not (i and takes_value(words[i - 1]))]
            kinds = _POSITIONALS[magic]
            if len(positionals) >= len(kinds):
                return None
            kind = kinds[len(positionals)]
            if kind == "version":
                return word, self._refs(positionals[0], word)
            if kind == "alias":
                return word, self._aliases(positionals[0], word)
        if kind in ("var", "model"):
            return word, self._variables(word, models_first=kind == "model")
        if kind == "ref" and "@" in word:
            name, _, prefix = word.partition("@")
            return prefix, self._refs(name, prefix)
        return word, self._names(word)

    def _names(self, prefix: str) -> list[str]:
        try:
            return [n for n in self.store.names() if n.startswith(prefix)]
        except Exception:  # completion must never raise into the user's typing
            return []

    def _refs(self, name: str, prefix: str) -> list[str]:
        """Versions newest first, then aliases, then ``latest``."""
        try:
            store = self.store
            refs = [*reversed(store.versions(name)), *sorted(store.aliases(name)), "latest"]
        except Exception:
            return []
        return [r for r in refs if r.startswith(prefix)]

    def _aliases(self, name: str, prefix: str) -> list[str]:
        try:
            aliases = sorted(self.store.aliases(name))
        except Exception:
            return []
        return [a for a in aliases if a.startswith(prefix)]

    def _variables(self, prefix: str, *, models_first: bool) -> list[str]:
        """The notebook's own variables (not IPython's), fitted models first if asked."""
        ns, hidden = self.shell.user_ns, self.shell.user_ns_hidden
        # Data and models, not the modules, classes and functions the notebook imported.
        names = sorted(k for k in ns if k.startswith(prefix) and not k.startswith("_")
                       and k not in hidden and k.isidentifier()
                       and not isinstance(ns[k], (type, types.ModuleType, types.FunctionType,
                                                  types.BuiltinFunctionType)))
        if models_first:
            names.sort(key=lambda k: not callable(getattr(ns[k], "predict", None)))
        return names


def completion_matcher(magics: MagicCompletion) -> Callable[..., Any]:
    """An IPython (API v2) completion matcher that owns the words of our magics."""
    from IPython.core.completer import SimpleCompletion, context_matcher

    @context_matcher(identifier="nbmodels")
    def nbmodels_matcher(context: Any) -> dict[str, Any]:
        try:
            found = magics.completions(context.text_until_cursor)
        except Exception:  # completion must never raise into the user's typing
            found = None
        if found is None:
            return {"completions": [], "suppress": False}
        fragment, candidates = found
        # Ours alone: model names, versions and variables, not every Python name.
        return {"completions": [SimpleCompletion(c, type="nbmodels") for c in candidates],
                "matched_fragment": fragment, "suppress": True, "ordered": True}

    nbmodels_matcher.matcher_priority = 10  # type: ignore[attr-defined]
    return nbmodels_matcher
