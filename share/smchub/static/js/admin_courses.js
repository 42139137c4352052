// The admins' courses page: the list comes with the page; this searches it and shows
// its times in the reader's own time zone.
(function () {
  "use strict";
  const { when } = window.smchub;
  const $ = (id) => document.getElementById(id);
  const rows = [...document.querySelectorAll("#admin-courses-body tr.admin-course-row")];

  for (const time of document.querySelectorAll("#admin-courses-body time[datetime]")) {
    time.textContent = when(time.getAttribute("datetime"));
  }

  function search() {
    const words = $("course-search").value.toLowerCase().split(/\s+/).filter(Boolean);
    let count = 0;
    for (const row of rows) {
      const match = words.every((word) => row.dataset.search.includes(word));
      row.hidden = !match;
      if (match) count += 1;
    }
    const courses = rows.length === 1 ? "course" : "courses";
    $("courses-count").textContent =
      count === rows.length ? `${rows.length} ${courses}` : `${count} of ${rows.length} ${courses}`;
    $("admin-courses-empty").hidden = count > 0;
  }

  $("course-search").addEventListener("input", search);
})();
