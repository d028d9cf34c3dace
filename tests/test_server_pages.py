"""The registry pages under /nbmodels/, over a real ``jupyter server`` on the loopback.

The store holds real scikit-learn models evaluated with ``nbmodels.evaluate`` (plots,
report, two data sets), a record full of hostile text written by someone else, a model
whose only record is damaged, and a model with one damaged version among good ones.
Pages are parsed with the standard library's HTML parser, so the checks are about the
document the browser would build, not about substrings.
"""

from __future__ import annotations

import http.client
import json
import re
from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from browser_support import JupyterServer, start_jupyter

from nbmodels import ModelStore

HOSTILE = "</td></table><script>alert(\"pwn\")</script><img src=x onerror=alert('y')>\"'&"
HOSTILE_KEY = "<b onmouseover=alert(1)>k</b>"
EXTENSION = "--ServerApp.jpserver_extensions=nbmodels.server=True"


class Page(HTMLParser):
    """What a browser would build from a page: elements with attributes, and the text."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.texts: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.texts.append(data)

    @property
    def text(self) -> str:
        return "".join(self.texts)

    def find(self, tag: str, **attrs: str) -> list[dict[str, str | None]]:
        return [a for t, a in self.elements if t == tag
                and all(a.get(k.rstrip("_")) == v for k, v in attrs.items())]

    def assert_safe(self) -> None:
        """Only our own external script, no event-handler attribute, no javascript: URL."""
        scripts = self.find("script")
        assert [s.get("src") for s in scripts] == ["/nbmodels/static/registry.js"], scripts
        for tag, attrs in self.elements:
            assert not any(k.startswith("on") for k in attrs), (tag, attrs)
            for key in ("href", "src", "action"):
                assert not (attrs.get(key) or "").lower().startswith("javascript"), attrs
            assert not (tag == "img" and attrs.get("src") == "x"), attrs


def _evaluated(store: ModelStore, model: Any, name: str, X: Any, y: Any, **save: Any) -> str:
    from nbmodels import evaluate

    version = store.save(model, name, X=X, y=y, **save).version
    evaluate(model, X, y, name=name, version=version, store=store)
    evaluate(model, X[:60], y[:60], name=name, version=version, store=store, dataset="holdout")
    return version


def _fill_store(root: Any) -> None:
    from sklearn.datasets import load_breast_cancer, make_regression
    from sklearn.linear_model import LinearRegression, LogisticRegression

    store = ModelStore(root)
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    # 1.10.0 > 1.2.0 in semver order, not in string order.
    _evaluated(store, LogisticRegression(C=0.1, max_iter=5000).fit(X, y), "cancer", X, y,
               version="1.2.0", description="baseline", tags=["tabular", "baseline"])
    _evaluated(store, LogisticRegression(C=1.0, max_iter=5000).fit(X, y), "cancer", X, y,
               version="1.10.0", description="stronger", tags=["tabular"])
    store.set_alias("cancer", "production", "1.2.0")

    Xr, yr = make_regression(n_samples=60, n_features=3, random_state=0)
    store.save(LinearRegression().fit(Xr, yr), "regressor", description="a line",
               tags=["regression"], metrics={"r2": 0.5})
    store.save(LinearRegression(fit_intercept=False).fit(Xr, yr), "regressor",
               description="a line through the origin", tags=["regression"], metrics={"r2": 0.9})
    # A version whose record someone damaged, beside good ones.
    store.save(LinearRegression().fit(Xr[:30], yr[:30]), "regressor", version="2.0.0")
    store.version_path("metadata", "regressor", "2.0.0").joinpath("metadata.json").write_text(
        "{damaged")
    # And one below the good ones (the store keeps the highest damaged one apart).
    store.save(LinearRegression().fit(Xr[:20], yr[:20]), "regressor", version="0.9.0")
    store.version_path("metadata", "regressor", "0.9.0").joinpath("metadata.json").write_text(
        "[]")

    # Someone else's record, full of markup in every field the pages show.
    hostile = store.save(LinearRegression().fit(Xr, yr), "hostile").version
    meta = store.version_path("metadata", "hostile", hostile) / "metadata.json"
    record = json.loads(meta.read_text())
    record.update({
        "description": HOSTILE, "author": HOSTILE, "tags": [HOSTILE, "fine"],
        "hyperparameters": {HOSTILE_KEY: HOSTILE, "alpha": [HOSTILE]},
        "metrics": {"r2": 0.25, HOSTILE_KEY: 0.5, "rmse": HOSTILE},
        "evaluations": {HOSTILE: {"metrics": {"r2": 0.3, HOSTILE_KEY: 1.0}}},
        "features": [HOSTILE, "x1"], "target": HOSTILE,
        "lineage": {"data": {"source": HOSTILE}, HOSTILE_KEY: HOSTILE},
        "environment": {"packages": {HOSTILE_KEY: HOSTILE}},
        "framework": HOSTILE, "created_at": HOSTILE, "version_reason": HOSTILE,
    })
    record["files"][0]["name"] = HOSTILE + "model.joblib"
    meta.write_text(json.dumps(record))
    store.set_alias("hostile", "placeholder", hostile)
    aliases = root / "registry" / "aliases" / "hostile.json"
    assert json.loads(aliases.read_text()) == {"placeholder": hostile}
    aliases.write_text(json.dumps({HOSTILE: hostile}))

    # A record written by hand with every field of an unexpected type.
    store.save(LinearRegression().fit(Xr, yr), "weird")
    meta = store.version_path("metadata", "weird", "1.0.0") / "metadata.json"
    record = json.loads(meta.read_text())
    record.update({"tags": 7, "metrics": [1, 2], "hyperparameters": "C=1", "evaluations": [1],
                   "features": {"a": 1}, "size_bytes": "big", "created_at": 12345,
                   "lineage": "x", "environment": None, "author": ["a", {"b": None}]})
    meta.write_text(json.dumps(record))
    store.rebuild_index()

    # A model none of whose records can be read.
    store.save(LinearRegression().fit(Xr, yr), "broken")
    store.version_path("metadata", "broken", "1.0.0").joinpath("metadata.json").write_text(
        "{not json")


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Any:
    base = tmp_path_factory.mktemp("nbmodels_pages")
    store_root = base / "store"
    _fill_store(store_root)
    with start_jupyter(base, env={"NBMODELS_HOME": str(store_root)},
                       extra_args=[EXTENSION], ready_path="/nbmodels/api/store") as srv:
        srv.store_root = store_root  # type: ignore[attr-defined]
        yield srv


def get_page(server: JupyterServer, path: str, status: int = 200) -> Page:
    got, headers, body = server.request("GET", path)
    assert got == status, body[:2000]
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert "script-src 'self'" in headers["content-security-policy"]
    page = Page(body.decode())
    page.assert_safe()
    return page


PAGES = ["/nbmodels/", "/nbmodels/?q=tabular&sort=accuracy&order=desc",
         "/nbmodels/models/cancer", "/nbmodels/models/cancer/production",
         "/nbmodels/models/cancer/1.10.0",
         "/nbmodels/compare?ref=cancer@1.2.0&ref=cancer@1.10.0",
         "/nbmodels/models/hostile", "/nbmodels/models/hostile/latest",
         "/nbmodels/models/regressor", "/nbmodels/models/weird",
         "/nbmodels/models/weird/1.0.0"]


# -- authentication ---------------------------------------------------------------------------
@pytest.mark.parametrize("path", [*PAGES, "/nbmodels/static/registry.js",
                                  "/nbmodels/static/registry.css", "/nbmodels/api/"])
@pytest.mark.parametrize("token", [None, "wrong-token"])
def test_pages_need_a_valid_token(server, path, token):
    status, headers, body = server.request("GET", path, token=token)
    assert status in (302, 403), (status, body[:300])
    if status == 302:
        assert headers["location"].startswith("/login?next=")
    assert b"cancer" not in body and b"hostile" not in body and b"alias" not in body


@pytest.mark.parametrize("path", PAGES)
def test_every_page_renders_with_the_token(server, path):
    page = get_page(server, path)
    assert "nbmodels registry" in page.text


def test_the_bare_prefix_redirects_to_the_registry(server):
    status, headers, _ = server.request("GET", "/nbmodels")
    assert status in (301, 302)
    assert headers["location"] == "/nbmodels/"


# -- the models table -----------------------------------------------------------------------
def _model_links(page: Page) -> list[str]:
    return [a["href"].rsplit("/", 1)[1] for a in page.find("a", class_="model")]


def test_models_table_lists_every_model_and_shows_the_damaged_one(server):
    page = get_page(server, "/nbmodels/")
    assert _model_links(page) == ["broken", "cancer", "hostile", "regressor", "weird"]
    assert "damaged" in page.text and "nbmodels verify" in page.text
    assert "production\u21921.2.0" in page.text
    latest = [a["href"] for a in page.find("a") if a.get("href", "").endswith("/1.10.0")]
    assert latest == ["/nbmodels/models/cancer/1.10.0"]


def test_models_table_searches_name_tag_and_description(server):
    assert _model_links(get_page(server, "/nbmodels/?q=TABULAR")) == ["cancer"]
    assert _model_links(get_page(server, "/nbmodels/?q=a+line")) == ["regressor"]
    assert _model_links(get_page(server, "/nbmodels/?q=hos")) == ["hostile"]
    page = get_page(server, "/nbmodels/?q=nothing-like-this")
    assert _model_links(page) == [] and "No model matches" in page.text


@pytest.mark.parametrize(("sort", "order", "expected"), [
    ("name", "desc", ["weird", "regressor", "hostile", "cancer", "broken"]),
    # What versions() counts (regressor's damaged 0.9.0, not its damaged highest 2.0.0);
    # ties in name order; the damaged model has no values: last.
    ("versions", "desc", ["regressor", "cancer", "hostile", "weird", "broken"]),
    ("r2", "desc", ["regressor", "hostile", "broken", "cancer", "weird"]),
    ("r2", "asc", ["hostile", "regressor", "broken", "cancer", "weird"]),
    ("aliases", "desc", ["cancer", "hostile", "broken", "regressor", "weird"]),
    ("size", "asc", ["regressor", "hostile", "cancer", "broken", "weird"]),
])
def test_models_table_sorts_by_any_column(server, sort, order, expected):
    page = get_page(server, f"/nbmodels/?sort={sort}&order={order}")
    assert _model_links(page) == expected
    # The header links keep the search and flip the order of the sorted column.
    heads = {a["href"] for a in page.find("a") if (a.get("href") or "").startswith("?sort=")}
    flipped = "asc" if order == "desc" else "desc"
    assert f"?sort={sort}&order={flipped}" in heads


# -- a model ---------------------------------------------------------------------------------
def test_model_page_lists_versions_newest_first_in_semver_order(server):
    page = get_page(server, "/nbmodels/models/cancer")
    versions = [a["href"].rsplit("/", 1)[1] for a in page.find("a")
                if re.fullmatch(r"/nbmodels/models/cancer/[0-9.]+", a.get("href") or "")]
    assert versions == ["1.10.0", "1.2.0"]
    refs = [i["value"] for i in page.find("input", type="checkbox")]
    assert refs == ["cancer@1.10.0", "cancer@1.2.0"]
    assert "production" in page.text and "baseline" in page.text
    assert "data set default" in page.text.replace("\n", " ")
    assert "holdout" in page.text
    # One chart per metric, each an inline SVG drawn on the server.
    titles = [t for t in page.texts if t.endswith(" by version")]
    assert "accuracy by version" in titles and "auc_roc by version" in titles
    assert len(page.find("svg", class_="chart")) == len(titles)


def test_a_damaged_version_shows_as_damaged_beside_the_good_ones(server):
    store = ModelStore(server.store_root)
    assert store.versions("regressor") == ["0.9.0", "1.0.0", "1.1.0"]
    assert store.unreadable_versions("regressor") == ["2.0.0"]
    page = get_page(server, "/nbmodels/models/regressor")
    rows = page.find("tr", class_="damaged-row")
    assert len(rows) == 2
    assert "metadata/regressor_v2.0.0/metadata.json" in page.text
    assert "metadata/regressor_v0.9.0/metadata.json" in page.text
    versions = [t for t in page.texts if re.fullmatch(r"[0-9]+\.[0-9]+\.[0-9]+", t)]
    assert versions[:4] == ["2.0.0", "1.1.0", "1.0.0", "0.9.0"]
    page = get_page(server, "/nbmodels/models/regressor/2.0.0", status=409)
    assert "nbmodels verify" in page.text
    get_page(server, "/nbmodels/models/regressor/1.1.0")


def test_unknown_model_is_a_404_page_with_a_suggestion(server):
    page = get_page(server, "/nbmodels/models/cancre", status=404)
    assert "did you mean cancer" in page.text
    page = get_page(server, "/nbmodels/models/bad%20name", status=400)
    assert "allowed" in page.text


# -- a version -------------------------------------------------------------------------------
def test_version_page_shows_the_record_card_plots_and_snippets(server):
    page = get_page(server, "/nbmodels/models/cancer/production")
    text = page.text
    assert "cancer" in text and "1.2.0" in text
    copies = [b["data-copy"] for b in page.find("button", class_="copy")]
    assert copies == ["%load_model cancer@1.2.0",
                      "import nbmodels\nmodel = nbmodels.load_model('cancer', version='1.2.0')"]
    for section in ("Hyper-parameters", "Features", "Lineage", "Environment", "Files",
                    "Model card", "Evaluation", "Metrics"):
        assert section in page.texts, section
    assert "mean radius" in text  # a feature
    record = ModelStore(server.store_root).record("cancer", "1.2.0")
    assert record.files[0]["sha256"] in text
    assert "scikit-learn" in text and "lbfgs" in text
    images = [i["src"] for i in page.find("img")]
    assert "/nbmodels/api/models/cancer/1.2.0/evaluation/roc_curve.png" in images
    assert ("/nbmodels/api/models/cancer/1.2.0/evaluation/confusion_matrix.png?dataset=holdout"
            in images)
    for src in images:
        status, headers, body = server.request("GET", src)
        assert status == 200 and headers["content-type"] == "image/png"
        assert body.startswith(b"\x89PNG")
    report = [a["href"] for a in page.find("a") if (a.get("href") or "").endswith("report.html")]
    assert report == ["/nbmodels/api/models/cancer/1.2.0/evaluation/report.html"]
    status, headers, _ = server.request("GET", report[0])
    assert status == 200 and "sandbox" in headers["content-security-policy"]
    assert server.request("GET", report[0], token=None)[0] in (401, 403)


def test_version_page_alias_controls_point_at_the_api(server):
    page = get_page(server, "/nbmodels/models/cancer/1.2.0")
    (form,) = page.find("form", class_="alias-set")
    assert form["data-model"] == "cancer"
    assert page.find("input", type="hidden", name="version", value="1.2.0")
    removes = page.find("button", class_="alias-remove")
    assert [(b["data-model"], b["data-alias"]) for b in removes] == [("cancer", "production")]


# -- compare -----------------------------------------------------------------------------------
def test_compare_page_has_what_compare_returns(server):
    from nbmodels.evaluation import compare

    refs = ["cancer@1.2.0", "cancer@1.10.0"]
    page = get_page(server, "/nbmodels/compare?" + urlencode([("ref", r) for r in refs]))
    comparison = compare(refs, store=ModelStore(server.store_root))
    for row in comparison.rows:
        assert row.metric in page.texts
    assert "C" in page.texts  # the hyper-parameter that differs
    assert page.texts.count("1.2.0") >= 2 and "1.10.0" in page.texts
    figures = [i for i in page.find("img") if (i.get("src") or "").startswith("data:image/png")]
    assert len(figures) == len(comparison.figures) >= 3
    best = comparison.best("accuracy").partition("@")[2]
    assert best in ("1.2.0", "1.10.0")
    holdout = get_page(server, "/nbmodels/compare?" + urlencode(
        [("ref", r) for r in refs] + [("dataset", "holdout")]))
    assert "holdout" in holdout.texts


@pytest.mark.parametrize(("query", "status", "words"), [
    ("ref=cancer@1.2.0", 400, "two or more"),
    ("", 400, "two or more"),
    ("ref=cancer@1.2.0&ref=cancer", 400, "name@version"),
    ("ref=cancer@1.2.0&ref=cancer@9.9.9", 404, "no version 9.9.9"),
])
def test_compare_page_refuses_what_it_cannot_compare(server, query, status, words):
    page = get_page(server, f"/nbmodels/compare?{query}", status=status)
    assert words in page.text


# -- hostile content ---------------------------------------------------------------------------
@pytest.mark.parametrize("path", [
    "/nbmodels/", "/nbmodels/?q=%3Cscript", "/nbmodels/models/hostile",
    "/nbmodels/models/hostile/latest", "/nbmodels/models/hostile/1.0.0",
    "/nbmodels/compare?ref=hostile@1.0.0&ref=regressor@1.1.0"])
def test_hostile_record_content_is_shown_as_text(server, path):
    page = get_page(server, path)  # assert_safe: no script, no handler, no img src=x
    if path != "/nbmodels/?q=%3Cscript":
        assert HOSTILE in page.text
    assert not page.find("b")  or all("onmouseover" not in a for a in page.find("b"))


def test_a_record_of_unexpected_types_renders_as_text(server):
    page = get_page(server, "/nbmodels/models/weird/1.0.0")
    assert "C=1" in page.texts and "12345" in page.texts
    page = get_page(server, "/nbmodels/models/weird")
    assert not page.find("tr", class_="damaged-row")


def test_a_hostile_alias_is_text_on_every_page(server):
    for path in ("/nbmodels/", "/nbmodels/models/hostile", "/nbmodels/models/hostile/1.0.0"):
        page = get_page(server, path)
        assert any(HOSTILE in t for t in page.texts), path
    page = get_page(server, "/nbmodels/models/hostile/1.0.0")
    assert [b["data-alias"] for b in page.find("button", class_="alias-remove")] == [HOSTILE]


def test_hostile_version_page_shows_every_field_escaped(server):
    page = get_page(server, "/nbmodels/models/hostile/1.0.0")
    text = page.text
    assert text.count(HOSTILE) >= 8  # description, author, tags, hyper-parameters, ...
    assert HOSTILE_KEY in text
    raw = server.request("GET", "/nbmodels/models/hostile/1.0.0")[2].decode()
    assert "<script>alert" not in raw and "<img src=x" not in raw and "<b onmouseover" not in raw


def test_a_hostile_search_is_escaped(server):
    page = get_page(server, "/nbmodels/?q=" + quote(HOSTILE))
    (box,) = page.find("input", type="search")
    assert box["value"] == HOSTILE


# -- aliases from the page: Jupyter's XSRF rules -------------------------------------------------
def _login(server: JupyterServer) -> dict[str, str]:
    """Cookies of a browser that opened the registry with ?token= once."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request("GET", f"/nbmodels/?token={server.token}")
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 200
        cookies = {}
        for header in resp.msg.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            cookies[name] = rest.split(";", 1)[0]
    finally:
        conn.close()
    assert "_xsrf" in cookies and any(k.startswith("username-") for k in cookies), cookies
    return cookies


