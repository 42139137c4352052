// Small helpers over smchub's REST API, shared by its pages.
(function () {
  "use strict";
  const base = window.jhdata.base_url; // ends with /hub/

  // Every failure becomes an Error whose message a person can read: the API's own
  // message when it sent one, otherwise what went wrong in words.
  // `accept`: another media type to ask for, e.g. JupyterHub's paginated lists
  // ("application/jupyterhub-pagination+json", answered as {items, _pagination})
  async function api(method, path, body, accept = "application/json") {
    const options = {
      method: method,
      credentials: "same-origin",
      headers: { "X-XSRFToken": window.jhdata.xsrf_token, Accept: accept },
    };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(base + "api/" + path, options);
    } catch (e) {
      throw new Error("Could not reach the hub; check your connection and try again.");
    }
    if (response.status === 204) return null;
    let data = null;
    try {
      data = await response.json();
    } catch (e) {
      data = null;
    }
    if (!response.ok) {
      let message = data && data.message;
      if (!message) {
        const status = `${response.status}${response.statusText ? " " + response.statusText : ""}`;
        message = `The hub answered ${status}; try again in a moment.`;
      }
      const error = new Error(message);
      error.status = response.status;
      throw error;
    }
    return data;
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (key === "class") node.className = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else if (value !== undefined && value !== null) node.setAttribute(key, value);
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  function showError(target, error) {
    target.textContent = error ? error.message || String(error) : "";
    target.hidden = !error;
  }

  // Run a person's action: its error (if any) is shown in `errorBox`, and `button`
  // (if given) is disabled meanwhile so a slow request is not sent twice.
  async function guard(errorBox, fn, button) {
    showError(errorBox, null);
    if (button) button.disabled = true;
    try {
      await fn();
    } catch (e) {
      showError(errorBox, e);
    } finally {
      if (button) button.disabled = false;
    }
  }

  function when(iso) {
    if (!iso) return "never";
    const date = new Date(iso);
    return date.toLocaleString();
  }

  function size(bytes) {
    if (bytes === null || bytes === undefined) return "?";
    const units = ["B", "KB", "MB", "GB", "TB"];
    let i = 0;
    while (bytes >= 1024 && i < units.length - 1) {
      bytes /= 1024;
      i += 1;
    }
    return `${bytes.toFixed(i ? 1 : 0)} ${units[i]}`;
  }

  // The hub's software environments in a <select>, shown (with its `wrapper`) only when
  // there is a choice; `current` is selected, else the default. Resolves to whether shown.
  let environments = null;
  async function fillEnvironments(select, wrapper, current) {
    environments = environments || api("GET", "environments");
    let list;
    try {
      list = await environments;
    } catch (e) {
      environments = null;
      throw e;
    }
    select.replaceChildren(
      ...list.map((env) =>
        el("option", { value: env.name, title: env.description }, env.display_name)
      )
    );
    const chosen = list.find((env) => env.name === current) || list.find((env) => env.default);
    if (chosen) select.value = chosen.name;
    wrapper.hidden = list.length < 2;
    return !wrapper.hidden;
  }

  window.smchub = { api, el, showError, guard, when, size, base, fillEnvironments };
})();
