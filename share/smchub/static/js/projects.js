// The projects page: invitations to answer; list, filter, create, start, stop, open,
// delete; the recently deleted projects, to undelete.
(function () {
  "use strict";
  const { api, el, showError, guard, when, base, fillEnvironments } = window.smchub;
  const table = document.getElementById("projects-body");
  const errorBox = document.getElementById("projects-error");
  const filterInput = document.getElementById("project-filter");
  const invitationsBox = document.getElementById("invitations");
  const invitationsError = document.getElementById("invitations-error");
  const deletedBox = document.getElementById("deleted");
  const deletedError = document.getElementById("deleted-error");
  const me = document.getElementById("projects-page").dataset.me;
  let projects = [];
  let invitations = [];
  let deleted = [];
  let loadFailed = false;
  let deletedFailed = false;
  // the project whose row asks "really delete?" (the list is redrawn while it asks)
  let confirmingDelete = null;
  // ... and the one being deleted: its redrawn button stays disabled meanwhile
  let deleting = null;

  function answer(invitation, accept, button) {
    return guard(
      invitationsError,
      async () => {
        if (accept) await api("POST", `invitations/${invitation.id}/accept`);
        else await api("DELETE", `invitations/${invitation.id}`);
        await refresh();
      },
      button
    );
  }

  function invitationItem(invitation) {
    return el(
      "li",
      { class: "list-group-item d-flex justify-content-between align-items-center invitation", "data-invitation-id": invitation.id },
      el(
        "span",
        {},
        el("strong", { class: "invitation-title" }, invitation.title),
        ` — ${invitation.invited_by || "someone"} invited you, ${when(invitation.created)}`
      ),
      el(
        "span",
        { class: "text-nowrap" },
        el("button", { class: "btn btn-sm btn-success", onclick: (event) => answer(invitation, true, event.currentTarget) }, "Accept"),
        " ",
        el("button", { class: "btn btn-sm btn-outline-secondary", onclick: (event) => answer(invitation, false, event.currentTarget) }, "Decline")
      )
    );
  }

  function renderInvitations() {
    invitationsBox.replaceChildren(...invitations.map(invitationItem));
    document.getElementById("invitations-section").hidden = invitations.length === 0;
  }

  function stateBadge(state) {
    const cls = { running: "bg-success", starting: "bg-info", stopping: "bg-warning" }[state] || "bg-secondary";
    return el("span", { class: "badge " + cls + " project-state" }, state);
  }

  function act(project, action, button) {
    return guard(
      errorBox,
      async () => {
        try {
          await api("POST", `projects/${project.id}/${action}`);
        } catch (e) {
          e.message = `Could not ${action} “${project.title}”: ${e.message}`;
          throw e;
        }
        await refresh();
      },
      button
    );
  }

  function remove(project, button) {
    return guard(
      errorBox,
      async () => {
        deleting = project.id;
        try {
          await api("DELETE", `projects/${project.id}`);
        } catch (e) {
          e.message = `Could not delete “${project.title}”: ${e.message}`;
          throw e;
        } finally {
          deleting = null;
        }
        confirmingDelete = null;
        await refresh();
      },
      button
    );
  }

  // the owner deletes; the row asks first, and says how to get it back
  function deleteControls(project) {
    if (project.owner !== me) return [];
    const ask = (id) => () => {
      confirmingDelete = id;
      render();
    };
    if (confirmingDelete !== project.id) {
      return [" ", el("button", { class: "btn btn-sm btn-outline-secondary delete", onclick: ask(project.id) }, "Delete")];
    }
    return [
      el("div", { class: "small mt-1 delete-question" }, "Delete it? It stops, and stays under “Recently deleted” for a while."),
      el(
        "button",
        {
          class: "btn btn-sm btn-danger confirm-delete",
          disabled: deleting === project.id ? "" : null,
          onclick: (event) => remove(project, event.currentTarget),
        },
        "Delete"
      ),
      " ",
      el("button", { class: "btn btn-sm btn-outline-secondary", onclick: ask(null) }, "Cancel"),
    ];
  }

  function row(project) {
    const open = el("a", { class: "btn btn-sm btn-primary", href: base + "spawn/" + project.id + "?next=" + encodeURIComponent(project.url + "lab") }, "Open");
    const action = project.state === "running" || project.state === "starting" ? "stop" : "start";
    const toggle = el(
      "button",
      {
        class: "btn btn-sm " + (action === "stop" ? "btn-outline-danger" : "btn-outline-success"),
        onclick: (event) => act(project, action, event.currentTarget),
      },
      action === "stop" ? "Stop" : "Start"
    );
    return el(
      "tr",
      { "data-project-id": project.id, class: "project-row" },
      el(
        "td",
        {},
        el("a", { href: base + "projects/" + project.id, class: "project-title" }, project.title),
        project.description ? el("div", { class: "small text-muted project-description" }, project.description) : null
      ),
      el("td", {}, stateBadge(project.state)),
      el("td", {}, project.collaborators.map((c) => c.name).join(", ")),
      el("td", {}, when(project.last_active)),
      el("td", { class: "text-end text-nowrap" }, open, " ", toggle, ...deleteControls(project))
    );
  }

  function render() {
    const needle = filterInput.value.trim().toLowerCase();
    table.replaceChildren();
    const shown = projects.filter(
      (p) =>
        !needle ||
        p.title.toLowerCase().includes(needle) ||
        p.description.toLowerCase().includes(needle) ||
        p.collaborators.some((c) => c.name.includes(needle))
    );
    for (const project of shown) table.append(row(project));
    document.getElementById("projects-empty").hidden = projects.length > 0;
  }

  function undelete(project, button) {
    return guard(
      deletedError,
      async () => {
        try {
          await api("POST", `projects/${project.id}/undelete`);
        } catch (e) {
          e.message = `Could not undelete “${project.title}”: ${e.message}`;
          throw e;
        }
        await refresh();
      },
      button
    );
  }

  function deletedItem(project) {
    return el(
      "li",
      { class: "list-group-item d-flex justify-content-between align-items-center deleted-project", "data-project-id": project.id },
      el(
        "span",
        {},
        el("strong", { class: "deleted-title" }, project.title),
        ` — deleted ${when(project.deleted)}, ${project.snapshots} snapshot${project.snapshots === 1 ? "" : "s"}, ` +
          `can be undeleted until ${when(project.expires)}`
      ),
      el("button", { class: "btn btn-sm btn-outline-success undelete", onclick: (event) => undelete(project, event.currentTarget) }, "Undelete")
    );
  }

  // loaded apart from the projects: the list of projects works even when this does not
  async function refreshDeleted() {
    try {
      deleted = (await api("GET", "projects/deleted")).projects;
    } catch (e) {
      deletedFailed = true;
      e.message = "Could not load your recently deleted projects: " + e.message;
      showError(deletedError, e);
      document.getElementById("deleted-section").hidden = false;
      return;
    }
    if (deletedFailed) {
      deletedFailed = false;
      showError(deletedError, null);
    }
    deletedBox.replaceChildren(...deleted.map(deletedItem));
    document.getElementById("deleted-section").hidden = deleted.length === 0 && deletedError.hidden;
  }

  // polled: a failure is shown until the list loads again, without hiding the error
  // of something the person did
  async function refresh() {
    try {
      [projects, invitations] = await Promise.all([api("GET", "projects"), api("GET", "invitations")]);
    } catch (e) {
      loadFailed = true;
      e.message = "Could not load your projects: " + e.message;
      showError(errorBox, e);
      return;
    }
    if (loadFailed) {
      loadFailed = false;
      showError(errorBox, null);
    }
    render();
    renderInvitations();
    await refreshDeleted();
  }

  const createForm = document.getElementById("create-project");
  createForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const title = document.getElementById("new-title");
    const description = document.getElementById("new-description");
    const environment = document.getElementById("new-environment");
    guard(
      document.getElementById("create-error"),
      async () => {
        const body = { title: title.value, description: description.value };
        // only a choice the person saw: a hidden select leaves it to the hub's default
        if (!environment.parentElement.hidden) body.environment = environment.value;
        await api("POST", "projects", body);
        title.value = "";
        description.value = "";
        await refresh();
      },
      document.getElementById("create-button")
    );
  });
  filterInput.addEventListener("input", render);
  // a failure leaves the select hidden: projects get the hub's default environment
  fillEnvironments(
    document.getElementById("new-environment"),
    document.getElementById("new-environment-field")
  ).catch(() => {});
  // every sign-in lands here: course places reserved for this person's email are
  // claimed by this POST (listing projects never writes), then the list shows them;
  // a failed claim must not keep the list from loading (the next visit tries again)
  api("POST", "courses/claim")
    .catch(() => {})
    .finally(refresh);
  setInterval(refresh, 5000);
})();
