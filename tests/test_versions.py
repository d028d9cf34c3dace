"""Semantic versions: order, next-version rules, and what the store refuses."""

from __future__ import annotations

import pytest

from nbmodels import InvalidVersionError
from nbmodels.storage.versions import is_version, next_version, parse_version, sort_versions


def test_semver_order_not_string_order(store):
    for v in ("1.9.0", "1.10.0", "1.2.0"):
        store.save({"v": v}, "clf", version=v)
    assert sorted(["1.9.0", "1.10.0", "1.2.0"])[-1] == "1.9.0"  # what a string sort says
    assert store.latest("clf") == "1.10.0"
    assert store.versions("clf") == ["1.2.0", "1.9.0", "1.10.0"]
    assert store.load("clf") == {"v": "1.10.0"}
    assert store.list()[0]["latest"] == "1.10.0"


def test_latest_from_a_fresh_store_object_uses_semver(store):
    from nbmodels import ModelStore

    store.save("a", "m", version="1.9.0")
    store.save("b", "m", version="1.10.0")
    assert ModelStore(store.root).latest("m") == "1.10.0"


def test_prereleases_order_below_their_release(store):
    for v in ("2.0.0-rc.1", "1.5.0", "2.0.0-alpha", "2.0.0-rc.10", "2.0.0-rc.2"):
        store.save(v, "m", version=v)
    assert store.versions("m") == ["1.5.0", "2.0.0-alpha", "2.0.0-rc.1", "2.0.0-rc.2",
                                   "2.0.0-rc.10"]
    assert store.latest("m") == "2.0.0-rc.10"
    store.save("final", "m", version="2.0.0")
    assert store.latest("m") == "2.0.0"
    assert store.versions("m")[-1] == "2.0.0"
    assert store.load("m") == "final"


def test_sort_versions_helper():
    assert sort_versions(["1.10.0", "1.9.0", "1.0.0-rc.1", "1.0.0", "0.9.9"]) == \
        ["0.9.9", "1.0.0-rc.1", "1.0.0", "1.9.0", "1.10.0"]


@pytest.mark.parametrize(("latest", "bump", "expected"), [
    (None, "minor", "1.0.0"),
    (None, "major", "1.0.0"),
    (None, "patch", "1.0.0"),
    ("1.0.0", "minor", "1.1.0"),
    ("1.9.0", "minor", "1.10.0"),
    ("1.2.3", "patch", "1.2.4"),
    ("1.2.3", "major", "2.0.0"),
    ("1.2.3", "minor", "1.3.0"),
    ("2.0.0-rc.1", "minor", "2.0.0"),  # a pre-release is followed by its release
    ("2.0.0-rc.1", "major", "2.0.0"),
    ("2.0.0-rc.1", "patch", "2.0.0"),
])
def test_next_version_rules(latest, bump, expected):
    assert next_version(latest, bump) == expected


def test_next_version_rejects_unknown_bump():
    with pytest.raises(InvalidVersionError, match="major, minor, patch"):
        next_version("1.0.0", "huge")


def test_auto_versions_follow_bumps(store):
    assert store.save(1, "m").version == "1.0.0"
    assert store.save(2, "m").version == "1.1.0"
    assert store.save(3, "m", bump="patch").version == "1.1.1"
    assert store.save(4, "m", bump="major").version == "2.0.0"
    store.save(5, "m", version="3.0.0-rc.1")
    assert store.save(6, "m").version == "3.0.0"
    assert store.versions("m") == ["1.0.0", "1.1.0", "1.1.1", "2.0.0", "3.0.0-rc.1", "3.0.0"]
    assert store.record("m", "1.1.1")["version_reason"].startswith("patch bump from 1.1.0")


@pytest.mark.parametrize("bad", ["1", "1.0", "1.0.0.0", "01.0.0", "1.0.0-", "latest!",
                                 "1.0.0+build.5", "one.two.three", "", " 1.0.0", "v1.0.0",
                                 "1.0.0/../x"])
def test_bad_version_strings_rejected_helpfully(store, bad):
    with pytest.raises(InvalidVersionError) as info:
        parse_version(bad)
    assert isinstance(info.value, ValueError)
    assert "MAJOR.MINOR.PATCH" in str(info.value)
    assert not is_version(bad)
    with pytest.raises(InvalidVersionError, match=r"MAJOR\.MINOR\.PATCH"):
        store.save({"x": 1}, "m", version=bad)
    assert not store.root.exists(), "a refused save must not write anything"


def test_leading_v_gets_a_specific_hint():
    with pytest.raises(InvalidVersionError, match="without the leading 'v'"):
        parse_version("v1.2.0")


def test_non_string_version_rejected(store):
    with pytest.raises(InvalidVersionError, match="must be a string"):
        parse_version(1.0)  # type: ignore[arg-type]
    with pytest.raises(InvalidVersionError):
        store.save({"x": 1}, "m", version=2)  # type: ignore[arg-type]
    assert not store.root.exists()


def test_unknown_bump_rejected_before_writing(store):
    with pytest.raises(InvalidVersionError, match="bump must be one of"):
        store.save({"x": 1}, "m", bump="giant")
    assert not store.root.exists()


def test_version_and_bump_together_rejected(store):
    with pytest.raises(InvalidVersionError, match="not both"):
        store.save({"x": 1}, "m", version="1.0.0", bump="minor")
    assert not store.root.exists()


def test_overlong_version_rejected(store):
    with pytest.raises(InvalidVersionError, match="long"):
        store.save({"x": 1}, "m", version="1.0.0-" + "a" * 200)
    assert not store.root.exists()


def test_bulk_version_check_agrees_with_the_one_by_one_check():
    """all_look_like_versions (one regex over the joined list, used on large indexes)
    answers exactly what looks_like_version answers for every entry."""
    import random

    from nbmodels.storage.versions import all_look_like_versions, looks_like_version

    rng = random.Random(7)
    parts = ["0", "1", "01", "10", "rc", "rc.1", "a..b", "x-y", "", "/", "..", "\n", "+b",
             "-", "1.0", "v1"]
    for _ in range(3000):
        texts = []
        for _ in range(rng.randint(0, 4)):
            text = f"{rng.choice(parts[:4])}.{rng.choice(parts[:4])}.{rng.choice(parts[:4])}"
            if rng.random() < 0.4:
                text += "-" + rng.choice(parts)
            if rng.random() < 0.1:
                text = rng.choice(parts) + text
            texts.append(text)
        expected = all(looks_like_version(t) for t in texts)
        assert all_look_like_versions(texts) == expected, texts
    assert not all_look_like_versions(["1.0.0", 3]) and all_look_like_versions([])
