"""Aliases travel with the versions that ``copy_to`` / ``nbmodels push`` / ``pull`` copy
(issue 15), between a local store and an S3 one (moto's server on loopback): set where
the receiving store has no such alias, never moved from another version silently, moved
when asked (``move_aliases=True``, ``--move-aliases``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from nbmodels import ModelStore


def two_versions(store: ModelStore) -> None:
    """``churn_rf`` 1.0.0 and 1.1.0, with ``production`` and ``canary`` at 1.1.0 and
    ``staging`` at 1.0.0."""
    store.save({"w": 1}, "churn_rf")
    store.save({"w": 2}, "churn_rf")
    store.set_alias("churn_rf", "production", "1.1.0")
    store.set_alias("churn_rf", "canary", "1.1.0")
    store.set_alias("churn_rf", "staging", "1.0.0")


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nbmodels.cli", *args], env=env,
                          capture_output=True, text=True, timeout=120)


def test_a_ref_by_alias_copies_that_version_and_carries_its_aliases_to_s3(s3_store, tmp_path):
    local = ModelStore(tmp_path / "local")
    two_versions(local)
    report = local.copy_to(s3_store, "churn_rf@production")
    assert report.imported == ["churn_rf@1.1.0"]
    # Every alias of the copied version goes along; staging's version was not copied.
    assert report.aliases_set == ["churn_rf@canary -> 1.1.0", "churn_rf@production -> 1.1.0"]
    assert report.aliases_kept == report.aliases_moved == []
    team = ModelStore(s3_store.root)  # a fresh reader of the bucket
    assert team.aliases("churn_rf") == {"canary": "1.1.0", "production": "1.1.0"}
    assert team.load("churn_rf@production") == {"w": 2}
    assert "alias churn_rf@production -> 1.1.0 set" in repr(report)
    # Again: the version is identical and the aliases already there, nothing to say.
    again = local.copy_to(team, "churn_rf@production")
    assert again.identical == ["churn_rf@1.1.0"]
    assert again.aliases_set == again.aliases_kept == again.aliases_moved == []
    assert team.verify().ok, team.verify()


def test_pull_from_s3_keeps_a_conflicting_alias_unless_asked_to_move_it(s3_store, tmp_path):
    two_versions(s3_store)
    mine = ModelStore(tmp_path / "mine")
    first = s3_store.copy_to(mine, "churn_rf@1.0.0")
    assert first.aliases_set == ["churn_rf@staging -> 1.0.0"]
    mine.set_alias("churn_rf", "production", "1.0.0")  # this store's own decision

    report = s3_store.copy_to(mine, "churn_rf")
    assert report.imported == ["churn_rf@1.1.0"] and report.identical == ["churn_rf@1.0.0"]
    assert report.aliases_set == ["churn_rf@canary -> 1.1.0"]
    assert report.aliases_kept == ["churn_rf@production -> 1.0.0 (source: 1.1.0)"]
    assert report.aliases_moved == []
    assert mine.aliases("churn_rf") == {"canary": "1.1.0", "production": "1.0.0",
                                        "staging": "1.0.0"}
    shown = repr(report)
    assert "alias churn_rf@production -> 1.0.0 (source: 1.1.0) refused" in shown
    assert "pass move_aliases=True to move it" in shown
    assert report.to_dict()["aliases_kept"] == report.aliases_kept

    moved = s3_store.copy_to(mine, "churn_rf@production", move_aliases=True)
    assert moved.identical == ["churn_rf@1.1.0"] and moved.imported == []
    assert moved.aliases_moved == ["churn_rf@production -> 1.1.0 (was 1.0.0)"]
    assert moved.aliases_kept == [] and moved.aliases_set == []
    assert ModelStore(mine.root).aliases("churn_rf") == {
        "canary": "1.1.0", "production": "1.1.0", "staging": "1.0.0"}
    assert mine.load("churn_rf@production") == {"w": 2}
    # The source is only read.
    assert s3_store.aliases("churn_rf") == {"canary": "1.1.0", "production": "1.1.0",
                                            "staging": "1.0.0"}


def test_copy_between_local_stores_carries_aliases_too(tmp_path):
    src, dst = ModelStore(tmp_path / "a"), ModelStore(tmp_path / "b")
    two_versions(src)
    report = src.copy_to(dst, "churn_rf@staging")
    assert report.imported == ["churn_rf@1.0.0"]
    assert report.aliases_set == ["churn_rf@staging -> 1.0.0"]
    dst.set_alias("churn_rf", "canary", "1.0.0")
    report = src.copy_to(dst, "churn_rf@1.1.0")
    assert report.aliases_set == ["churn_rf@production -> 1.1.0"]
    assert report.aliases_kept == ["churn_rf@canary -> 1.0.0 (source: 1.1.0)"]
    assert dst.aliases("churn_rf") == {"canary": "1.0.0", "production": "1.1.0",
                                       "staging": "1.0.0"}


def test_push_cli_reports_a_refused_alias_and_moves_it_with_move_aliases(
        s3_endpoint, s3_url, tmp_path):
    local = ModelStore(tmp_path / "local")
    two_versions(local)
    team = ModelStore(s3_url)
    local.copy_to(team, "churn_rf@1.0.0")
    team.set_alias("churn_rf", "production", "1.0.0")
    env = {**os.environ, **s3_endpoint.env()}

    done = run_cli("--store", str(local.root), "push", "churn_rf@production", "--to", s3_url,
                   env=env)
    assert done.returncode == 0, done.stderr
    assert "alias churn_rf@production -> 1.0.0 (source: 1.1.0) refused" in done.stdout
    assert "pass --move-aliases to move it" in done.stdout
    assert "move_aliases=True" not in done.stdout
    assert ModelStore(s3_url).aliases("churn_rf")["production"] == "1.0.0"

    done = run_cli("--store", str(local.root), "push", "churn_rf@production", "--to", s3_url,
                   "--move-aliases", "--json", env=env)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["aliases_moved"] == ["churn_rf@production -> 1.1.0 (was 1.0.0)"]
    assert out["identical"] == ["churn_rf@1.1.0"] and out["aliases_kept"] == []
    assert ModelStore(s3_url).aliases("churn_rf") == {
        "canary": "1.1.0", "production": "1.1.0", "staging": "1.0.0"}

    # pull into an empty store: the aliases of what it pulls come along.
    pulled = tmp_path / "pulled"
    done = run_cli("--store", str(pulled), "pull", "churn_rf@production", "--from", s3_url,
                   "--json", env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["aliases_set"] == [
        "churn_rf@canary -> 1.1.0", "churn_rf@production -> 1.1.0"]
    assert ModelStore(pulled).load("churn_rf@production") == {"w": 2}
