"""PyTorch: whole modules, weights-only loading that runs no saved code, TorchScript, GPU."""

from __future__ import annotations

import importlib
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from nbmodels.errors import NBModelsError

torch = pytest.importorskip("torch")

jit_script_warning = pytest.mark.filterwarnings(
    "ignore:.*torch.jit.*:DeprecationWarning", "ignore:.*TorchScript.*:DeprecationWarning")

TRIPWIRE_MODULE = textwrap.dedent('''
    """A module whose code records every time pickle rebuilds one of its objects."""
    import torch

    UNPICKLED = []


    def record(what):
        UNPICKLED.append(what)
        return what


    class TripwireNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(4, 3)

        def forward(self, x):
            return self.fc(x)

        def __setstate__(self, state):
            UNPICKLED.append(type(self).__name__)
            super().__setstate__(state)


    class Payload:
        """Unpickling this calls record(): what a malicious file would do."""

        def __reduce__(self):
            return (record, ("payload ran",))
''')


class PlainNet(torch.nn.Module):
    """The same layers as TripwireNet, from code the loader controls."""

    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(x)


@pytest.fixture
def tripwire(tmp_path, monkeypatch):
    """The tripwire module, importable from a temporary folder for this test only."""
    (tmp_path / "tripwire_net.py").write_text(TRIPWIRE_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("tripwire_net")
    yield module
    sys.modules.pop("tripwire_net", None)


def _fit_small_net(net, seed=0):
    torch.manual_seed(seed)
    X = torch.randn(64, 4)
    y = (X[:, 0] > 0).long() + (X[:, 1] > 0).long()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    for _ in range(20):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(X), y).backward()
        opt.step()
    return X


def test_whole_module_round_trip_and_record(store):
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    X = _fit_small_net(net)
    rec = store.save(net, "net")  # chosen automatically
    info = rec["format_info"]
    assert rec["format"] == "torch" and rec["format_extra"] == "torch"
    assert [f["name"] for f in rec["files"]] == ["model.pt", "state_dict.pt"]
    assert info["kind"] == "module"
    assert info["parameters"] == 4 * 8 + 8 + 8 * 3 + 3
    assert info["dtype"] == "float32" and info["device"] == "cpu"
    assert "Linear(in_features=4, out_features=8" in info["architecture"]
    assert [c["class"] for c in info["children"]] == ["Linear", "ReLU", "Linear"]
    assert [m["name"] for m in store.list()] == ["net"]
    loaded = store.load("net")
    assert type(loaded) is torch.nn.Sequential
    assert torch.equal(loaded(X), net(X))


def test_weights_only_load_runs_no_saved_code(store, tripwire):
    net = tripwire.TripwireNet()
    X = _fit_small_net(net)
    store.save(net, "trip")
    # The tripwire works: loading the whole module rebuilds TripwireNet through pickle.
    whole = store.load("trip")
    assert tripwire.UNPICKLED == ["TripwireNet"]
    assert torch.equal(whole(X), net(X))
    tripwire.UNPICKLED.clear()

    fresh = tripwire.TripwireNet()  # built by our code, not by unpickling
    assert store.load("trip", weights_only=True, into=fresh) is fresh
    assert tripwire.UNPICKLED == []
    assert torch.equal(fresh(X), net(X))

    # Without the saved class importable at all, only the weights-only path still works.
    sys.modules.pop("tripwire_net")
    sys.path.remove(str(Path(tripwire.__file__).parent))
    importlib.invalidate_caches()
    with pytest.raises(ModuleNotFoundError):
        store.load("trip")
    plain = store.load("trip", weights_only=True, into=PlainNet())
    assert torch.equal(plain(X), net(X))
    state = store.load("trip", weights_only=True)  # no into: the state dict itself
    assert sorted(state) == ["fc.bias", "fc.weight"]
    assert all(isinstance(v, torch.Tensor) for v in state.values())


