"""Names and versions that one folder would hold on a case-insensitive disk.

macOS and Windows keep ``Churn_v1.0.0`` and ``churn_v1.0.0`` (or ``1.0.0-rc.1`` and
``1.0.0-RC.1``) in one folder, so a delete of one would remove the other. The store
refuses a new name or version that differs from an existing one only by case, and
``verify`` reports such twins made by hand.
"""

from __future__ import annotations

import shutil

import pytest

from nbmodels import InvalidNameError, InvalidVersionError, ModelStore


@pytest.mark.parametrize("twin", ["Churn", "CHURN", "cHuRn"])
def test_a_name_that_differs_only_by_case_is_refused(store, twin):
    store.save({"v": 1}, "churn")
    with pytest.raises(InvalidNameError, match=rf"{twin!r} differs only by case from the "
                                               r"existing model 'churn'") as caught:
        store.save({"v": 2}, twin)
    assert "\n" not in str(caught.value)
    written = [p.relative_to(store.root).as_posix() for p in store.root.rglob(f"{twin}*")]
    assert written == [f"registry/locks/{twin}.lock"]  # (one lock file with churn's there)
    assert store.save({"v": 3}, "churn").version == "1.1.0"  # the name itself still works
    assert store.save({"v": 4}, "churn2").version == "1.0.0"  # a longer name is another


def test_a_twin_of_a_hand_made_folder_is_refused_too(store):
    store.save({"v": 1}, "other")
    hand = store.root / "trained" / "Fraud_v1.0.0"
    shutil.copytree(store.root / "trained" / "other_v1.0.0", hand)
    with pytest.raises(InvalidNameError, match="existing model 'Fraud'"):
        store.save({"v": 1}, "fraud")


@pytest.mark.parametrize(("existing", "new"), [("1.0.0-rc.1", "1.0.0-RC.1"),
                                               ("2.0.0-Beta", "2.0.0-beta"),
                                               ("1.0.0-a.b", "1.0.0-A.B")])
def test_a_version_that_differs_only_by_case_is_refused(store, existing, new):
    store.save({"v": 1}, "m", version=existing)
    with pytest.raises(InvalidVersionError, match=rf"{new!r} differs only by case from the "
                                                  rf"existing version m@{existing}"):
        store.save({"v": 2}, "m", version=new)
    assert store.versions("m") == [existing]
    assert store.save({"v": 3}, "m", version=existing + ".2").version == existing + ".2"
    store.save({"v": 4}, "m2", version=new)  # another model may use it


def test_verify_reports_case_twins_made_by_hand(store):
    store.save({"v": 1}, "churn")
    for top in ("trained", "metadata"):
        shutil.copytree(store.root / top / "churn_v1.0.0", store.root / top / "Churn_v1.0.0")
    data = (store.root / "metadata/Churn_v1.0.0/metadata.json").read_text()
    (store.root / "metadata/Churn_v1.0.0/metadata.json").write_text(
        data.replace('"model_name": "churn"', '"model_name": "Churn"'))
    twins = ModelStore(store.root).verify().by_kind("case_conflict")
    assert [p.detail.split(":")[0] for p in twins] == ["models Churn, churn differ only by case"]
