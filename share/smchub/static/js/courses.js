// The courses page: the courses you teach, and a form to start one.
(function () {
  "use strict";
  const { api, el, guard, base } = window.smchub;
  const errorBox = document.getElementById("courses-error");

  async function refresh() {
    const list = document.getElementById("courses");
    const courses = await api("GET", "courses");
    list.replaceChildren(
      ...courses.map((c) =>
        el("li", { class: "list-group-item" }, el("a", { href: base + "courses/" + c.id }, c.title))
      )
    );
    if (!courses.length) list.append(el("li", { class: "list-group-item text-muted" }, "No courses yet."));
  }

  document.getElementById("create-course").addEventListener("submit", (event) => {
    event.preventDefault();
    guard(errorBox, async () => {
      const course = await api("POST", "courses", {
        project: document.getElementById("course-project").value,
        title: document.getElementById("course-title").value,
      });
      window.location = base + "courses/" + course.id;
    }, event.submitter);
  });
  guard(errorBox, refresh);
})();
