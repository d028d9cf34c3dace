"""PyTorch: the whole module, its weights alone, or a TorchScript program.

Every save writes two files:

``model.pt``
    The whole ``nn.Module`` (``torch.save``, pickle-based: loading it imports and runs
    the module's class code, so it follows the same trust rules as joblib), or, for a
    TorchScript module, the ``torch.jit.save`` archive.
``state_dict.pt``
    The weights alone (``torch.save(model.state_dict())``). It is read with
    ``torch.load(weights_only=True)``, whose unpickler only builds tensors and plain
    containers, so ``load(name, weights_only=True, into=MyNet())`` restores a model
    from someone else without running any of their code.

``save(..., weights_only=True)`` writes ``state_dict.pt`` only: the way to share.
Tensors are mapped to the CPU on load unless ``map_location`` says otherwise, so a
model trained on a GPU loads on a machine without one.
"""

from __future__ import annotations

import io
import sys
import warnings
from collections import Counter
from typing import Any

from ..errors import NBModelsError
from .base import ArtifactSink, ArtifactSource, ModelFormat, class_path

__all__ = ["TorchFormat"]

MODULE_FILE = "model.pt"
WEIGHTS_FILE = "state_dict.pt"
_ARCHITECTURE_LIMIT = 4000
# Hand-made folders: the names people give a saved module or state dict. A weights-only
# load prefers a state dict file and falls back to a module file (often a checkpoint dict).
_FOREIGN_MODULES = (MODULE_FILE, "model.pth")
_FOREIGN_WEIGHTS = (WEIGHTS_FILE, "model_state_dict.pt", "model_state_dict.pth")


def _torch_module_class() -> Any:
    torch = sys.modules.get("torch")  # an nn.Module exists only once torch is imported
    return getattr(getattr(torch, "nn", None), "Module", None)


def describe_module(model: Any) -> dict[str, Any]:
    """Architecture summary, parameter counts, dtype and device of a module."""
    params = list(model.parameters())
    buffers = list(model.buffers())
    dtypes = Counter(str(t.dtype).replace("torch.", "") for t in params + buffers)
    devices = Counter(str(t.device) for t in params + buffers)
    architecture = str(model)
    if len(architecture) > _ARCHITECTURE_LIMIT:
        architecture = architecture[:_ARCHITECTURE_LIMIT] + "\n... (truncated)"
    return {
        "class": class_path(model),
        "architecture": architecture,
        "children": [{"name": name, "class": type(child).__name__,
                      "parameters": sum(p.numel() for p in child.parameters())}
                     for name, child in model.named_children()],
        "parameters": sum(p.numel() for p in params),
        "trainable_parameters": sum(p.numel() for p in params if p.requires_grad),
        "dtype": dtypes.most_common(1)[0][0] if dtypes else None,
        "dtypes": sorted(dtypes),
        "device": devices.most_common(1)[0][0] if devices else None,
        "devices": sorted(devices),
        "training": bool(model.training),
    }


