// The invite page: join the project the link belongs to.
(function () {
  "use strict";
  const { api, guard, base } = window.smchub;
  const form = document.getElementById("accept-invite");
  if (!form) return;
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    guard(
      document.getElementById("invite-error"),
      async () => {
        const project = await api("POST", "invites/" + encodeURIComponent(form.dataset.token));
        window.location = base + "projects/" + project.id;
      },
      document.getElementById("accept")
    );
  });
})();
