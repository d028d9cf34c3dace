"""Files written by plain ``joblib.dump`` and adopted: loaded in one pass over their bytes
(arrays read from the file straight into place), and still refused before anything is
unpickled when a byte differs from what was adopted (issue 11, class 7)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import PurePosixPath

import joblib
import numpy as np
import pytest
from nbm_helpers import UnpickleSpy, loads_beside_rewrites

from nbmodels import IntegrityError, ModelStore
from nbmodels.formats.base import ArtifactSource
from nbmodels.formats.joblib_stream import UNREAD, load_joblib_stream

PAYLOAD = bytes(range(256)) * 64


def _arrays() -> dict:
    rng = np.random.default_rng(0)
    return {
        "w": rng.standard_normal(300_000),
        "fortran": np.asfortranarray(rng.integers(0, 9, (30, 7)).astype("i4")),
        "big_endian": np.arange(12, dtype=">f8").reshape(3, 4),
        "objects": np.array(["a", 1, None], dtype=object),
        "records": np.zeros(4, dtype=[("a", ">i4"), ("b", "f8"), ("c", "U3")]),
        "records_big_endian": np.ones(3, dtype=[("a", ">i4"), ("b", ">f8")]),
        "record_objects": np.array([(1, "x")], dtype=[("a", "i4"), ("b", "O")]),
        "times": np.array(["2020-01-01", "2021-06-30"], dtype="M8[D]"),
        "text": np.array(["ab", "c"]),
        "empty": np.empty((0, 3)),
        "flags": np.array([True, False]),
        "complex": np.arange(4) * 1j,
        "scalar": np.float32(2.5),
        "plain": {"nested": [1, 2.0, "three"]},
    }


def _adopt(store: ModelStore, name: str, model, **dump) -> os.PathLike:
    folder = store.root / "trained" / f"{name}_v1.0.0"
    folder.mkdir(parents=True)
    path = folder / "model.joblib"
    joblib.dump(model, path, **dump)
    store.rebuild_index()
    return path


def _source(store: ModelStore, name: str) -> ArtifactSource:
    return ArtifactSource(store.fs, PurePosixPath(f"trained/{name}_v1.0.0"),
                          store.record(name).files)


def _same(a, b) -> None:
    assert type(a) is type(b)
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            _same(a[key], b[key])
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape
        assert a.flags.c_contiguous == b.flags.c_contiguous
        assert a.flags.f_contiguous == b.flags.f_contiguous
        assert a.flags.writeable and b.flags.writeable
        assert a.tobytes() == b.tobytes() or (a == b).all()
    else:
        assert a == b


@pytest.mark.parametrize("compress", [0, 3, ("gzip", 1)])
def test_adopted_joblib_dump_loads_as_joblib_load_does(store, compress):
    path = _adopt(store, "m", _arrays(), compress=compress)
    _same(store.load("m", trust=True), joblib.load(path))


def test_adopted_forest_with_text_labels_predicts_the_same(store, iris):
    from sklearn.ensemble import RandomForestClassifier

    X, y = iris
    labels = np.array(["setosa", "versicolor", "virginica"], dtype=object)[y]
    forest = RandomForestClassifier(n_estimators=5, max_depth=3, random_state=0).fit(X, labels)
    path = _adopt(store, "rf", forest)
    loaded = store.load("rf", trust=True)
    assert (loaded.predict(X) == joblib.load(path).predict(X)).all()
    assert (loaded.predict_proba(X) == forest.predict_proba(X)).all()


@pytest.mark.parametrize(("compress", "one_pass"), [
    (0, True), (3, True), (("gzip", 1), True), (("zlib", 9), True),
    (("lzma", 1), False), (("bz2", 1), False)])
def test_which_dumps_take_the_one_pass_path(store, compress, one_pass):
    path = _adopt(store, "m", _arrays(), compress=compress)
    model = load_joblib_stream(_source(store, "m"), "model.joblib")
    assert (model is not UNREAD) == one_pass
    if one_pass:
        _same(model, joblib.load(path))


def test_a_large_in_stream_payload_is_loaded_the_general_way(store):
    # Not a joblib array: a 40 MB bytes object inside the pickle stream itself.
    model = {"blob": os.urandom(40 << 20), "w": np.arange(10.0)}
    path = _adopt(store, "blob", model)
    assert load_joblib_stream(_source(store, "blob"), "model.joblib") is UNREAD
    _same(store.load("blob", trust=True), joblib.load(path))


def test_a_pickle_dump_named_model_joblib_loads_in_one_pass(store):
    import pickle

    folder = store.root / "trained" / "pk_v1.0.0"
    folder.mkdir(parents=True)
    model = {"w": np.arange(1000.0), "s": "text"}
    (folder / "model.joblib").write_bytes(pickle.dumps(model, protocol=4))
    store.rebuild_index()
    assert load_joblib_stream(_source(store, "pk"), "model.joblib") is not UNREAD
    _same(store.load("pk", trust=True), model)


def _flip(path, at: int) -> bytes:
    data = bytearray(path.read_bytes())
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))
    return bytes(data)


@pytest.mark.parametrize("where", ["payload", "array", "last_byte"])
def test_a_byte_changed_after_adoption_is_refused_before_unpickling(store, tmp_path, where):
    marker = tmp_path / "unpickled.marker"
    model = {"spy": UnpickleSpy(marker, PAYLOAD), "w": np.arange(200_000.0)}
    path = _adopt(store, "spy", model)
    assert store.load("spy", trust=True)["spy"] == model["spy"] and marker.exists()
    marker.unlink()
    data = path.read_bytes()
    at = {"payload": data.index(PAYLOAD) + 1000,
          "array": data.index(np.arange(200_000.0)[1000:1010].tobytes()),
          "last_byte": len(data) - 1}[where]
    if where == "last_byte":
        # The STOP opcode: the scan reads to the end of the stream before it can fail.
        _flip(path, at)
        with pytest.raises(IntegrityError):
            store.load("spy", trust=True)
        assert not marker.exists()
        return
    _flip(path, at)
    with pytest.raises(IntegrityError, match="does not match its record"):
        store.load("spy", trust=True)
    assert not marker.exists(), "the changed file was unpickled before the check"
    # Control: the changed bytes still load with joblib, which runs the spy: only the
    # check stood between the file and running it.
    joblib.load(path)
    assert marker.exists()


@pytest.mark.parametrize("compress", [3, ("lzma", 1)])
def test_a_byte_changed_in_a_compressed_dump_is_refused(store, tmp_path, compress):
    marker = tmp_path / "unpickled.marker"
    path = _adopt(store, "z", {"spy": UnpickleSpy(marker, PAYLOAD), "w": np.arange(5e4)},
                  compress=compress)
    _flip(path, path.stat().st_size // 2)
    with pytest.raises(IntegrityError, match="does not match its record"):
        store.load("z", trust=True)
    assert not marker.exists()


@pytest.mark.parametrize("change", ["rewrite", "truncate", "grow"])
def test_a_file_changed_while_it_is_streamed_is_refused(store, change):
    path = _adopt(store, "m", {"w": np.arange(500_000.0)})
    data = path.read_bytes()
    with _source(store, "m").open_stream("model.joblib") as stream:
        head = stream.read(1000)
        assert head == data[:1000]
        if change == "rewrite":  # same size, in place, past what was read
            with open(path, "r+b") as f:
                f.seek(len(data) - 5000)
                f.write(b"\0" * 4000)
            match = "does not match its record"
        elif change == "truncate":
            os.truncate(path, len(data) // 2)
            match = "became shorter"
        else:
            with open(path, "ab") as f:
                f.write(b"more")
            match = "grew past"
        with pytest.raises(IntegrityError, match=match):
            stream.verify()


def test_a_same_size_rewrite_during_loads_of_an_adopted_dump_never_crashes(store, tmp_path):
    """``joblib.dump`` of a same-size model over an adopted file while another process
    loads it in a loop: every load is the adopted model or an IntegrityError."""
    path = _adopt(store, "big", {"token": "adopted", "w": np.zeros(2_000_000)})
    store.trust("big", "1.0.0")
    code = """
        import sys, time
        from nbmodels import ModelStore
        from nbmodels.errors import IntegrityError
        store = ModelStore(sys.argv[1])
        ok = refused = 0
        deadline = time.monotonic() + 6
        while time.monotonic() < deadline or ok + refused < 5:
            try:
                obj = store.load("big")
                assert obj["token"] == "adopted" and not obj["w"].any(), obj["token"]
                ok += 1
            except IntegrityError:
                refused += 1
        print(ok, refused, flush=True)
    """
    loader = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), str(store.root)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    writer = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
        import sys, joblib, numpy as np
        while True:  # the same size as the adopted file, other bytes
            joblib.dump({"token": "rewrote", "w": np.ones(2_000_000)}, sys.argv[1])
    """), str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    loads_beside_rewrites(loader, writer)


