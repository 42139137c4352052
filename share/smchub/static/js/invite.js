// The invite page: join the project the link belongs to.
(function () {
  "use strict";
  const { api, showError, base } = window.smchub;
  const form = document.getElementById("accept-invite");
  if (!form) return;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const errorBox = document.getElementById("invite-error");
    showError(errorBox, null);
    try {
      const project = await api("POST", "invites/" + form.dataset.token);
      window.location = base + "projects/" + project.id;
    } catch (e) {
      showError(errorBox, e);
    }
  });
})();
