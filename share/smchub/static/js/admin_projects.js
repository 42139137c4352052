// The admins' projects page: every project, searched, filtered, sorted and paged by the
// API (GET projects?all=1), and started, stopped or moved from its row.
(function () {
  "use strict";
  const { api, el, showError, guard, when, base } = window.smchub;
  const $ = (id) => document.getElementById(id);
  const pageBox = $("admin-projects-page");
  const mayManage = Boolean(pageBox.dataset.mayManage);
  const mayMove = Boolean(pageBox.dataset.mayMove);
  const form = $("project-filters");
  const body = $("admin-projects-body");
  const errorBox = $("admin-projects-error");
  const doneBox = $("admin-projects-done");
  // the form's fields are the API's parameters, and the page's own query string, so a
  // filtered list can be linked to (the nodes page does) and survives a reload
  const FIELDS = ["q", "state", "node", "owner", "sort"];
  // what the form starts with (nothing, the first choice) goes unsaid in the address
  const DEFAULTS = Object.fromEntries(FIELDS.map((name) => [name, form.elements[name].value]));
  const PAGE_SIZE = 50;
  // while a project on the page is starting or stopping, the page is read again this often
  const POLL_MS = 1500;
  const TYPING_MS = 300;

  let offset = 0;
  let shown = { items: [], _pagination: { total: 0, offset: 0, limit: PAGE_SIZE } };
  // each listing gets a number: an answer that comes back after a newer one is dropped
  let latest = 0;
  let pollTimer = null;
  // whether the error shown is the list's own (the next good listing takes it away)
  let listFailed = false;
  // what each row's Move list had chosen, kept across redraws
  const moveTo = new Map();
  // the projects an action is under way for: their buttons stay disabled meanwhile
  const busy = new Set();

  // the activity list's choices are a parameter and its value each ("idle_days=90")
  const activity = form.elements.activity;

  function readQuery() {
    const params = new URLSearchParams(window.location.search);
    for (const name of FIELDS) {
      if (params.has(name)) form.elements[name].value = params.get(name);
    }
    for (const option of activity.options) {
      const [name, value] = option.value.split("=");
      if (option.value && params.get(name) === value) activity.value = option.value;
    }
    offset = Math.max(0, parseInt(params.get("offset") || "0", 10) || 0);
  }

  function query() {
    const params = new URLSearchParams();
    for (const name of FIELDS) {
      const value = form.elements[name].value.trim();
      if (value && value !== DEFAULTS[name]) params.set(name, value);
    }
    if (activity.value) {
      const [name, value] = activity.value.split("=");
      params.set(name, value);
    }
    if (offset) params.set("offset", String(offset));
    return params;
  }

  // a page of the list, with JupyterHub's pagination ({items, _pagination})
  function listPage(params) {
    params.set("all", "1");
    params.set("limit", String(PAGE_SIZE));
    return api("GET", `projects?${params}`, undefined, "application/jupyterhub-pagination+json");
  }

  async function load() {
    clearTimeout(pollTimer);
    const number = ++latest;
    const params = query();
    window.history.replaceState(null, "", params.toString() ? `?${params}` : window.location.pathname);
    let data;
    try {
      data = await listPage(params);
    } catch (e) {
      if (number === latest) {
        showError(errorBox, e);
        listFailed = true;
      }
      return;
    }
    if (number !== latest) return;
    if (listFailed) {
      showError(errorBox, null);
      listFailed = false;
    }
    shown = data;
    render();
    if (data.items.some((p) => p.state === "starting" || p.state === "stopping")) {
      pollTimer = setTimeout(load, POLL_MS);
    }
  }

  function stateBadge(state) {
    const cls = { running: "bg-success", starting: "bg-info", stopping: "bg-warning" }[state] || "bg-secondary";
    return el("span", { class: `badge ${cls} project-state` }, state);
  }

  // run an action on a project: its error (if any) says which project, a success what
  // happened; the list is read again either way
  function act(project, what, fn, button) {
    doneBox.hidden = true;
    listFailed = false;
    busy.add(project.id);
    return guard(
      errorBox,
      async () => {
        try {
          const said = await fn();
          if (said) {
            doneBox.textContent = said;
            doneBox.hidden = false;
          }
        } catch (e) {
          e.message = `Could not ${what} “${project.title}”: ${e.message}`;
          throw e;
        } finally {
          busy.delete(project.id);
          await load();
        }
      },
      button
    );
  }

  function serverButton(project, action) {
    const label = action === "start" ? "Start" : "Stop";
    return el(
      "button",
      {
        type: "button",
        class: `btn btn-sm ${action === "start" ? "btn-outline-success" : "btn-outline-danger"} project-${action}`,
        disabled: busy.has(project.id) ? "" : undefined,
        onclick: (event) =>
          act(project, action, async () => {
            await api("POST", `projects/${project.id}/${action}`);
            return null;
          }, event.currentTarget),
      },
      label
    );
  }

  function moveControls(project) {
    const choices = $("move-choices").content.cloneNode(true);
    const select = el(
      "select",
      { class: "form-select form-select-sm d-inline-block w-auto move-node", "aria-label": `Move “${project.title}” to` },
      el("option", { value: "" }, "Move to…"),
      choices
    );
    select.value = moveTo.get(project.id) || "";
    select.addEventListener("change", () => moveTo.set(project.id, select.value));
    const button = el(
      "button",
      {
        type: "button",
        class: "btn btn-sm btn-outline-primary project-move",
        disabled: busy.has(project.id) ? "" : undefined,
        onclick: (event) => {
          const node = select.value;
          if (!node) {
            showError(errorBox, new Error(`Choose the node to move “${project.title}” to.`));
            return;
          }
          const button = event.currentTarget;
          button.textContent = "Moving…";
          act(project, `move to ${node}`, async () => {
            const moved = await api("POST", `projects/${project.id}/move`, { node: node });
            moveTo.delete(project.id);
            return `Moved “${project.title}” from ${moved.moved.from || "nowhere"} to ${moved.moved.to}: ${moved.moved.files} files.`;
          }, button);
        },
      },
      "Move"
    );
    return [select, " ", button];
  }

  function actions(project) {
    const cell = el("td", { class: "text-nowrap project-actions" });
    if (mayManage) {
      if (project.state === "stopped") cell.append(serverButton(project, "start"));
      else cell.append(serverButton(project, "stop"));
      cell.append(" ");
    }
    if (mayMove) cell.append(...moveControls(project));
    return cell;
  }

  function ownerLink(name) {
    if (!name) return "";
    const params = new URLSearchParams({ owner: name });
    return el("a", { href: `?${params}`, class: "project-owner", title: `Only ${name}'s projects` }, name);
  }

  function row(project) {
    return el(
      "tr",
      { class: "admin-project-row", "data-project-id": project.id },
      el("td", {}, el("a", { href: `${base}projects/${project.id}`, class: "project-title" }, project.title)),
      el("td", {}, el("code", { class: "small", title: project.id }, project.id.slice(0, 8))),
      el("td", {}, ownerLink(project.owner)),
      el("td", { class: "project-people" }, project.collaborators.length),
      el("td", { class: "project-node" }, project.node || "—"),
      el("td", {}, stateBadge(project.state)),
      el("td", { class: "project-last-active", title: project.last_active || "" }, when(project.last_active)),
      el("td", { title: project.created }, when(project.created)),
      mayManage || mayMove ? actions(project) : null
    );
  }

  function render() {
    const { items, _pagination: pages } = shown;
    body.replaceChildren(...items.map(row));
    $("admin-projects-empty").hidden = items.length > 0;
    const first = items.length ? pages.offset + 1 : 0;
    $("projects-count").textContent = `${first}–${pages.offset + items.length} of ${pages.total} projects`;
    $("page-previous").disabled = pages.offset === 0;
    $("page-next").disabled = pages.offset + items.length >= pages.total;
  }

  function refilter() {
    offset = 0;
    load();
  }

  let typing = null;
  activity.addEventListener("change", refilter);
  for (const name of FIELDS) {
    const field = form.elements[name];
    if (field.tagName === "SELECT") {
      field.addEventListener("change", refilter);
    } else {
      field.addEventListener("input", () => {
        clearTimeout(typing);
        typing = setTimeout(refilter, TYPING_MS);
      });
    }
  }
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    clearTimeout(typing);
    refilter();
  });
  $("page-previous").addEventListener("click", () => {
    offset = Math.max(0, shown._pagination.offset - PAGE_SIZE);
    load();
  });
  $("page-next").addEventListener("click", () => {
    offset = shown._pagination.offset + PAGE_SIZE;
    load();
  });

  readQuery();
  load();
})();