class TorchFormat(ModelFormat):
    """``nn.Module`` and TorchScript models: ``model.pt`` plus ``state_dict.pt``."""

    name = "torch"
    artifacts = (MODULE_FILE, WEIGHTS_FILE)
    extra = "torch"
    requires = ("torch",)
    executes_code_on_load = True  # the whole module; weights_only=True does not
    description = "torch.save module (runs code on load) + weights-only state_dict"
    save_options = frozenset({"weights_only"})
    load_options = frozenset({"weights_only", "into", "map_location", "strict"})

    def claims(self, model: Any) -> int:
        module_cls = _torch_module_class()
        return 10 if module_cls is not None and isinstance(model, module_cls) else 0

    def save(self, model: Any, sink: ArtifactSink, *, weights_only: bool = False,
             **options: Any) -> dict[str, Any]:
        import torch

        if not isinstance(model, torch.nn.Module):
            raise NBModelsError(f"format 'torch' stores torch.nn.Module objects, not "
                                f"{type(model).__name__}")
        scripted = isinstance(model, torch.jit.ScriptModule)
        info: dict[str, Any] = {"kind": "torchscript" if scripted else "module",
                                "torch_version": torch.__version__, **describe_module(model)}
        if weights_only:
            info["module_file"] = None
        else:
            with sink.open(MODULE_FILE) as f:
                if scripted:
                    torch.jit.save(model, f)
                else:
                    torch.save(model, f)
            info["module_file"] = MODULE_FILE
        with sink.open(WEIGHTS_FILE) as f:
            torch.save(model.state_dict(), f)
        info["weights_file"] = WEIGHTS_FILE
        return info

    def load(self, source: ArtifactSource, info: dict[str, Any], *, weights_only: bool = False,
             into: Any = None, map_location: Any = "cpu", strict: bool = True,
             **options: Any) -> Any:
        import torch

        if into is not None or weights_only:
            return self._load_weights(source, info, into, map_location, strict)
        module_file = info.get("module_file", info.get("file", MODULE_FILE))
        if module_file is None or module_file not in source.names():
            raise NBModelsError("this version holds weights only (saved with "
                                "weights_only=True); load it into a fresh module: "
                                "load(name, version, into=YourModule(...))")
        data = source.read_bytes(module_file)
        if info.get("kind") == "torchscript":
            return torch.jit.load(io.BytesIO(data), map_location=map_location)
        with warnings.catch_warnings():
            # An adopted file may be a TorchScript archive; torch.load dispatches it itself.
            warnings.filterwarnings("ignore", message=".*TorchScript archive.*")
            return torch.load(io.BytesIO(data), map_location=map_location, weights_only=False)

    def _load_weights(self, source: ArtifactSource, info: dict[str, Any], into: Any,
                      map_location: Any, strict: bool) -> Any:
        import torch

        if isinstance(into, type):
            raise TypeError(f"into= takes a module instance, e.g. into={into.__name__}(...), "
                            f"not the class")
        if into is not None and not isinstance(into, torch.nn.Module):
            raise TypeError(f"into= takes a torch.nn.Module, not {type(into).__name__}")
        names = source.names()
        weights_file = info.get("weights_file") or next(
            (n for n in (*_FOREIGN_WEIGHTS, *_FOREIGN_MODULES) if n in names), WEIGHTS_FILE)
        if weights_file not in names:
            raise NBModelsError(f"this version has no weights file ({WEIGHTS_FILE}); load "
                                f"it without weights_only/into")
        try:
            # weights_only=True: torch's restricted unpickler builds tensors and plain
            # containers only and refuses every other global, so no saved code runs.
            state = torch.load(io.BytesIO(source.read_bytes(weights_file)),
                               map_location=map_location, weights_only=True)
        except Exception as exc:
            raise NBModelsError(f"{weights_file} is not a plain state_dict that loads "
                                f"without running code ({exc.__class__.__name__}: "
                                f"{str(exc).splitlines()[0] if str(exc) else ''})") from exc
        state = _unwrap_checkpoint(state, into)
        if into is None:
            return state
        into.load_state_dict(state, strict=strict)
        return into

    def adopt(self, files: list[str]) -> dict[str, Any] | None:
        module_file = next((n for n in _FOREIGN_MODULES if n in files), None)
        weights_file = next((n for n in _FOREIGN_WEIGHTS if n in files), None)
        if module_file is None and weights_file is None:
            return None
        return {"kind": "foreign", "module_file": module_file, "weights_file": weights_file}


def _unwrap_checkpoint(state: Any, into: Any) -> Any:
    """The state dict inside a training checkpoint (``{"model_state_dict": ...}``)."""
    if not isinstance(state, dict) or into is None:
        return state
    keys = set(into.state_dict())
    if keys & set(state):
        return state
    for key in ("model_state_dict", "state_dict", "model"):
        inner = state.get(key)
        if isinstance(inner, dict) and keys & set(inner):
            return inner
    return state
