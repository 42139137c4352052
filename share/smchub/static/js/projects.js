// The projects page: list, filter, create, start, stop, open.
(function () {
  "use strict";
  const { api, el, showError, when, base } = window.smchub;
  const table = document.getElementById("projects-body");
  const errorBox = document.getElementById("projects-error");
  const filterInput = document.getElementById("project-filter");
  let projects = [];

  function stateBadge(state) {
    const cls = { running: "bg-success", starting: "bg-info", stopping: "bg-warning" }[state] || "bg-secondary";
    return el("span", { class: "badge " + cls + " project-state" }, state);
  }

  async function act(project, action) {
    showError(errorBox, null);
    try {
      await api("POST", `projects/${project.id}/${action}`);
      await refresh();
    } catch (e) {
      showError(errorBox, e);
    }
  }

  function row(project) {
    const open = el("a", { class: "btn btn-sm btn-primary", href: base + "spawn/" + project.id + "?next=" + encodeURIComponent(project.url + "lab") }, "Open");
    const toggle =
      project.state === "running" || project.state === "starting"
        ? el("button", { class: "btn btn-sm btn-outline-danger", onclick: () => act(project, "stop") }, "Stop")
        : el("button", { class: "btn btn-sm btn-outline-success", onclick: () => act(project, "start") }, "Start");
    return el(
      "tr",
      { "data-project-id": project.id, class: "project-row" },
      el("td", {}, el("a", { href: base + "projects/" + project.id, class: "project-title" }, project.title)),
      el("td", {}, stateBadge(project.state)),
      el("td", {}, project.collaborators.map((c) => c.name).join(", ")),
      el("td", {}, when(project.last_active)),
      el("td", { class: "text-end" }, open, " ", toggle)
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

  async function refresh() {
    try {
      projects = await api("GET", "projects");
      render();
    } catch (e) {
      showError(errorBox, e);
    }
  }

  document.getElementById("create-project").addEventListener("submit", async (event) => {
    event.preventDefault();
    const title = document.getElementById("new-title");
    const description = document.getElementById("new-description");
    showError(errorBox, null);
    try {
      await api("POST", "projects", { title: title.value, description: description.value });
      title.value = "";
      description.value = "";
      await refresh();
    } catch (e) {
      showError(errorBox, e);
    }
  });
  filterInput.addEventListener("input", render);
  refresh();
  setInterval(refresh, 5000);
})();
