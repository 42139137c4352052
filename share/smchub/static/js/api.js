// Small helpers over smchub's REST API, shared by its pages.
(function () {
  "use strict";
  const base = window.jhdata.base_url; // ends with /hub/

  async function api(method, path, body) {
    const options = {
      method: method,
      credentials: "same-origin",
      headers: { "X-XSRFToken": window.jhdata.xsrf_token, Accept: "application/json" },
    };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    const response = await fetch(base + "api/" + path, options);
    if (response.status === 204) return null;
    let data = null;
    try {
      data = await response.json();
    } catch (e) {
      data = null;
    }
    if (!response.ok) {
      const message = (data && data.message) || response.statusText || "Request failed";
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

  function when(iso) {
    if (!iso) return "never";
    const date = new Date(iso);
    return date.toLocaleString();
  }

  window.smchub = { api, el, showError, when, base };
})();
