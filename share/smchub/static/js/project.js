// One project's page: state, settings, collaborators, invite links.
(function () {
  "use strict";
  const { api, el, showError, when, base } = window.smchub;
  const projectId = document.body.dataset.projectId || document.getElementById("project").dataset.projectId;
  const me = document.getElementById("project").dataset.me;
  const errorBox = document.getElementById("project-error");
  let project = null;

  async function guarded(fn) {
    showError(errorBox, null);
    try {
      await fn();
    } catch (e) {
      showError(errorBox, e);
    }
  }

  function renderCollaborators() {
    const list = document.getElementById("collaborators");
    list.replaceChildren();
    const iAmOwner = project.owner === me;
    for (const c of project.collaborators) {
      const canRemove = c.role !== "owner" && (iAmOwner || c.name === me);
      list.append(
        el(
          "li",
          { class: "list-group-item d-flex justify-content-between", "data-name": c.name },
          el("span", {}, c.name, " ", el("small", { class: "text-muted" }, c.role)),
          canRemove
            ? el(
                "button",
                {
                  class: "btn btn-sm btn-outline-danger",
                  onclick: () =>
                    guarded(async () => {
                      project = await api("DELETE", `projects/${projectId}/collaborators/${encodeURIComponent(c.name)}`);
                      if (c.name === me) window.location = base + "projects";
                      else render();
                    }),
                },
                c.name === me ? "Leave" : "Remove"
              )
            : null
        )
      );
    }
  }

  async function renderInvites() {
    const list = document.getElementById("invites");
    const invites = await api("GET", `projects/${projectId}/invites`);
    list.replaceChildren();
    for (const invite of invites) {
      list.append(
        el(
          "li",
          { class: "list-group-item d-flex justify-content-between" },
          el(
            "span",
            {},
            `${invite.prefix}… by ${invite.created_by || "?"}, used ${invite.uses}` +
              (invite.max_uses ? ` of ${invite.max_uses}` : "") +
              `, expires ${when(invite.expires_at)}` +
              (invite.usable ? "" : " (no longer usable)")
          ),
          el(
            "button",
            {
              class: "btn btn-sm btn-outline-danger",
              onclick: () =>
                guarded(async () => {
                  await api("DELETE", `projects/${projectId}/invites/${invite.id}`);
                  await renderInvites();
                }),
            },
            "Revoke"
          )
        )
      );
    }
  }

  function render() {
    document.getElementById("project-title").textContent = project.title;
    document.getElementById("project-state").textContent = project.state;
    document.getElementById("project-node").textContent = project.node || "not placed yet";
    document.getElementById("project-last-active").textContent = when(project.last_active);
    const quotas = project.quotas;
    document.getElementById("project-quotas").textContent =
      `${quotas.memory_mb} MB memory, ${quotas.cpu} CPU, ${quotas.disk_mb} MB disk, ` +
      (quotas.idle_timeout_s ? `stops after ${quotas.idle_timeout_s} s idle` : "never stopped when idle");
    const running = project.state === "running" || project.state === "starting";
    document.getElementById("start").hidden = running;
    document.getElementById("stop").hidden = !running;
    renderCollaborators();
  }

  async function refresh() {
    project = await api("GET", `projects/${projectId}`);
    render();
  }

  document.getElementById("settings").addEventListener("submit", (event) => {
    event.preventDefault();
    guarded(async () => {
      project = await api("PATCH", `projects/${projectId}`, {
        title: document.getElementById("title").value,
        description: document.getElementById("description").value,
      });
      render();
    });
  });
  document.getElementById("add-collaborator").addEventListener("submit", (event) => {
    event.preventDefault();
    const name = document.getElementById("collaborator-name");
    guarded(async () => {
      project = await api("PUT", `projects/${projectId}/collaborators/${encodeURIComponent(name.value.trim())}`);
      name.value = "";
      render();
    });
  });
  document.getElementById("make-invite").addEventListener("submit", (event) => {
    event.preventDefault();
    const days = parseFloat(document.getElementById("invite-days").value || "7");
    const uses = document.getElementById("invite-uses").value;
    guarded(async () => {
      const invite = await api("POST", `projects/${projectId}/invites`, {
        expires_in: Math.round(days * 86400),
        max_uses: uses ? parseInt(uses, 10) : null,
      });
      const link = new URL(invite.url, window.location.href).href;
      const box = document.getElementById("invite-link");
      box.value = link;
      box.hidden = false;
      box.select();
      await renderInvites();
    });
  });
  document.getElementById("start").addEventListener("click", () =>
    guarded(async () => {
      project = await api("POST", `projects/${projectId}/start`);
      render();
    })
  );
  document.getElementById("stop").addEventListener("click", () =>
    guarded(async () => {
      project = await api("POST", `projects/${projectId}/stop`);
      render();
    })
  );
  guarded(async () => {
    await refresh();
    await renderInvites();
  });
  setInterval(() => guarded(refresh), 5000);
})();