def _estimators():
    from sklearn.cluster import KMeans
    from sklearn.ensemble import (
        GradientBoostingClassifier,
        HistGradientBoostingClassifier,
        IsolationForest,
    )
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    rng = np.random.default_rng(0)
    X = rng.standard_normal((120, 4))
    y = np.array(["no", "yes"], dtype=object)[(X[:, 0] > 0).astype(int)]
    text = [f"word{i % 7} other{i % 3} text" for i in range(120)]
    cats = np.array([["red", "s"], ["blue", "m"], ["green", "l"]] * 40, dtype=object)
    return {
        "pipeline": (make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y), X),
        "boosting": (GradientBoostingClassifier(n_estimators=5).fit(X, y), X),
        "hist_boosting": (HistGradientBoostingClassifier(max_iter=5).fit(X, y), X),
        "kmeans": (KMeans(n_clusters=3, n_init=1, random_state=0).fit(X), X),
        "isolation": (IsolationForest(n_estimators=5, random_state=0).fit(X), X),
        "tfidf": (TfidfVectorizer().fit(text), text),
        "onehot": (OneHotEncoder().fit(cats), cats),
    }


def test_adopted_estimators_of_many_kinds_load_in_one_pass_and_agree(store):
    for name, (estimator, X) in _estimators().items():
        path = _adopt(store, name, estimator)
        one_pass = load_joblib_stream(_source(store, name), "model.joblib")
        assert one_pass is not UNREAD, name
        reference = joblib.load(path)
        for loaded in (one_pass, store.load(name, trust=True)):
            method = "transform" if name in ("tfidf", "onehot") else "predict"
            got, want = getattr(loaded, method)(X), getattr(reference, method)(X)
            if hasattr(got, "toarray"):
                got, want = got.toarray(), want.toarray()
            assert np.array_equal(got, want), name
