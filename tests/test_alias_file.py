"""Aliases are the one registry file not derived from anything: never silently lost."""

from __future__ import annotations

import json
import os

import pytest

from nbmodels import IntegrityError, ModelStore

DAMAGES = {
    "truncated": lambda p: p.write_text(p.read_text()[:-3]),
    "not an object": lambda p: p.write_text('["production"]'),
    "bad target": lambda p: p.write_text(json.dumps({"production": "../../etc"})),
    "binary": lambda p: p.write_bytes(b"\xff\xfe\x00garbage"),
    "empty": lambda p: p.write_text(""),
    "a folder": lambda p: (p.unlink(), p.mkdir()),
    "a fifo": lambda p: (p.unlink(), os.mkfifo(p)),
}


@pytest.fixture
def aliased(tmp_path):
    store = ModelStore(tmp_path / "models")
    for i in range(3):
        store.save({"v": i}, "m")
    store.set_alias("m", "production", "1.0.0")
    store.set_alias("m", "staging", "1.1.0")
    path = store.root / "registry/aliases/m.json"
    return store, path


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_a_damaged_aliases_file_is_reported_and_never_overwritten(aliased, damage):
    store, path = aliased
    good = path.read_text()
    DAMAGES[damage](path)
    before = path.read_bytes() if path.is_file() else None

    report = store.verify()
    [problem] = [p for p in report.problems if p.kind == "damaged_aliases"]
    assert problem.path == "registry/aliases/m.json" and "Repair it by hand" in problem.detail
    assert not report.ok
    for use in (lambda: store.aliases("m"), lambda: store.load("m@production"),
                lambda: store.set_alias("m", "canary", "1.2.0"),
                lambda: store.remove_alias("m", "staging"),
                lambda: store.delete("m", "1.2.0", force=True)):
        with pytest.raises(IntegrityError, match=r"aliases/m\.json"):
            use()
    assert (path.read_bytes() if path.is_file() else None) == before  # untouched
    assert store.versions("m") == ["1.0.0", "1.1.0", "1.2.0"]  # nothing deleted either
    # Exact versions and latest do not depend on the aliases file.
    assert store.load("m@1.1.0") == {"v": 1} and store.latest("m") == "1.2.0"
    store.rebuild_index()  # maintenance works around it and leaves it alone
    assert (path.read_bytes() if path.is_file() else None) == before

    # The documented repair: put a valid {alias: version} object back by hand.
    if path.is_dir():
        path.rmdir()
    else:
        path.unlink()
    path.write_text(good)
    store.set_alias("m", "canary", "1.2.0")
    assert store.aliases("m") == {"canary": "1.2.0", "production": "1.0.0",
                                  "staging": "1.1.0"}
    assert store.verify().ok
