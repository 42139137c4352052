// JupyterHub's admin page lists each project's server user by the project's id. This
// puts the project's title beside every such name the page shows, as it renders them
// (the page is a React app that redraws as people page, sort and search), and marks
// the row as a project's, whose user the projects API manages.
(function () {
  "use strict";
  const { api } = window.smchub;
  const PROJECT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
  const titles = new Map(); // id -> title, or null when the project is gone or hidden
  const asked = new Set();

  function label(node, id) {
    const title = titles.get(id);
    if (!title || node.dataset.smchubProject === id) return;
    node.dataset.smchubProject = id;
    const tag = document.createElement("span");
    tag.className = "smchub-project-title badge text-bg-light ms-2";
    tag.textContent = `project: ${title}`;
    tag.title = "A project's server; delete or change it on the project's page";
    node.after(tag);
  }

  // the innermost elements of the users' rows whose whole text is a project id
  function idNodes() {
    const found = [];
    const rows = '#react-admin-hook tr[data-testid^="user-row-"]';
    for (const node of document.querySelectorAll(`${rows} td, ${rows} td *`)) {
      if (node.children.length === 0 && PROJECT_ID.test(node.textContent.trim())) {
        found.push(node);
      }
    }
    return found;
  }

  async function fetchTitle(id) {
    asked.add(id);
    try {
      const project = await api("GET", `projects/${id}`);
      titles.set(id, project.title);
    } catch (e) {
      titles.set(id, null);
    }
  }

  async function refresh() {
    const nodes = idNodes();
    const missing = [...new Set(nodes.map((n) => n.textContent.trim()))].filter(
      (id) => !asked.has(id),
    );
    await Promise.all(missing.map(fetchTitle));
    for (const node of idNodes()) label(node, node.textContent.trim());
  }

  let pending = null;
  new MutationObserver(() => {
    // one pass per burst of React's changes
    if (pending) return;
    pending = setTimeout(() => {
      pending = null;
      refresh();
    }, 100);
  }).observe(document.getElementById("react-admin-hook") || document.body, {
    childList: true,
    subtree: true,
  });
  refresh();
})();