def test_weights_only_refuses_a_state_dict_that_would_run_code(store, tripwire):
    # A hand-made folder from someone else: its state_dict.pt carries a pickled call.
    folder = store.root / "trained" / "evil_v1.0.0"
    folder.mkdir(parents=True)
    torch.save({"fc.weight": torch.zeros(3, 4), "fc.bias": tripwire.Payload()},
               folder / "state_dict.pt")
    store.rebuild_index()
    rec = store.record("evil")
    assert rec["format"] == "torch" and rec["origin"] == "adopted"
    with pytest.raises(NBModelsError, match="not a plain state_dict"):
        store.load("evil", weights_only=True, into=PlainNet())
    assert tripwire.UNPICKLED == []


def test_save_weights_only(store):
    net = PlainNet()
    X = _fit_small_net(net)
    rec = store.save(net, "shared", weights_only=True)
    assert [f["name"] for f in rec["files"]] == ["state_dict.pt"]
    with pytest.raises(NBModelsError, match=r"weights only.*into=YourModule"):
        store.load("shared")
    assert torch.equal(store.load("shared", into=PlainNet())(X), net(X))
    with pytest.raises(TypeError, match=r"into=PlainNet\(\.\.\.\)"):
        store.load("shared", into=PlainNet)


def test_checkpoint_dicts_are_unwrapped(store):
    net = PlainNet()
    X = _fit_small_net(net)
    folder = store.root / "trained" / "ckpt_v1.0.0"
    folder.mkdir(parents=True)
    torch.save({"epoch": 3, "model_state_dict": net.state_dict()}, folder / "model.pth")
    store.rebuild_index()
    assert torch.equal(store.load("ckpt", weights_only=True, into=PlainNet())(X), net(X))


def test_adopted_folder_with_module_and_state_dict_loads_weights_from_the_state_dict(store):
    # nbmodels' own two files, in a folder whose record was lost and is adopted again.
    net = PlainNet()
    X = _fit_small_net(net)
    folder = store.root / "trained" / "both_v1.0.0"
    folder.mkdir(parents=True)
    torch.save(net, folder / "model.pt")
    torch.save(net.state_dict(), folder / "state_dict.pt")
    store.rebuild_index()
    info = store.record("both")["format_info"]
    assert (info["module_file"], info["weights_file"]) == ("model.pt", "state_dict.pt")
    assert torch.equal(store.load("both", weights_only=True, into=PlainNet())(X), net(X))
    assert torch.equal(store.load("both", trust=True)(X), net(X))


@jit_script_warning
def test_torchscript_round_trip(store):
    net = PlainNet()
    X = _fit_small_net(net)
    scripted = torch.jit.script(net)
    rec = store.save(scripted, "scripted")
    assert rec["format"] == "torch" and rec["format_info"]["kind"] == "torchscript"
    loaded = store.load("scripted", trust=True)
    assert isinstance(loaded, torch.jit.ScriptModule)
    assert torch.equal(loaded(X), net(X))
    assert torch.equal(store.load("scripted", into=PlainNet())(X), net(X))


def test_cuda_tagged_files_load_on_cpu(store):
    """Files whose tensors say ``cuda:0``, as a GPU machine writes them, load on the CPU."""
    from torch import serialization

    net = PlainNet()
    X = _fit_small_net(net)

    def tag(obj):  # consulted before the built-in "cpu" rule while registered
        return "cuda:0"

    serialization.register_package(1, tag, lambda obj, location: None)
    try:
        store.save(net, "gpu_net")
    finally:
        serialization._package_registry[:] = [
            entry for entry in serialization._package_registry if entry[1] is not tag]
    trained = store.root / "trained" / "gpu_net_v1.0.0"
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA"):
            torch.load(trained / "state_dict.pt", weights_only=True)
    whole = store.load("gpu_net")
    assert next(whole.parameters()).device.type == "cpu"
    assert torch.equal(whole(X), net(X))
    weights = store.load("gpu_net", weights_only=True, into=PlainNet())
    assert torch.equal(weights(X), net(X))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_real_gpu_model_records_device_and_loads_on_cpu(store):
    net = PlainNet()
    X = _fit_small_net(net)
    rec = store.save(net.cuda(), "cuda_net")
    assert rec["format_info"]["device"].startswith("cuda")
    loaded = store.load("cuda_net")
    assert next(loaded.parameters()).device.type == "cpu"
    assert np.allclose(loaded(X).detach().numpy(), net.cpu()(X).detach().numpy())