def test_alias_changes_by_cookie_need_the_xsrf_token(server):
    cookies = _login(server)
    cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
    url = "/nbmodels/api/models/cancer/aliases/staging"
    store = ModelStore(server.store_root)

    # The cookie alone reads pages, but cannot change anything.
    assert server.request("GET", "/nbmodels/models/cancer", token=None,
                          headers={"Cookie": cookie})[0] == 200
    status, _, body = server.request("PUT", url, {"version": "1.10.0"}, token=None,
                                     headers={"Cookie": cookie})
    assert status == 403, body
    assert "staging" not in store.aliases("cancer")
    status, _, _ = server.request("PUT", url, {"version": "1.10.0"}, token=None,
                                  headers={"Cookie": cookie, "X-XSRFToken": "2|forged|0|0"})
    assert status == 403
    assert "staging" not in store.aliases("cancer")

    xsrf = {"Cookie": cookie, "X-XSRFToken": cookies["_xsrf"]}
    status, _, body = server.request("PUT", url, {"version": "1.10.0"}, token=None, headers=xsrf)
    assert status == 200, body
    assert store.aliases("cancer")["staging"] == "1.10.0"
    page = get_page(server, "/nbmodels/models/cancer/1.10.0")
    assert [b["data-alias"] for b in page.find("button", class_="alias-remove")] == ["staging"]

    assert server.request("DELETE", url, token=None, headers={"Cookie": cookie})[0] == 403
    assert "staging" in store.aliases("cancer")
    assert server.request("DELETE", url, token=None, headers=xsrf)[0] == 204
    assert store.aliases("cancer") == {"production": "1.2.0"}


# -- the API index -----------------------------------------------------------------------------
def test_api_index_lists_every_endpoint_and_page(server):
    from nbmodels.server.routes import API_ROUTES

    for path in ("/nbmodels/api/", "/nbmodels/api"):
        status, headers, body = server.request("GET", path)
        assert status == 200 and headers["content-type"].startswith("application/json")
        index = json.loads(body)
        assert len(index["api"]) == len(API_ROUTES)
        paths = [e["path"] for e in index["api"]]
        assert "/nbmodels/api/models/{name}/aliases/{alias}" in paths
        assert all(e["methods"] and e["description"] for e in index["api"])
        assert index["pages"][0]["path"] == "/nbmodels/"
    # Each documented endpoint answers at the path it documents.
    for entry in index["api"]:
        path = (entry["path"].split("[")[0].replace("{name}", "cancer")
                .replace("{version}", "1.2.0").replace("{alias}", "production")
                .replace("{file}", "metrics.json"))
        assert server.request("GET", path)[0] == 200, path
