// nbmodels registry pages: copy buttons and alias changes through the JSON API.
// Alias changes are PUT/DELETE requests, which Jupyter accepts from a browser only with
// the _xsrf cookie echoed in the X-XSRFToken header. Messages are shown as text, never HTML.
"use strict";

(function () {
  const baseUrl = document.body.dataset.baseUrl || "/";

  function xsrfToken() {
    const match = document.cookie.match(/(?:^|;\s*)_xsrf=([^;]*)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function aliasUrl(model, alias) {
    return baseUrl + "nbmodels/api/models/" + encodeURIComponent(model) + "/aliases/" +
      encodeURIComponent(alias);
  }

  function statusOf(element) {
    const section = element.closest("section");
    return section ? section.querySelector(".alias-status") : null;
  }

  function report(element, text, failed) {
    const status = statusOf(element);
    if (status) {
      status.textContent = text;
      status.classList.toggle("failed", Boolean(failed));
    }
  }

  async function send(method, url, body) {
    const response = await fetch(url, {
      method: method,
      credentials: "same-origin",
      headers: { "X-XSRFToken": xsrfToken(), "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!response.ok) {
      let message = response.status + " " + response.statusText;
      try {
        const data = await response.json();
        if (data && data.message) message = data.message;
      } catch (_) { /* not JSON */ }
      throw new Error(message);
    }
    return response.status === 204 ? null : response.json();
  }

  document.addEventListener("submit", async function (event) {
    const form = event.target;
    if (!form.classList || !form.classList.contains("alias-set")) return;
    event.preventDefault();
    const alias = form.elements.alias.value.trim();
    const version = form.elements.version.value;
    const model = form.dataset.model;
    report(form, "setting " + alias + "\u2026", false);
    try {
      const data = await send("PUT", aliasUrl(model, alias), { version: version });
      report(form, alias + " \u2192 " + data.version, false);
      window.location.reload();
    } catch (error) {
      report(form, error.message, true);
    }
  });

  document.addEventListener("click", async function (event) {
    const button = event.target.closest("button");
    if (!button) return;
    if (button.classList.contains("alias-remove")) {
      const alias = button.dataset.alias;
      report(button, "removing " + alias + "\u2026", false);
      try {
        await send("DELETE", aliasUrl(button.dataset.model, alias));
        window.location.reload();
      } catch (error) {
        report(button, error.message, true);
      }
    } else if (button.classList.contains("copy")) {
      const text = button.dataset.copy || "";
      try {
        await navigator.clipboard.writeText(text);
        button.textContent = "Copied";
      } catch (_) {
        const selection = window.getSelection();
        const range = document.createRange();
        range.selectNodeContents(button.parentElement.querySelector("code"));
        selection.removeAllRanges();
        selection.addRange(range);
        button.textContent = "Selected: press Ctrl+C";
      }
      setTimeout(function () { button.textContent = "Copy"; }, 1500);
    }
  });
})();
