"""Progress of long work: the core reports it through a callback, the faces draw it with tqdm."""

from __future__ import annotations

import fcntl
import io
import os
import pty
import struct
import subprocess
import sys
import termios

import numpy as np
import pytest
from nbm_helpers import kernel_output
from sklearn.ensemble import RandomForestClassifier

from nbmodels import ModelStore
from nbmodels.evaluation import evaluate
from nbmodels.progress import TqdmProgress


@pytest.fixture(scope="module")
def forest():
    rng = np.random.default_rng(0)
    X = rng.random((600, 6))
    y = (X[:, 0] + X[:, 1] > 1).astype(int)
    return RandomForestClassifier(n_estimators=20, random_state=0).fit(X, y), X, y


def _recorder():
    seen: list[tuple[str, int, int | None]] = []
    return seen, lambda stage, done, total: seen.append((stage, done, total))


def _stages(seen):
    out: list[str] = []
    for stage, _, _ in seen:
        if not out or out[-1] != stage:
            out.append(stage)
    return out


def _check_save_reports(store, forest):
    model, X, y = forest
    seen, progress = _recorder()
    rec = store.save(model, "rf", X=X, y=y, progress=progress, check_load=True)
    assert _stages(seen) == ["capture", "write", "check_load"]
    writes = [done for stage, done, total in seen if stage == "write"]
    assert all(total is None for stage, _, total in seen if stage == "write")
    assert writes == sorted(writes) and writes[0] > 0
    assert writes[-1] == rec["size_bytes"], "every byte written was reported, once"
    assert seen[-1] == ("check_load", 1, 1)
    assert store.load("rf@" + rec.version).predict(X[:5]).tolist() == model.predict(X[:5]).tolist()


def test_save_reports_capture_bytes_written_and_the_load_check(tmp_path, forest):
    _check_save_reports(ModelStore(tmp_path / "models"), forest)


def test_save_to_s3_reports_the_same_stages(s3_store, forest):
    _check_save_reports(s3_store, forest)


def test_a_save_without_progress_writes_the_same_bytes(tmp_path, forest):
    model = forest[0]
    a = ModelStore(tmp_path / "a").save(model, "rf")
    b = ModelStore(tmp_path / "b").save(model, "rf", progress=lambda *_: None)
    assert [f["sha256"] for f in a["files"]] == [f["sha256"] for f in b["files"]]


def test_evaluate_reports_prediction_and_plots(forest):
    model, X, y = forest
    seen, progress = _recorder()
    evaluate(model, X, y, save=False, progress=progress)
    stages = _stages(seen)
    assert stages[0] == "predict" and "plots" in stages
    assert ("predict", len(y), len(y)) in seen


def test_tqdm_bar_on_a_terminal_shows_stages_sizes_and_the_last_report(tmp_path, forest):
    model, X, y = forest
    out = io.StringIO()
    with TqdmProgress("terminal", file=out, leave=True) as bar:
        rec = ModelStore(tmp_path / "m").save(model, "rf", progress=bar)
    text = out.getvalue()
    assert "capture" in text and "write" in text
    assert "kB" in text or "KB" in text or "MB" in text  # a byte stage shows sizes
    assert bar.text == f"write {rec['size_bytes']}"
    with TqdmProgress("terminal", file=io.StringIO()) as bar:
        evaluate(model, X, y, save=False, progress=bar)
    assert bar.text.startswith("plots ")


def test_a_delayed_bar_shows_nothing_for_quick_work(forest):
    model, X, y = forest
    out = io.StringIO()
    with TqdmProgress("terminal", file=out, delay=60) as bar:
        evaluate(model, X, y, save=False, progress=bar)
    assert out.getvalue() == ""
    assert bar.text.startswith("plots ")


def test_bad_kind_is_refused():
    with pytest.raises(ValueError, match="auto, notebook or terminal"):
        TqdmProgress("fancy")


# -- the faces -------------------------------------------------------------------------------

@pytest.fixture
def kernel(tmp_path):
    from jupyter_client.manager import start_new_kernel

    km, client = start_new_kernel(kernel_name="python3", cwd=str(tmp_path))
    try:
        kernel_output(client, f"%load_ext nbmodels\n"
                              f"%config ModelMagics.store_dir = {str(tmp_path / 'models')!r}\n"
                              f"from sklearn.datasets import load_breast_cancer\n"
                              f"from sklearn.linear_model import LogisticRegression\n"
                              f"X, y = load_breast_cancer(return_X_y=True, as_frame=True)\n"
                              f"clf = LogisticRegression(max_iter=3000).fit(X, y)\n")
        yield client
    finally:
        client.stop_channels()
        km.shutdown_kernel(now=True)


