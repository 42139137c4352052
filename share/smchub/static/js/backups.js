// The Backups section of a project's page: its snapshots, the files inside one,
// download, restore, "snapshot now", and the last snapshot that failed.
(function () {
  "use strict";
  const { api, el, showError, guard, when, size, base } = window.smchub;
  const byId = (id) => document.getElementById(id);
  const projectId = byId("project").dataset.projectId;
  const snapshotsPath = `projects/${projectId}/snapshots`;
  const errorBox = byId("backups-error");
  const browseError = byId("browse-error");

  // what set each snapshot off, in the words of the person reading the list
  const TRIGGERS = {
    stop: "the project stopped",
    interval: "files changed while it ran",
    move: "before a move to another node",
    course: "before a course step",
    manual: "asked for",
    delete: "the project was deleted",
    restore: "before a restore",
  };

  let snapshots = [];
  let running = false; // the hub is taking a snapshot
  let asking = false; // this page asked for one and waits for the answer
  let lastAnswer = null; // redraw the list only when it changed
  let loadFailed = false;
  // the snapshot whose files are shown, and the folder shown
  let browsing = null;
  // answers to folder listings arrive in any order: only the latest is shown
  let listing = 0;

  function plural(n, word) {
    return `${n} ${word}${n === 1 ? "" : "s"}`;
  }

  // a path in the API's URLs: each name encoded, the slashes kept
  function encodePath(path) {
    return path.split("/").map(encodeURIComponent).join("/");
  }

  function downloadUrl(snapshot, path) {
    return `${base}api/${snapshotsPath}/${encodeURIComponent(snapshot.id)}/files/${encodePath(path)}`;
  }

  function renderRunning() {
    byId("snapshot-now").disabled = asking || running;
    byId("snapshot-running").hidden = !(asking || running);
  }

  function renderFailure(failure) {
    const box = byId("snapshot-failure");
    box.textContent = failure
      ? `The last snapshot failed (${when(failure.time)}): ${failure.message} ` +
        "The project works as usual; the hub tries again at the next snapshot."
      : "";
    box.hidden = !failure;
  }

  function snapshotRow(snapshot) {
    const chosen = browsing && browsing.snapshot.id === snapshot.id;
    return el(
      "tr",
      { class: "snapshot" + (chosen ? " table-active" : ""), "data-snapshot-id": snapshot.id, "data-trigger": snapshot.trigger },
      el("td", {}, el("time", { datetime: snapshot.time, title: snapshot.short_id }, when(snapshot.time))),
      el("td", { class: "snapshot-trigger" }, TRIGGERS[snapshot.trigger] || snapshot.trigger),
      el(
        "td",
        { class: "small" },
        `${snapshot.files_new} new, ${snapshot.files_changed} changed, ${size(snapshot.bytes_added)} added`
      ),
      el(
        "td",
        { class: "text-end" },
        el(
          "button",
          { class: "btn btn-sm btn-outline-secondary browse", onclick: (event) => browse(snapshot, "", event.currentTarget) },
          "Browse files"
        )
      )
    );
  }

  function renderList() {
    byId("snapshots").querySelector("tbody").replaceChildren(...snapshots.map(snapshotRow));
    byId("snapshots-empty").hidden = snapshots.length > 0;
  }

  // a failure is shown until the list loads again, without hiding the error of
  // something the person did
  async function refresh() {
    let answer;
    try {
      answer = await api("GET", snapshotsPath);
    } catch (e) {
      loadFailed = true;
      e.message = "Could not load the snapshots: " + e.message;
      showError(errorBox, e);
      return;
    }
    if (loadFailed) {
      loadFailed = false;
      showError(errorBox, null);
    }
    running = answer.running;
    renderRunning();
    const text = JSON.stringify(answer);
    if (text === lastAnswer) return;
    lastAnswer = text;
    snapshots = answer.snapshots;
    renderFailure(answer.error);
    renderList();
  }

  // polled, faster while a snapshot is being taken
  let timer = null;
  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(poll, running || asking ? 2000 : 10000);
  }

  async function poll() {
    await refresh();
    schedule();
  }

  function folderLink(label, path) {
    return el(
      "a",
      {
        href: "#",
        onclick: (event) => {
          event.preventDefault();
          browse(browsing.snapshot, path);
        },
      },
      label
    );
  }

  function renderPath() {
    const names = browsing.path ? browsing.path.split("/") : [];
    const crumbs = [el("li", { class: "breadcrumb-item" }, names.length ? folderLink("home", "") : "home")];
    names.forEach((name, i) => {
      const last = i === names.length - 1;
      crumbs.push(
        el(
          "li",
          { class: "breadcrumb-item" + (last ? " active" : ""), "aria-current": last ? "page" : null },
          last ? name : folderLink(name, names.slice(0, i + 1).join("/"))
        )
      );
    });
    byId("browse-path").replaceChildren(...crumbs);
  }

  function entryRow(entry) {
    const snapshot = browsing.snapshot;
    const isFolder = entry.type === "dir";
    const name = isFolder
      ? folderLink(entry.name + "/", entry.path)
      : el("span", {}, entry.name, entry.type === "symlink" ? el("small", { class: "text-muted" }, " (link)") : null);
    name.classList.add(isFolder ? "snapshot-folder" : "snapshot-file");
    const download =
      entry.type === "symlink"
        ? null
        : el(
            "a",
            {
              class: "btn btn-sm btn-outline-secondary download",
              href: downloadUrl(snapshot, entry.path),
              download: "",
              title: isFolder ? "Download the folder as a .tar.gz" : "Download the file",
            },
            "Download"
          );
    const restore = el(
      "button",
      { class: "btn btn-sm btn-outline-primary restore", onclick: () => askRestore(entry) },
      "Restore"
    );
    return el(
      "tr",
      { class: "snapshot-entry", "data-path": entry.path, "data-type": entry.type },
      el("td", {}, name),
      el("td", {}, isFolder ? "" : size(entry.size)),
      el("td", {}, entry.mtime ? when(entry.mtime) : ""),
      el("td", { class: "text-end text-nowrap" }, download, " ", restore)
    );
  }

  function renderFolder(entries) {
    const rows = [];
    if (browsing.path) {
      const up = browsing.path.split("/").slice(0, -1).join("/");
      rows.push(el("tr", { class: "snapshot-up" }, el("td", { colspan: 4 }, folderLink("↑ up", up))));
    }
    const sorted = [...entries].sort(
      (a, b) => (a.type === "dir" ? 0 : 1) - (b.type === "dir" ? 0 : 1) || a.name.localeCompare(b.name)
    );
    rows.push(...sorted.map(entryRow));
    byId("snapshot-files").querySelector("tbody").replaceChildren(...rows);
    byId("snapshot-folder-empty").hidden = entries.length > 0;
  }

  // show a folder of a snapshot (the home's top with path "")
  function browse(snapshot, path, button) {
    const mine = ++listing;
    byId("snapshot-browser").hidden = false;
    byId("restore-confirm").hidden = true;
    byId("restore-result").hidden = true;
    return guard(
      browseError,
      async () => {
        const answer = await api(
          "GET",
          `${snapshotsPath}/${encodeURIComponent(snapshot.id)}/files?path=${encodeURIComponent(path)}`
        );
        if (mine !== listing) return;
        browsing = { snapshot, path: answer.path || "" };
        byId("browse-time").textContent = when(snapshot.time);
        renderPath();
        renderFolder(answer.entries);
        renderList();
      },
      button
    );
  }

  // restoring writes into the project: say where first, and let the person change it
  function askRestore(entry) {
    const snapshot = browsing.snapshot;
    const box = byId("restore-confirm");
    byId("restore-result").hidden = true;
    const target = el("input", {
      id: "restore-target",
      class: "form-control form-control-sm",
      value: entry.path,
      "aria-label": "Where in the project to restore it",
    });
    const go = el("button", { id: "restore-go", type: "submit", class: "btn btn-sm btn-primary" }, "Restore here");
    const cancel = el(
      "button",
      { id: "restore-cancel", type: "button", class: "btn btn-sm btn-outline-secondary", onclick: () => (box.hidden = true) },
      "Cancel"
    );
    const form = el(
      "form",
      {
        onsubmit: (event) => {
          event.preventDefault();
          guard(browseError, () => restore(snapshot, entry, target.value.trim()), go);
        },
      },
      el(
        "div",
        { class: "mb-2" },
        `Restore the ${entry.type === "dir" ? "folder" : "file"} “${entry.path}” as it was on ` +
          `${when(snapshot.time)}, into the project at:`
      ),
      el("div", { class: "d-flex gap-2" }, target, go, cancel),
      el(
        "div",
        { class: "small mt-1" },
        "What is there now and changed since the snapshot is kept beside it, as name~."
      )
    );
    box.replaceChildren(form);
    box.hidden = false;
    target.focus();
  }

  async function restore(snapshot, entry, targetPath) {
    const body = { path: entry.path };
    if (targetPath && targetPath !== entry.path) body.target_path = targetPath;
    const result = await api("POST", `${snapshotsPath}/${encodeURIComponent(snapshot.id)}/restore`, body);
    byId("restore-confirm").hidden = true;
    const lines = [
      el("div", {}, `Restored ${plural(result.files, "file")} (${size(result.bytes)}) to “${body.target_path || entry.path}”.`),
    ];
    if (result.kept && result.kept.length) {
      lines.push(
        el("div", {}, "The project's own changed copies were kept as:"),
        el("ul", { class: "mb-0 restore-kept" }, ...result.kept.map((path) => el("li", { class: "font-monospace" }, path)))
      );
    }
    const box = byId("restore-result");
    box.replaceChildren(...lines);
    box.hidden = false;
  }

  byId("snapshot-now").addEventListener("click", () =>
    guard(errorBox, async () => {
      asking = true;
      renderRunning();
      try {
        // 201 with the snapshot when it was quick, 202 while it goes on: the list tells
        await api("POST", snapshotsPath);
      } finally {
        asking = false;
        renderRunning();
      }
      lastAnswer = null;
      await refresh();
      schedule();
    })
  );
  poll();
})();
