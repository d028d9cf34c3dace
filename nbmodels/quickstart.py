"""``nbmodels quickstart``: train, save, load and list a model, narrating each step."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["run_quickstart"]


def run_quickstart(store: Any, *, name: str = "quickstart_rf",
                   echo: Callable[[str], None] | None = print) -> dict[str, Any]:
    """Train a small classifier, save it twice, load it back, evaluate it and list the store.

    Returns what happened as JSON data (used by ``--json`` and by the tests).
    """
    import numpy as np
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.metrics import accuracy_score
    from sklearn.model_selection import train_test_split

    say = echo or (lambda _text: None)
    say(f"Store: {store.root}")
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    y = y.rename("malignant")
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0,
                                                        stratify=y)
    model = RandomForestClassifier(n_estimators=50, random_state=0).fit(X_train, y_train)
    accuracy = float(accuracy_score(y_test, model.predict(X_test)))
    say(f"1. Trained a RandomForestClassifier on breast_cancer ({len(X_train)} rows, "
        f"{X.shape[1]} features): test accuracy {accuracy:.3f}")

    first = store.save(model, name, description="Quickstart random forest", tags=["quickstart"],
                       X=X_train, y=y_train, training_dataset="sklearn:breast_cancer",
                       metrics={"accuracy": accuracy})
    folder = store.version_path("trained", name, first.version)
    done = "Saved" if first.unchanged is None else "Already saved (unchanged):"
    say(f"2. {done} {first.ref} ({first.format}): {folder}")

    deeper = RandomForestClassifier(n_estimators=100, random_state=0).fit(X_train, y_train)
    accuracy2 = float(accuracy_score(y_test, deeper.predict(X_test)))
    second = store.save(deeper, name, description="More trees", tags=["quickstart"],
                        X=X_train, y=y_train, training_dataset="sklearn:breast_cancer",
                        metrics={"accuracy": accuracy2})
    store.set_alias(name, "production", second.version)
    done = "Saved" if second.unchanged is None else "Already saved (unchanged):"
    say(f"3. {done} {second.ref} and pointed alias 'production' at it")

    loaded = store.load(name, "production")
    same = bool(np.array_equal(loaded.predict(X_test), deeper.predict(X_test)))
    say(f"4. Loaded {name}@production (sha256 verified before unpickling): "
        f"predictions identical: {same}")

    from .evaluation import evaluate

    result = evaluate(loaded, X_test, y_test, store=store)
    say(f"5. Evaluated it on the test split: accuracy {result.metrics['accuracy']:.3f}, "
        f"ROC AUC {result.metrics['auc_roc']:.3f}; metrics, plots and report.html in "
        f"{result.path}")

    table = store.list()
    say("6. The store now holds:")
    say(repr(table))
    report = store.verify()
    say(f"7. {report!r}")
    say("Next: `nbmodels show " + f"{name}@production`, `nbmodels verify`, or in a notebook "
        "`import nbmodels; nbmodels.load_model(" + repr(name) + ")`.")
    return {"store": str(store.root), "saved": [first.ref, second.ref],
            "loaded": f"{name}@{second.version}", "predictions_identical": same,
            "evaluation": {"path": str(result.path), "metrics": result.headline},
            "models": table.to_dict(), "verify_ok": report.ok}