def _widget_outputs(client, code: str) -> tuple[list[str], str]:
    """Run ``code``; the tqdm widgets it displayed (their text) and the rest as text."""
    msg_id = client.execute(code)
    widgets, texts = [], []
    while True:
        msg = client.get_iopub_msg(timeout=120)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind, content = msg["msg_type"], msg["content"]
        if kind in ("execute_result", "display_data"):
            data = content["data"]
            if "application/vnd.jupyter.widget-view+json" in data:
                widgets.append(data.get("text/plain", ""))
            else:
                texts.append(data.get("text/plain", ""))
        elif kind == "stream":
            texts.append(content["text"])
        elif kind == "error":
            texts.append(f"{content['ename']}: {content['evalue']}")
        elif kind == "status" and content["execution_state"] == "idle":
            return widgets, "\n".join(texts)


def test_magics_draw_notebook_bars_for_long_work_only(kernel):
    # Quick work under the default delay (1 s) shows no bar: tutorials stay clean.
    widgets, text = _widget_outputs(kernel, "%save_model clf --name quick")
    assert widgets == [] and "Saved quick@1.0.0" in text
    # With no delay, every stage of a save and an evaluation is a notebook (widget) bar.
    kernel_output(kernel, "%config ModelMagics.progress_delay = 0")
    widgets, text = _widget_outputs(kernel, "%save_model clf --name shown --data X "
                                            "--target y")
    assert "Saved shown@1.0.0" in text
    assert any(w.startswith("capture") for w in widgets)
    assert any(w.startswith("write") for w in widgets), widgets
    widgets, text = _widget_outputs(kernel, "%evaluate clf X y --no-save")
    assert any(w.startswith("predict") for w in widgets), widgets
    assert "accuracy" in text
    # A negative delay turns bars off; an error is still one line.
    kernel_output(kernel, "%config ModelMagics.progress_delay = -1")
    widgets, text = _widget_outputs(kernel, "%evaluate clf X y --no-save")
    assert widgets == [] and "accuracy" in text
    widgets, text = _widget_outputs(kernel, "%evaluate clf X y.iloc[:5] --no-save")
    assert widgets == [] and text.startswith("UsageError")


SLOW_MODULE = """
import time
from sklearn.linear_model import LogisticRegression


class SlowLR(LogisticRegression):
    def predict_proba(self, X):
        time.sleep(1.5)  # longer than the CLI bar's delay
        return super().predict_proba(X)
"""


@pytest.fixture
def evaluation_data(tmp_path, forest, monkeypatch):
    import importlib

    import pandas as pd

    (tmp_path / "slowmod.py").write_text(SLOW_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    slow = importlib.import_module("slowmod").SlowLR().fit(*forest[1:])
    _, X, y = forest
    store = ModelStore(tmp_path / "models")
    store.save(slow, "rf")
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
    frame["label"] = y
    path = tmp_path / "test.csv"
    frame.to_csv(path, index=False)
    yield store, path
    sys.modules.pop("slowmod", None)


def _cli(store, path, *, stderr):
    env = {**os.environ, "COLUMNS": "100",
           "PYTHONPATH": os.pathsep.join([str(path.parent), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, "-m", "nbmodels.cli", "--store", str(store.root),
                             "evaluate", "rf", "--data", str(path), "--target", "label",
                             "--no-save"], stdout=subprocess.PIPE, stderr=stderr,
                            text=True, env=env)


def test_cli_evaluate_keeps_pipes_and_logs_free_of_bars(evaluation_data):
    store, path = evaluation_data
    out, err = _cli(store, path, stderr=subprocess.PIPE).communicate(timeout=300)
    assert "accuracy" in out, err
    assert "predict" not in err and "\r" not in err


def test_cli_evaluate_draws_a_bar_on_a_terminal(evaluation_data):
    import threading

    store, path = evaluation_data
    primary, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    chunks: list[bytes] = []

    def drain() -> None:  # read while it runs: a full pty would block the child
        while True:
            try:
                chunk = os.read(primary, 65536)
            except OSError:
                return
            if not chunk:
                return
            chunks.append(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        child = _cli(store, path, stderr=secondary)
        out, _ = child.communicate(timeout=300)
    finally:
        os.close(secondary)
    reader.join(10)
    os.close(primary)
    assert child.returncode == 0 and "accuracy" in out
    shown = b"".join(chunks).decode("utf-8", "replace")
    assert "predict" in shown and "600/600" in shown, shown
