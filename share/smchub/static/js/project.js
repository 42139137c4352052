// One project's page: state, settings, collaborators and invitations, invite links.
(function () {
  "use strict";
  const { api, el, showError, guard, when, size, base, fillEnvironments } = window.smchub;
  const page = document.getElementById("project");
  const projectId = page.dataset.projectId;
  const me = page.dataset.me;
  const byId = (id) => document.getElementById(id);
  // each part of the page shows its own errors next to it
  const errors = {
    project: byId("project-error"),
    settings: byId("settings-error"),
    collaborators: byId("collaborator-error"),
    invites: byId("invite-error"),
  };
  let project = null;
  let loadFailed = false;

  function renderCollaborators() {
    const list = byId("collaborators");
    list.replaceChildren();
    const iAmOwner = project.owner === me;
    for (const c of project.collaborators) {
      const canRemove = c.role !== "owner" && (iAmOwner || c.name === me);
      const remove = (event) =>
        guard(
          errors.collaborators,
          async () => {
            project = await api("DELETE", `projects/${projectId}/collaborators/${encodeURIComponent(c.name)}`);
            if (c.name === me) window.location = base + "projects";
            else render();
          },
          event.currentTarget
        );
      // the owner makes a collaborator a viewer (who only reads) and back
      const role =
        iAmOwner && c.role !== "owner"
          ? el(
              "select",
              {
                class: "form-select form-select-sm d-inline-block w-auto ms-2",
                "aria-label": `${c.name}'s role`,
                onchange: (event) =>
                  guard(
                    errors.collaborators,
                    async () => {
                      const body = { role: event.currentTarget.value };
                      try {
                        project = await api("PATCH", `projects/${projectId}/collaborators/${encodeURIComponent(c.name)}`, body);
                      } finally {
                        // the roles as the hub has them, also after a refusal
                        render();
                      }
                    },
                    event.currentTarget
                  ),
              },
              ...["collaborator", "viewer"].map((r) => el("option", { value: r, selected: r === c.role ? "" : null }, r))
            )
          : el("small", { class: "text-muted" }, c.role);
      list.append(
        el(
          "li",
          { class: "list-group-item d-flex justify-content-between", "data-name": c.name },
          el("span", {}, c.name, " ", role),
          canRemove
            ? el("button", { class: "btn btn-sm btn-outline-danger", onclick: remove }, c.name === me ? "Leave" : "Remove")
            : null
        )
      );
    }
  }

  function renderInvited() {
    const list = byId("invited");
    list.replaceChildren(
      ...project.invited.map((invitation) => {
        const withdraw = (event) =>
          guard(
            errors.collaborators,
            async () => {
              await api("DELETE", `invitations/${invitation.id}`);
              await refresh();
            },
            event.currentTarget
          );
        return el(
          "li",
          { class: "list-group-item d-flex justify-content-between", "data-name": invitation.name },
          el("span", {}, invitation.name, " ", el("small", { class: "text-muted" }, `invited by ${invitation.invited_by || "?"}, ${when(invitation.created)}`)),
          el("button", { class: "btn btn-sm btn-outline-secondary", onclick: withdraw }, "Withdraw")
        );
      })
    );
    byId("invited-section").hidden = project.invited.length === 0;
  }

  async function renderInvites() {
    const list = byId("invites");
    const invites = await api("GET", `projects/${projectId}/invites`);
    list.replaceChildren();
    for (const invite of invites) {
      const revoke = (event) =>
        guard(
          errors.invites,
          async () => {
            await api("DELETE", `projects/${projectId}/invites/${invite.id}`);
            await renderInvites();
          },
          event.currentTarget
        );
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
          el("button", { class: "btn btn-sm btn-outline-danger", onclick: revoke }, "Revoke")
        )
      );
    }
  }

  // filled once (a refresh must not undo a choice being made), then kept to the project
  let environmentsFilled = null;
  function renderEnvironment() {
    const select = byId("environment");
    if (!environmentsFilled) {
      environmentsFilled = fillEnvironments(select, byId("environment-field"), project.environment)
        .catch(() => false);
    }
    // a student's course project runs its course's environment
    select.disabled = project.environment_from_course;
    let note = "Takes effect at the project's next start.";
    if (project.environment_from_course) {
      note = "This course project runs its course's environment, which its instructors choose.";
    } else if (project.running_environment && project.running_environment !== project.environment) {
      note = `The server runs ${project.running_environment}; restart it to switch to ${project.environment}.`;
    }
    byId("environment-note").textContent = note;
  }

  function render() {
    byId("project-title").textContent = project.title;
    byId("project-state").textContent = project.state;
    byId("project-node").textContent = project.node || "not placed yet";
    byId("project-last-active").textContent = when(project.last_active);
    const quotas = project.quotas;
    byId("project-quotas").textContent =
      `${quotas.memory_mb} MB memory, ${quotas.cpu} CPU, ${quotas.disk_mb} MB disk, ` +
      (quotas.idle_timeout_s ? `stops after ${quotas.idle_timeout_s} s idle` : "never stopped when idle");
    const running = project.state === "running" || project.state === "starting";
    byId("start").hidden = running;
    byId("stop").hidden = !running;
    renderEnvironment();
    renderCollaborators();
    renderInvited();
  }

  // in a student's course project only the course's instructors bring people in (the
  // hub refuses anyone else): its reason takes the place of the forms it would refuse
  function renderSharing(sharing) {
    let note = byId("sharing-refused");
    if (!note) {
      note = el("p", { id: "sharing-refused", class: "alert alert-info", role: "status" });
      byId("add-collaborator").before(note);
    }
    note.textContent = sharing.reason || "";
    note.hidden = sharing.allowed;
    byId("add-collaborator").hidden = !sharing.allowed;
    byId("make-invite").hidden = !sharing.allowed;
  }

  // what the project's own server reports (its localhub info), while it runs
  async function renderInfo() {
    const section = byId("project-info");
    if (project.state !== "running") {
      section.hidden = true;
      return;
    }
    let info;
    try {
      info = await api("GET", `projects/${projectId}/info`);
    } catch (e) {
      section.hidden = true;
      return;
    }
    section.hidden = false;
    const memory = info.memory;
    byId("info-memory").textContent =
      `${size(memory.used)} used` + (memory.limit ? ` of ${size(memory.limit)}` : "");
    const disk = info.disk;
    byId("info-disk").textContent =
      `${size(disk.used)} used` + (disk.quota ? ` of ${size(disk.quota)}` : "") +
      (disk.complete === false ? " (still counting)" : "");
    byId("info-limits").textContent = info.limits.note || (info.limits.enforced ? "enforced" : "not enforced");
    byId("info-uptime").textContent = `${Math.round(info.uptime)} s`;
    byId("info-processes").querySelector("tbody").replaceChildren(
      ...info.processes.map((p) =>
        el("tr", {}, el("td", {}, p.pid), el("td", { class: "font-monospace" }, p.command),
          el("td", {}, p.cpu_percent.toFixed(1)), el("td", {}, size(p.rss)))
      )
    );
  }

  // polled: a failure is shown until the project loads again, without hiding the
  // error of something the person did
  async function refresh() {
    try {
      project = await api("GET", `projects/${projectId}`);
    } catch (e) {
      loadFailed = true;
      e.message = "Could not load this project: " + e.message;
      showError(errors.project, e);
      return;
    }
    if (loadFailed) {
      loadFailed = false;
      showError(errors.project, null);
    }
    render();
    // only this GET says what the caller may do
    renderSharing(project.sharing);
    await renderInfo();
  }

  byId("settings").addEventListener("submit", (event) => {
    event.preventDefault();
    const saved = byId("settings-saved");
    saved.hidden = true;
    guard(
      errors.settings,
      async () => {
        const body = { title: byId("title").value, description: byId("description").value };
        const environment = byId("environment");
        // sent only when changed: choosing an environment again drops its pinned image
        if (!byId("environment-field").hidden && !environment.disabled &&
            environment.value !== project.environment) {
          body.environment = environment.value;
        }
        project = await api("PATCH", `projects/${projectId}`, body);
        render();
        saved.hidden = false;
      },
      byId("save-settings")
    );
  });
  byId("add-collaborator").addEventListener("submit", (event) => {
    event.preventDefault();
    const name = byId("collaborator-name");
    guard(
      errors.collaborators,
      async () => {
        project = await api("PUT", `projects/${projectId}/collaborators/${encodeURIComponent(name.value.trim())}`);
        name.value = "";
        render();
      },
      byId("add-collaborator-button")
    );
  });
  byId("make-invite").addEventListener("submit", (event) => {
    event.preventDefault();
    const days = parseFloat(byId("invite-days").value || "7");
    const uses = byId("invite-uses").value;
    // shown only when the hub sends email
    const emailBox = byId("invite-email");
    const email = emailBox ? emailBox.value.trim() : "";
    guard(
      errors.invites,
      async () => {
        const body = { expires_in: Math.round(days * 86400) };
        // a link emailed to one person lets one person in, unless uses are given
        if (uses || !email) body.max_uses = uses ? parseInt(uses, 10) : null;
        if (email) body.email = email;
        const invite = await api("POST", `projects/${projectId}/invites`, body);
        const box = byId("invite-link");
        box.value = new URL(invite.url, window.location.href).href;
        box.hidden = false;
        box.select();
        const sent = byId("invite-sent");
        sent.textContent = invite.emailed_to ? `Sent to ${invite.emailed_to}.` : "";
        sent.hidden = !invite.emailed_to;
        if (emailBox) emailBox.value = "";
        await renderInvites();
      },
      byId("make-invite-button")
    );
  });
  for (const action of ["start", "stop"]) {
    const button = byId(action);
    button.addEventListener("click", () =>
      guard(
        errors.project,
        async () => {
          project = await api("POST", `projects/${projectId}/${action}`);
          render();
        },
        button
      )
    );
  }
  refresh().then(() => project && guard(errors.invites, renderInvites));
  setInterval(refresh, 5000);
})();
