// The projects page: list, filter, create, start, stop, open.
(function () {
  "use strict";
  const { api, el, showError, guard, when, base } = window.smchub;
  const table = document.getElementById("projects-body");
  const errorBox = document.getElementById("projects-error");
  const filterInput = document.getElementById("project-filter");
  let projects = [];
  let loadFailed = false;

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
      el("td", { class: "text-end text-nowrap" }, open, " ", toggle)
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

  // polled: a failure is shown until the list loads again, without hiding the error
  // of something the person did
  async function refresh() {
    try {
      projects = await api("GET", "projects");
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
  }

  const createForm = document.getElementById("create-project");
  createForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const title = document.getElementById("new-title");
    const description = document.getElementById("new-description");
    guard(
      document.getElementById("create-error"),
      async () => {
        await api("POST", "projects", { title: title.value, description: description.value });
        title.value = "";
        description.value = "";
        await refresh();
      },
      document.getElementById("create-button")
    );
  });
  filterInput.addEventListener("input", render);
  refresh();
  setInterval(refresh, 5000);
})();
