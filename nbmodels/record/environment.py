"""The environment check on load: one structured report instead of a wall of warnings.

A version records the Python version and the pinned distributions its classes come
from (see :func:`nbmodels.record.capture.environment_of`). On load these are compared with
what is installed now; scikit-learn's ``InconsistentVersionWarning`` (one per pickled
estimator, so a hundred for a forest) is caught and folded into the same report. The
report names each package with its saved and current version and gives the one
``pip install`` line that recreates the saved environment. Python major.minor comes
first: it decides whether the pickle can be read at all.
"""

from __future__ import annotations

import functools
import html
import platform
import textwrap
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..display import html_table, text_table
from ..errors import EnvironmentMismatchError, NBModelsError

__all__ = [
    "EnvironmentReport",
    "EnvironmentWarning",
    "PackageDifference",
    "compare_environment",
    "distribution_name",
    "installed_version",
    "load_checked",
    "load_failure",
]


@functools.cache
def installed_version(dist: str) -> str | None:
    """Installed version of distribution ``dist``, or ``None`` when it is not installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return None


class EnvironmentWarning(UserWarning):
    """A model was loaded into an environment that differs from the one it was saved in.

    The structured :class:`EnvironmentReport` is in :attr:`report`.
    """

    def __init__(self, report: EnvironmentReport) -> None:
        super().__init__(report.text())
        self.report = report


@dataclass(frozen=True)
class PackageDifference:
    """One package whose installed version differs from the saved one."""

    package: str
    saved: str | None
    current: str | None  # None: not installed here

    @property
    def requirement(self) -> str | None:
        return f"{self.package}=={self.saved}" if self.saved else None

    def to_dict(self) -> dict[str, Any]:
        return {"package": self.package, "saved": self.saved, "current": self.current}


@dataclass
class EnvironmentReport:
    """How the current environment differs from the one a version was saved in."""

    ref: str
    python_saved: str | None = None
    python_current: str = field(default_factory=platform.python_version)
    packages: list[PackageDifference] = field(default_factory=list)
    # scikit-learn's InconsistentVersionWarning, folded: estimator class -> saved version
    sklearn_estimators: dict[str, str] = field(default_factory=dict)

    @property
    def python_differs(self) -> bool:
        return bool(self.python_saved) and _major_minor(self.python_saved) \
            != _major_minor(self.python_current)

    @property
    def differs(self) -> bool:
        """Whether anything that matters for loading differs."""
        return self.python_differs or bool(self.packages)

    @property
    def pip_line(self) -> str | None:
        """``pip install a==1 b==2``: the saved versions of every differing package."""
        reqs = [d.requirement for d in self.packages if d.requirement]
        return "pip install " + " ".join(reqs) if reqs else None

    def to_dict(self) -> dict[str, Any]:
        return {"ref": self.ref, "differs": self.differs,
                "python": {"saved": self.python_saved, "current": self.python_current,
                           "differs": self.python_differs},
                "packages": [d.to_dict() for d in self.packages],
                "sklearn_estimators": dict(self.sklearn_estimators),
                "pip": self.pip_line}

    def _rows(self) -> list[tuple[str, str, str]]:
        rows = []
        if self.python_differs:
            rows.append(("Python", str(self.python_saved), self.python_current))
        rows += [(d.package, d.saved or "?", d.current or "not installed")
                 for d in self.packages]
        return rows

    def text(self, *, strict_hint: bool = True) -> str:
        """The report as plain text: a table, then what to do."""
        if not self.differs:
            return f"{self.ref}: saved in an environment like this one"
        lines = [f"{self.ref} was saved in a different environment:",
                 textwrap.indent(text_table(["package", "saved", "current"], self._rows()),
                                 "  ")]
        if self.python_differs:
            lines.append(f"  Python {_major_minor(self.python_saved)} pickles may not load or "
                         f"behave the same under Python {_major_minor(self.python_current)}; "
                         f"use Python {_major_minor(self.python_saved)} to be safe.")
        if self.sklearn_estimators:
            names = sorted(self.sklearn_estimators)
            shown = ", ".join(names[:5]) + (f" (+{len(names) - 5} more)" if len(names) > 5
                                           else "")
            lines.append(f"  scikit-learn warned about {shown}.")
        if self.pip_line:
            lines.append(f"  To match it: {self.pip_line}")
        if strict_hint:
            lines.append("  Load with strict=True to refuse such a model.")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.text()

    def __repr__(self) -> str:
        parts = [f"{a} {b} -> {c}" for a, b, c in self._rows()]
        return f"EnvironmentReport({self.ref}: {', '.join(parts) or 'no differences'})"

    def _repr_html_(self) -> str:
        e = html.escape
        if not self.differs:
            return f"<div class='nbmodels-env'>{e(self.text())}</div>"
        notes = []
        if self.python_differs:
            notes.append(f"Python major.minor differs: use Python "
                         f"{e(_major_minor(self.python_saved))} to be safe.")
        if self.sklearn_estimators:
            notes.append("scikit-learn warned about " +
                         e(", ".join(sorted(self.sklearn_estimators)[:5])) + ".")
        if self.pip_line:
            notes.append(f"To match it: <code>{e(self.pip_line)}</code>")
        body = "".join(f"<p style='margin:0.3em 0'>{n}</p>" for n in notes)
        table = html_table(["package", "saved", "current"], self._rows(), css_class=None,
                           bold_first=True)
        return (f"<div class='nbmodels-env' style='border-left:4px solid #d9822b;"
                f"padding:0.3em 0.8em'><b>{e(self.ref)}</b> was saved in a different "
                f"environment{table}{body}</div>")

    # -- folding scikit-learn's warnings ----------------------------------------------------
    def absorb(self, caught: list[warnings.WarningMessage]) -> list[warnings.WarningMessage]:
        """Fold ``InconsistentVersionWarning`` into the report; return the other warnings."""
        rest = []
        for w in caught:
            msg = w.message
            if type(msg).__name__ != "InconsistentVersionWarning":
                rest.append(w)
                continue
            saved = getattr(msg, "original_sklearn_version", None)
            current = getattr(msg, "current_sklearn_version", None)
            self.sklearn_estimators[getattr(msg, "estimator_name", "?")] = str(saved)
            if not any(d.package == "scikit-learn" for d in self.packages):
                self.packages.insert(0, PackageDifference("scikit-learn", str(saved),
                                                          str(current) if current else None))
        return rest


def _major_minor(version: str | None) -> str:
    return ".".join(str(version or "").split(".")[:2])


# Names people write for a framework -> the distributions that provide it, the one to
# ``pip install`` first (the import name is often not the distribution's name).
_DISTRIBUTION_ALIASES: dict[str, tuple[str, ...]] = {
    "sklearn": ("scikit-learn",),
    "scikit_learn": ("scikit-learn",),
    "pytorch": ("torch",),
    "tf": ("tensorflow", "tensorflow-cpu", "tensorflow-macos", "tensorflow-intel"),
    "tensorflow": ("tensorflow", "tensorflow-cpu", "tensorflow-macos", "tensorflow-intel"),
    "cv2": ("opencv-python", "opencv-python-headless", "opencv-contrib-python",
            "opencv-contrib-python-headless"),
    "opencv": ("opencv-python", "opencv-python-headless", "opencv-contrib-python",
               "opencv-contrib-python-headless"),
    "skimage": ("scikit-image",),
    "pil": ("pillow",),
    "lgbm": ("lightgbm",),
    "xgb": ("xgboost",),
    "hf": ("transformers",),
}


def distribution_name(name: str) -> str:
    """The distribution to install for ``name`` as people write it (``sklearn`` ->
    ``scikit-learn``, ``pytorch`` -> ``torch``, ``cv2`` -> ``opencv-python``); where one
    of several distributions provides it (``tensorflow-cpu``), the installed one."""
    candidates = _DISTRIBUTION_ALIASES.get(name.strip().lower().replace("-", "_"))
    if not candidates:
        return name
    return next((d for d in candidates if installed_version(d) is not None), candidates[0])


def _saved_packages(record: Mapping[str, Any]) -> dict[str, str]:
    env = record.get("environment")
    if isinstance(env, Mapping) and isinstance(env.get("packages"), Mapping):
        return {str(k): str(v) for k, v in env["packages"].items()}
    # A hand-written record in the seed's shape names only its framework, often by its
    # import name ("sklearn").
    framework, version = record.get("framework"), record.get("framework_version")
    if framework and version and framework != "python":
        return {distribution_name(str(framework)): str(version)}
    return {}


def compare_environment(record: Mapping[str, Any]) -> EnvironmentReport:
    """Compare the environment a version was saved in with the current one."""
    env = record.get("environment")
    python_saved = (env.get("python") if isinstance(env, Mapping) else None) \
        or record.get("python_version")
    report = EnvironmentReport(f"{record.get('model_name')}@{record.get('version')}",
                               python_saved=str(python_saved) if python_saved else None)
    for package, saved in sorted(_saved_packages(record).items(), key=lambda kv: kv[0].lower()):
        current = installed_version(package)
        if current != saved:
            report.packages.append(PackageDifference(package, saved, current))
    return report


def load_checked(load: Callable[[], Any], record: Mapping[str, Any], *,
                 strict: bool = False, stacklevel: int = 3) -> tuple[Any, EnvironmentReport]:
    """Run ``load()`` with the environment check around it.

    A difference known from the record alone refuses before anything is unpickled when
    ``strict``; scikit-learn's warnings raised while unpickling are folded into the
    report. Otherwise one :class:`EnvironmentWarning` carries the report; other
    warnings pass through unchanged.
    """
    report = compare_environment(record)
    if strict and report.differs:
        raise EnvironmentMismatchError(report.text(), report)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = load()
    for w in report.absorb(caught):
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)
    if report.differs:
        if strict:
            raise EnvironmentMismatchError(report.text(), report)
        warnings.warn(EnvironmentWarning(report), stacklevel=stacklevel)
    return model, report


def load_failure(record: Mapping[str, Any], exc: BaseException) -> NBModelsError | None:
    """The error to raise (chained to ``exc``) when loading a version failed in an
    environment that differs from the one it was saved in: the original error, then the
    environment report with the ``pip install`` line that loads it. ``None`` when the
    environment does not differ or ``exc`` is one of our refusals (integrity, trust,
    strict), which already says what to do."""
    from ..errors import FormatUnavailableError, IntegrityError, UntrustedTypesError

    if isinstance(exc, (EnvironmentMismatchError, FormatUnavailableError, IntegrityError,
                        UntrustedTypesError)):
        return None
    report = compare_environment(record)
    if not report.differs:
        return None
    cause = str(exc) if isinstance(exc, NBModelsError) else f"{type(exc).__name__}: {exc}"
    fix = (f" Load it where `{report.pip_line}` has been run (a separate virtual "
           f"environment), re-save it from there in a portable format (skops, onnx), or "
           f"retrain it here." if report.pip_line else "")
    return EnvironmentMismatchError(f"{report.ref} could not be loaded here ({cause}); it was "
                                    f"saved in a different environment.{fix}\n"
                                    f"{report.text(strict_hint=False)}", report)
