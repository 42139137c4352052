// The accounts page (admins): approve sign-ups, make sign-up codes, reset passwords.
(function () {
  "use strict";
  const { api, el, guard, when } = window.smchub;
  const $ = (id) => document.getElementById(id);

  function absolute(path) {
    return window.location.origin + path;
  }

  async function loadPending() {
    const accounts = await api("GET", "accounts?state=pending");
    const body = $("pending-body");
    body.replaceChildren();
    for (const account of accounts) {
      const decide = (action) => (event) =>
        guard(
          $("pending-error"),
          async () => {
            await api("POST", "accounts/" + encodeURIComponent(account.username) + "/" + action);
            await loadPending();
          },
          event.target
        );
      body.append(
        el("tr", { "data-username": account.username },
          el("td", {}, account.username),
          el("td", {}, account.email || ""),
          el("td", {}, when(account.created)),
          el("td", {},
            el("button", { class: "btn btn-sm btn-success me-2", onclick: decide("approve") }, "Approve"),
            el("button", { class: "btn btn-sm btn-outline-danger", onclick: decide("reject") }, "Reject")))
      );
    }
    $("pending-empty").hidden = accounts.length > 0;
  }

  async function loadTokens() {
    const tokens = await api("GET", "signup-tokens");
    const body = $("tokens-body");
    body.replaceChildren();
    for (const token of tokens) {
      const remove = (event) =>
        guard(
          $("token-error"),
          async () => {
            await api("DELETE", "signup-tokens/" + token.id);
            await loadTokens();
          },
          event.target
        );
      body.append(
        el("tr", { "data-token-id": token.id, class: token.usable ? "" : "text-muted" },
          el("td", {}, el("code", {}, token.prefix + "…")),
          el("td", {}, token.note),
          el("td", {}, token.created_by || ""),
          el("td", {}, token.expires_at ? when(token.expires_at) : "never"),
          el("td", {}, token.uses + (token.max_uses === null ? "" : " of " + token.max_uses)),
          el("td", {}, el("button", { class: "btn btn-sm btn-outline-danger", onclick: remove }, "Delete")))
      );
    }
  }

  $("new-token").addEventListener("submit", (event) => {
    event.preventDefault();
    guard(
      $("token-error"),
      async () => {
        const days = parseInt($("token-days").value, 10);
        const uses = parseInt($("token-uses").value, 10);
        const made = await api("POST", "signup-tokens", {
          note: $("token-note").value,
          expires_in: Number.isNaN(days) ? null : days * 24 * 3600,
          max_uses: Number.isNaN(uses) ? null : uses,
        });
        $("token-value").textContent = made.token;
        $("token-link").textContent = absolute(made.url);
        $("token-made").hidden = false;
        await loadTokens();
      },
      $("token-create")
    );
  });

  function person() {
    return encodeURIComponent($("person-name").value.trim());
  }

  $("person-form").addEventListener("submit", (event) => {
    event.preventDefault();
    $("person-result").hidden = true;
    guard(
      $("person-error"),
      async () => {
        const link = await api("POST", "accounts/" + person() + "/reset-link", {});
        const result = $("person-result");
        result.textContent = "Send this link to " + link.username + "; it works once, until " +
          when(link.expires_at) + ": " + absolute(link.url);
        result.hidden = false;
      },
      $("reset-link-button")
    );
  });

  $("unlock-button").addEventListener("click", (event) => {
    $("person-result").hidden = true;
    guard(
      $("person-error"),
      async () => {
        const account = await api("POST", "accounts/" + person() + "/unlock");
        const result = $("person-result");
        result.textContent = account.username + " can sign in again.";
        result.hidden = false;
      },
      event.target
    );
  });

  guard($("pending-error"), loadPending);
  guard($("token-error"), loadTokens);
})();
