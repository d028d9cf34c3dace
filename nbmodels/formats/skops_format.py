"""skops: scikit-learn models stored without pickle, loaded after a type audit.

A ``.skops`` file is a zip of JSON and numpy arrays. Loading rebuilds objects only
from types on a trusted list (skops trusts scikit-learn, numpy and scipy types by
default); any other type in the file is refused before an object is built, with a
message naming the types and how to trust them. This is the format to share.
"""

from __future__ import annotations

from typing import Any

from ..errors import UntrustedTypesError
from .base import ArtifactSink, ArtifactSource, ModelFormat

__all__ = ["SkopsFormat"]


class SkopsFormat(ModelFormat):
    """scikit-learn models in ``model.skops``; no code runs when they are loaded."""

    name = "skops"
    artifacts = ("model.skops",)
    extra = "skops"
    requires = ("skops",)
    executes_code_on_load = False
    description = "skops.io zip of JSON and arrays; types audited before loading"
    save_options = frozenset({"compression"})
    load_options = frozenset({"trusted"})

    def save(self, model: Any, sink: ArtifactSink, *, compression: int | None = None,
             **options: Any) -> dict[str, Any]:
        import skops
        import skops.io as sio

        data = sio.dumps(model, **({} if compression is None else {"compression": compression}))
        with sink.open(self.artifacts[0]) as f:
            f.write(data)
        # What a reader will have to trust beyond skops' defaults, known before sharing.
        return {"skops_version": skops.__version__,
                "untrusted_types": list(sio.get_untrusted_types(data=data))}

    def load(self, source: ArtifactSource, info: dict[str, Any], *,
             trusted: list[str] | tuple[str, ...] | None = None, **options: Any) -> Any:
        import skops.io as sio

        if isinstance(trusted, str):
            trusted = [trusted]
        if trusted is not None and not isinstance(trusted, (list, tuple, set, frozenset)):
            raise TypeError(f"trusted must be a list of type names such as "
                            f"['mymodule.MyTransformer'], got {trusted!r}")
        raw = source.read_bytes(self.artifacts[0])
        needed = sio.get_untrusted_types(data=raw)
        refused = [t for t in needed if t not in set(trusted or ())]
        if refused:
            shown = ", ".join(refused)
            raise UntrustedTypesError(
                f"{self.artifacts[0]} needs types that are not trusted: {shown}. Building "
                f"them could run their code; if you trust them, load again with "
                f"load(..., trusted={refused!r})", refused)
        return sio.loads(raw, trusted=needed or None)

    def adopt(self, files: list[str]) -> dict[str, Any] | None:
        return {"skops_version": None, "untrusted_types": None} \
            if self.artifacts[0] in files else None
