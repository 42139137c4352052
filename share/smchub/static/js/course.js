// One course: students with their status per assignment, the steps, grades, progress.
(function () {
  "use strict";
  const { api, el, guard, when, base, fillEnvironments } = window.smchub;
  const courseId = document.getElementById("course").dataset.courseId;
  const errorBox = document.getElementById("course-error");
  let course = null;
  // the grid's cell open in the editor: {student, assignment} ids, or null
  let selected = null;
  let jobsTimer = null;
  // the jobs' ids and progress as last listed (null before the first listing)
  let jobsSeen = null;
  // class-wide actions: jobs with no assignment
  const ACTIONS = ["start", "stop", "exec"];

  // a cell's state, most advanced step first: what the grid shows and how it sorts
  const STATES = ["failed", "none", "assigned", "collected", "graded", "returned"];

  function state(work, assignment) {
    if (work.error) return "failed";
    const steps = assignment.kind === "handout" ? ["assigned"] : ["assigned", "collected", "graded", "returned"];
    const done = steps.filter((s) => work[s]);
    return done.length ? done[done.length - 1] : "none";
  }

  // one formatter for the grid's thousands of dates: toLocaleString makes one per call
  const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "short", timeStyle: "short" });
  const short = (iso) => dateFormat.format(new Date(iso));

  // what the cell says in a few characters, and in full on hover
  function cell(student, assignment) {
    const work = student.work[assignment.id];
    const now = state(work, assignment);
    const lines = ["assigned", "collected", "graded", "returned"].filter((s) => work[s])
      .map((s) => `${s} ${short(work[s])}`);
    if (work.error) lines.unshift(`failed: ${work.error}`);
    if (work.due) lines.push(`due ${short(work.due)}${work.extension ? " (extension)" : ""}`);
    if (work.late) lines.push(`late: collected ${short(work.late_collected)}`);
    // the last autograding's total; its cells (and any that wait for a person) on hover
    const auto = work.autograde;
    if (auto) lines.push(`autograded ${auto.score}/${auto.max_score}`, ...auto.cells.map((c) =>
      `  ${c.notebook} ${c.cell_id}: ${c.points ?? "?"}/${c.max_points}${c.needs_manual_grade ? " (needs a person)" : ""}`));
    const label = now === "none" ? "—" : now === "graded" && work.grade ? `graded ${work.grade}` :
      now === "returned" && work.grade ? `returned ${work.grade}` : now;
    return el("td", { "data-assignment": assignment.path, "data-aid": assignment.id,
      class: `cell state-${now}${selected && selected.student === student.id &&
        selected.assignment === assignment.id ? " selected" : ""}`,
      title: lines.join("\n") || "not assigned yet", tabindex: "0" },
    label,
    work.extension ? el("span", { class: "extension-mark", title: "extension" }, "+") : null,
    work.late ? el("span", { class: "badge bg-warning text-dark ms-1 late" }, "late") : null,
    auto ? el("span", { class: "badge bg-info text-dark ms-1 autograde-score" },
      `${auto.score}/${auto.max_score}${auto.needs_manual_grade ? "*" : ""}`) : null);
  }

  // a datetime-local input's value as the API takes it (UTC), or null when empty
  function isoOrNull(value) {
    return value ? new Date(value).toISOString() : null;
  }

  // where a student is with their own deadline: when it is (an extension says so), when
  // the hub took their work at it, and whether work changed afterwards came in late
  function deadline(student, assignment) {
    const work = student.work[assignment.id];
    const parts = [el("div", {}, work.due ? el("span", { class: work.extension ? "extension" : "" },
      `due ${when(work.due)}${work.extension ? " (extension)" : ""}`) : "no due date")];
    if (work.due_collected) {
      // a class is collected a few students at a time, within minutes of the deadline;
      // much later means the hub was down then, and the work may hold later changes
      const after = Math.round((new Date(work.due_collected) - new Date(work.due)) / 60000);
      parts.push(el("div", { class: "due-collected" }, `collected at the deadline ${when(work.due_collected)}` +
        (after >= 10 ? ` (${after} min after the deadline)` : "")));
    }
    if (work.late) {
      parts.push(el("div", {}, el("span", { class: "badge bg-warning text-dark me-1 late" }, "late"),
        `changed after the deadline; collected ${when(work.late_collected)} into ${assignment.path}-collect-late`));
    }
    const input = el("input", { type: "datetime-local", class: "form-control form-control-sm",
      "aria-label": `Deadline of ${student.name} for ${assignment.path}` });
    const url = `courses/${courseId}/assignments/${assignment.id}/extensions/${student.id}`;
    const change = (method, body) => (event) => guard(errorBox, async () => {
      const answer = await api(method, url, body && body());
      await refresh();
      if (answer && answer.job) await runningJob(answer.job);
    }, event.target);
    const editor = el("div", { class: "d-flex gap-1 mt-1 extension-editor" }, input,
      el("button", { class: "btn btn-sm btn-outline-secondary extend",
        onclick: change("PUT", () => ({ due: isoOrNull(input.value) })) }, "Extend"),
      work.extension ? el("button", { class: "btn btn-sm btn-outline-secondary end-extension",
        onclick: change("DELETE") }, "End extension") : "");
    return el("div", { class: "small deadline mb-2" }, ...parts, editor);
  }

  function gradeEditor(student, assignment) {
    const work = student.work[assignment.id];
    const input = el("input", { class: "form-control form-control-sm grade", value: work.grade || "",
      "aria-label": `Grade of ${student.name} for ${assignment.path}`, size: 6 });
    const comments = el("input", { class: "form-control form-control-sm comments", value: work.comments || "",
      placeholder: "comments", "aria-label": `Comments for ${student.name} on ${assignment.path}` });
    const save = el("button", { class: "btn btn-sm btn-primary save-grade", onclick: (event) =>
      guard(errorBox, async () => {
        course = await api("PUT", `courses/${courseId}/assignments/${assignment.id}/grades/${student.id}`,
          { grade: input.value, comments: comments.value });
        render();
      }, event.target) }, "Save");
    return el("div", { class: "d-flex gap-1" }, input, comments, save);
  }

  function projectLink(student) {
    return student.project ? el("a", { class: "student-project", href: `${base}projects/${student.project}`,
      title: `${student.name}'s project` }, "project") : "";
  }

  // the one editor of the page: the chosen student's work on the chosen assignment
  function buildEditor() {
    const box = document.getElementById("cell-editor");
    const student = selected && course.students.find((s) => s.id === selected.student);
    const assignment = selected && course.assignments.find((a) => a.id === selected.assignment);
    if (!student || !assignment) {
      selected = null;
      box.hidden = true;
      box.replaceChildren();
      return;
    }
    const work = student.work[assignment.id];
    const now = state(work, assignment);
    box.hidden = false;
    box.dataset.student = student.name;
    box.dataset.assignment = assignment.path;
    box.replaceChildren(
      el("div", { class: "d-flex justify-content-between" },
        el("h3", { class: "h6" }, `${student.name} · ${assignment.path}`, " ", projectLink(student)),
        el("button", { class: "btn-close", "aria-label": "Close the editor", onclick: () => {
          selected = null;
          for (const td of document.querySelectorAll("#students-body td.selected")) td.classList.remove("selected");
          buildEditor();
        } })),
      el("div", { class: "small mb-2 editor-status" },
        work.error ? el("div", { class: "text-danger" }, `failed: ${work.error}`) : null,
        ...["assigned", "collected", "graded", "returned"].filter((s) => work[s])
          .map((s) => el("div", {}, `${s} ${when(work[s])}`)),
        now === "none" ? el("div", {}, "not assigned yet") : null),
      assignment.kind === "assignment" ? deadline(student, assignment) : null,
      assignment.kind === "assignment" ? gradeEditor(student, assignment) : null);
  }

  // someone signed up with the place's email without a verified address: only an
  // instructor who knows them may hand them the place
  function pendingMatch(student) {
    return el("div", { class: "pending-match small" },
      `${student.pending_match.name} signed up with this email (not verified) `,
      el("button", { class: "btn btn-sm btn-outline-primary approve", onclick: (event) =>
        guard(errorBox, async () => {
          course = await api("POST", `courses/${courseId}/students/${student.id}/approve`);
          render();
        }, event.target) }, `Approve ${student.pending_match.name}`));
  }

  // which students the search, the filter and the sort let through, in order
  function shownStudents() {
    const query = document.getElementById("student-search").value.trim().toLowerCase();
    const filter = document.getElementById("student-filter").value;
    const chosen = document.getElementById("filter-assignment").value;
    const assignments = course.assignments.filter((a) => !chosen || String(a.id) === chosen);
    const test = {
      "not-collected": (w, a) => a.kind === "assignment" && !w.collected,
      failed: (w) => Boolean(w.error),
      late: (w) => w.late,
      ungraded: (w, a) => a.kind === "assignment" && Boolean(w.collected) && !w.graded,
    }[filter];
    const shown = course.students.filter((s) =>
      (!query || [s.name, s.username, s.email].some((v) => v && v.toLowerCase().includes(query))) &&
      (!test || assignments.some((a) => test(s.work[a.id], a))));
    const [by, aid] = document.getElementById("student-sort").value.split(":");
    const byName = (x, y) => x.name.localeCompare(y.name);
    if (by === "name") return shown.sort(byName);
    const a = course.assignments.find((x) => String(x.id) === aid);
    if (!a) return shown.sort(byName);
    if (by === "status") {
      const rank = (s) => STATES.indexOf(state(s.work[a.id], a));
      return shown.sort((x, y) => rank(x) - rank(y) || byName(x, y));
    }
    // by grade: numbers in order, then other grades alphabetically, then none
    const key = (s) => {
      const g = s.work[a.id].grade;
      if (g === null || g === undefined || g === "") return [2, 0, ""];
      return isNaN(Number(g)) ? [1, 0, g] : [0, Number(g), ""];
    };
    return shown.sort((x, y) => {
      const [kx, ky] = [key(x), key(y)];
      return kx[0] - ky[0] || kx[1] - ky[1] || kx[2].localeCompare(ky[2]) || byName(x, y);
    });
  }

  // the choices that name assignments follow the course's assignments, keeping the choice
  function syncChoices() {
    const chosen = document.getElementById("filter-assignment");
    const sort = document.getElementById("student-sort");
    const [keepA, keepS] = [chosen.value, sort.value];
    chosen.replaceChildren(el("option", { value: "" }, "any assignment"),
      ...course.assignments.map((a) => el("option", { value: a.id }, a.path)));
    sort.replaceChildren(el("option", { value: "name" }, "name"),
      ...course.assignments.flatMap((a) => [el("option", { value: `status:${a.id}` }, `${a.path}: status`),
        ...(a.kind === "assignment" ? [el("option", { value: `grade:${a.id}` }, `${a.path}: grade`)] : [])]));
    chosen.value = [...chosen.options].some((o) => o.value === keepA) ? keepA : "";
    sort.value = [...sort.options].some((o) => o.value === keepS) ? keepS : "name";
  }

  function studentRow(s) {
    return el("tr", { "data-student": s.name, "data-sid": s.id },
      el("th", { scope: "row", class: "student-name" }, s.name,
        s.signed_up ? "" : el("small", { class: "text-muted" }, " (not signed up yet)"), " ",
        el("small", {}, projectLink(s)),
        s.pending_match ? pendingMatch(s) : ""),
      ...course.assignments.map((a) => cell(s, a)),
      el("td", {}, el("button", { class: "btn btn-sm btn-outline-danger remove-student",
        "data-sid": s.id }, "Remove")));
  }

  // the rows only: a search, filter or sort changes nothing else
  function buildRows() {
    const shown = shownStudents();
    const rows = document.createDocumentFragment();
    for (const s of shown) rows.append(studentRow(s));
    document.getElementById("students-body").replaceChildren(rows);
    document.getElementById("students-count").textContent =
      `${shown.length} of ${course.students.length} students`;
  }

  function buildGrid() {
    syncChoices();
    const head = document.getElementById("students-head");
    // fixed column widths: the browser lays out 6,000 cells without measuring each
    document.getElementById("students-table").style.width = `${18 + 6.5 * (course.assignments.length + 1)}rem`;
    head.replaceChildren(el("tr", {}, el("th", { class: "student-head" }, "Student"),
      ...course.assignments.map((a) => el("th", { class: "assignment-head", "data-aid": a.id,
        title: `${a.path}: click to sort by its status${a.kind === "assignment" ? ", again by its grade" : ""}` }, a.path)),
      el("th", {})));
    buildRows();
    buildEditor();
  }

  // the page is built again whenever the course changes (also when a job another
  // instructor or the hub started moves on): what someone is typing stays, and so do
  // the sections they opened and the field they are in
  function render() {
    const page = document.getElementById("course");
    const typed = new Map();
    for (const input of page.querySelectorAll("input[aria-label]")) {
      if (input.value !== input.defaultValue) typed.set(input.getAttribute("aria-label"), input.value);
    }
    const opened = new Set([...page.querySelectorAll("details[data-key][open]")].map((d) => d.dataset.key));
    const focused = page.contains(document.activeElement) ? document.activeElement.getAttribute("aria-label") : null;
    build();
    for (const input of page.querySelectorAll("input[aria-label]")) {
      const key = input.getAttribute("aria-label");
      if (typed.has(key)) input.value = typed.get(key);
      if (focused && key === focused) input.focus();
    }
    for (const details of page.querySelectorAll("details[data-key]")) {
      if (opened.has(details.dataset.key)) details.open = true;
    }
  }

  function build() {
    document.getElementById("course-title").textContent = course.title;
    syncSettings();
    buildGrid();
    const list = document.getElementById("assignments");
    list.replaceChildren(...course.assignments.map((a) => {
      const steps = a.kind === "handout" ? [["assign", "Copy out"]] :
        [["assign", "Assign"], ["collect", "Collect"], ["autograde", "Autograde"], ["return", "Return"],
          // peer feedback: collected work out to k reviewers each, their feedback back
          ...(a.peer_review ? [["peer", "Send for peer review"], ["peer-collect", "Collect peer feedback"]] : [])];
      const peers = el("input", { type: "number", min: "1", step: "1", class: "form-control form-control-sm",
        style: "width: 5em", "aria-label": `Peer reviewers per work of ${a.path}`,
        value: a.peer_review ? String(a.peer_review.k) : "" });
      const setPeers = a.kind === "assignment" ? el("span", { class: "d-flex gap-1 peer-editor" }, peers,
        el("button", { class: "btn btn-sm btn-outline-secondary set-peers", onclick: (event) =>
          guard(errorBox, async () => {
            course = await api("PATCH", `courses/${courseId}/assignments/${a.id}`,
              { peer_review: peers.value === "" ? null : { k: Number(peers.value) } });
            render();
          }, event.target), title: "Reviewers per work; empty: no peer feedback" }, "Set peers")) : null;
      const due = el("input", { type: "datetime-local", class: "form-control form-control-sm",
        "aria-label": `Due date of ${a.path}` });
      // a new due date: students without an extension get it in DUE_DATE.txt, and the
      // hub collects their work then
      const setDue = a.kind === "assignment" ? el("span", { class: "d-flex gap-1 due-editor" }, due,
        el("button", { class: "btn btn-sm btn-outline-secondary set-due", onclick: (event) =>
          guard(errorBox, async () => {
            const answer = await api("PATCH", `courses/${courseId}/assignments/${a.id}`,
              { due: isoOrNull(due.value) });
            course = answer;
            render();
            if (answer.job) await runningJob(answer.job);
          }, event.target), title: "Empty: no due date" }, "Set due date")) : null;
      // the autograder's time limits for this assignment's notebooks, in seconds
      const limit = (key, label) => el("input", { type: "number", min: "1", step: "1",
        class: "form-control form-control-sm", style: "width: 5.5em", title: label,
        "aria-label": `${label} of ${a.path}`, value: a.autograde ? String(a.autograde[key]) : "" });
      const cellLimit = limit("cell_timeout", "Seconds per cell");
      const notebookLimit = limit("notebook_timeout", "Seconds per notebook");
      const setLimits = a.kind === "assignment" ? el("span", { class: "d-flex gap-1 autograde-limits" },
        cellLimit, notebookLimit,
        el("button", { class: "btn btn-sm btn-outline-secondary set-limits", onclick: (event) =>
          guard(errorBox, async () => {
            course = await api("PATCH", `courses/${courseId}/assignments/${a.id}`,
              { autograde: { cell_timeout: Number(cellLimit.value), notebook_timeout: Number(notebookLimit.value) } });
            render();
          }, event.target), title: "The autograder's time limits: seconds per cell, per notebook" }, "Set limits")) : null;
      // once something is autograded: its page of questions, answers and manual grades
      const autograded = course.students.some((s) => s.work[a.id] && s.work[a.id].autograde);
      const grading = autograded ? el("a", { class: "btn btn-sm btn-outline-primary grading-link",
        href: `${base}courses/${courseId}/assignments/${a.id}/grading` }, "Grade by question") : null;
      return el("li", { class: "list-group-item d-flex justify-content-between", "data-assignment": a.path },
        el("span", {}, `${a.path} (${a.kind})`, a.due ? ` — due ${when(a.due)}` : ""),
        el("span", { class: "d-flex gap-1" }, setDue, setPeers, setLimits, ...steps.map(([step, label]) =>
          el("button", { class: `btn btn-sm btn-primary step-${step}`, onclick: (event) =>
            guard(errorBox, () => runStep(a, step), event.target) }, label)), grading));
    }));
  }

  async function runningJob(job) {
    await loadJobs();
    await follow(job);
  }

  async function runStep(assignment, step, students) {
    await runningJob(await api("POST", `courses/${courseId}/assignments/${assignment.id}/${step}`,
      students ? { students } : {}));
  }

  async function runAction(action, body) {
    await runningJob(await api("POST", `courses/${courseId}/actions/${action}`, body));
  }

  function jobLabel(job) {
    if (job.step === "start") return "Start all";
    if (job.step === "stop") return "Stop all";
    if (job.step === "exec") return `Run in all: ${job.command}`;
    if (job.step === "due") return `Due date written to DUE_DATE.txt: ${job.path}`;
    if (job.trigger === "deadline") return `Collected at the deadline: ${job.path}`;
    return `${job.step} ${job.path}`;
  }

  // the job again, for its failed students only; null if it cannot be (assignment deleted)
  function retryOf(job) {
    const students = job.failed.map((f) => f.student);
    // DUE_DATE.txt is written again by setting the date again
    if (job.step === "due") return null;
    if (ACTIONS.includes(job.step)) {
      return () => runAction(job.step, job.step === "exec" ?
        { students, command: job.command, timeout: job.timeout } : { students });
    }
    const assignment = course.assignments.find((a) => a.id === job.assignment);
    return assignment ? () => runStep(assignment, job.step, students) : null;
  }

  async function follow(job) {
    const box = document.getElementById("job");
    box.hidden = false;
    document.getElementById("job-label").textContent = jobLabel(job);
    document.getElementById("job-retry").hidden = true;
    while (true) {
      document.getElementById("job-count").textContent = `${job.done} of ${job.total}`;
      document.getElementById("job-bar").style.width = `${job.total ? (100 * job.done) / job.total : 100}%`;
      const failures = document.getElementById("job-failures");
      failures.replaceChildren(...job.failed.map((f) => el("li", {}, `${f.name}: ${f.error}`)));
      if (job.finished) break;
      await new Promise((resolve) => setTimeout(resolve, 500));
      job = await api("GET", `courses/${courseId}/jobs/${job.id}`);
    }
    document.getElementById("job-label").textContent =
      `${jobLabel(job)}: done` + (job.failed.length ? `, ${job.failed.length} failed` : "");
    const retry = document.getElementById("job-retry");
    const again = job.failed.length ? retryOf(job) : null;
    retry.hidden = !again;
    retry.onclick = (event) => guard(errorBox, again, event.target);
    await refresh();
  }

  async function refresh() {
    course = await api("GET", `courses/${courseId}`);
    render();
    await loadJobs();
  }

  function jobStatus(job) {
    const failed = job.failed.length ? `, ${job.failed.length} failed` : "";
    if (!job.finished) return `running: ${job.done} of ${job.total}${failed}`;
    if (job.outcome === "abandoned") return `stopped (${job.reason})${failed}`;
    return `done: ${job.total - job.failed.length} of ${job.total}${failed}`;
  }

  // exec: every student's exit code and the end of their output (text, never markup)
  function execResults(job) {
    const failed = job.failed.length;
    return el("details", { class: "exec-results mb-1", open: failed ? "" : null },
      el("summary", { class: "small" }, "Exit code and output per student"),
      el("table", { class: "table table-sm small mb-0" },
        el("thead", {}, el("tr", {}, el("th", {}, "Student"), el("th", {}, "State"),
          el("th", {}, "Exit code"), el("th", {}, "Output"))),
        el("tbody", {}, ...job.students.map((s) => el("tr", { "data-student": s.name },
          el("td", {}, s.name),
          el("td", { class: s.state === "failed" ? "text-danger" : "" }, s.state === "failed" ? `failed: ${s.error}` : s.state),
          el("td", {}, s.exit_code === null ? "—" : s.exit_code),
          el("td", {}, s.output ? el("pre", { class: "mb-0 exec-output",
            style: "white-space: pre-wrap; max-height: 12em; overflow: auto" }, s.output) : ""))))));
  }

  function jobItem(job) {
    const restarts = job.restarts ? ` · resumed after ${job.restarts} hub restart${job.restarts > 1 ? "s" : ""}` : "";
    const again = job.finished && job.failed.length ? retryOf(job) : null;
    const retry = again ?
      el("button", { class: "btn btn-sm btn-outline-warning job-retry", onclick: (event) =>
        guard(errorBox, again, event.target) },
      "Retry the failed students") : null;
    return el("li", { class: "list-group-item", "data-job": job.id },
      el("div", { class: "d-flex justify-content-between" },
        el("span", {}, jobLabel(job),
          el("small", { class: "text-muted" }, ` · ${when(job.created)}` +
            (job.started_by ? ` by ${job.started_by}` : job.trigger === "deadline" ? " by the hub" : "") +
            restarts)),
        el("span", { class: "job-status" }, jobStatus(job))),
      job.step === "exec" ? execResults(job) : job.failed.length ? el("ul", { class: "text-danger small mb-1" },
        ...job.failed.map((f) => el("li", {}, `${f.name}: ${f.error}`))) : null,
      retry);
  }

  // while a job runs (one started here, or one a restarted hub took up) the list follows it
  // and when none does, a slower look finds those the hub starts by itself at deadlines;
  // a job that moved on re-reads the students' table, whose cells it changed
  async function loadJobs() {
    clearTimeout(jobsTimer);
    const jobs = await api("GET", `courses/${courseId}/jobs?days=7`);
    document.getElementById("jobs").replaceChildren(...jobs.map(jobItem));
    const seen = JSON.stringify(jobs.map((job) => [job.id, job.done, job.finished]));
    const moved = jobsSeen !== null && seen !== jobsSeen;
    jobsSeen = seen;
    const running = jobs.some((job) => !job.finished);
    jobsTimer = setTimeout(() => guard(errorBox, loadJobs), running ? 2000 : 30000);
    if (moved) {
      course = await api("GET", `courses/${courseId}`);
      render();
    }
  }

  // one listener for the whole grid rather than one per cell (6,000 in a class of 300)
  const grid = document.getElementById("students-body");
  function choose(event) {
    const remove = event.target.closest("button.remove-student");
    if (remove) {
      guard(errorBox, async () => {
        course = await api("DELETE", `courses/${courseId}/students/${remove.dataset.sid}`);
        render();
      }, remove);
      return;
    }
    const td = event.target.closest("td[data-aid]");
    if (!td || event.target.closest("a, button")) return;
    selected = { student: Number(td.parentElement.dataset.sid), assignment: Number(td.dataset.aid) };
    for (const old of grid.querySelectorAll("td.selected")) old.classList.remove("selected");
    td.classList.add("selected");
    buildEditor();
    document.getElementById("cell-editor").scrollIntoView({ block: "nearest" });
  }
  grid.addEventListener("click", choose);
  grid.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      choose(event);
    }
  });
  // a column's head sorts by its status, clicked again by its grade; the first by name
  document.getElementById("students-head").addEventListener("click", (event) => {
    const th = event.target.closest("th");
    if (!th || !course) return;
    const sort = document.getElementById("student-sort");
    const aid = th.dataset.aid;
    if (!aid) sort.value = "name";
    else if (sort.value === `status:${aid}` && [...sort.options].some((o) => o.value === `grade:${aid}`)) {
      sort.value = `grade:${aid}`;
    } else sort.value = `status:${aid}`;
    buildRows();
  });
  document.getElementById("student-search").addEventListener("input", () => course && buildRows());
  for (const id of ["student-filter", "filter-assignment", "student-sort"]) {
    document.getElementById(id).addEventListener("change", () => course && buildRows());
  }
  document.getElementById("add-students").addEventListener("submit", (event) => {
    event.preventDefault();
    guard(errorBox, async () => {
      const answer = await api("POST", `courses/${courseId}/students`,
        { students: document.getElementById("students-list").value });
      document.getElementById("add-results").replaceChildren(...answer.results.map((r) =>
        el("li", { class: r.result === "error" ? "text-danger" : "" },
          `${r.entry}: ${r.result}${r.message ? " — " + r.message : ""}`)));
      document.getElementById("students-list").value = "";
      course = answer.course;
      render();
    }, event.submitter);
  });
  document.getElementById("add-assignment").addEventListener("submit", (event) => {
    event.preventDefault();
    const due = document.getElementById("assignment-due").value;
    guard(errorBox, async () => {
      course = await api("POST", `courses/${courseId}/assignments`, {
        path: document.getElementById("assignment-path").value,
        kind: document.getElementById("assignment-kind").value,
        due: due ? new Date(due).toISOString() : null,
      });
      document.getElementById("assignment-path").value = "";
      render();
    }, event.submitter);
  });
  document.getElementById("start-all").addEventListener("click", (event) =>
    guard(errorBox, () => runAction("start", {}), event.target));
  document.getElementById("stop-all").addEventListener("click", (event) =>
    guard(errorBox, () => runAction("stop", {}), event.target));
  document.getElementById("run-in-all").addEventListener("submit", (event) => {
    event.preventDefault();
    const timeout = document.getElementById("run-timeout").value;
    guard(errorBox, () => runAction("exec", {
      command: document.getElementById("run-command").value,
      ...(timeout ? { timeout: Number(timeout) } : {}),
    }), event.submitter);
  });

  // the course's settings: students' sharing, assistants as viewers, the exam window
  const FLAGS = { students_can_share: "setting-students-can-share",
    assistants_view_only: "setting-assistants-view-only", no_terminals: "setting-no-terminals",
    no_downloads: "setting-no-downloads", no_network: "setting-no-network" };
  const settingsForm = document.getElementById("settings-form");
  // the settings the form last showed; once the person changes the form, a reload of the
  // course (jobs moving on reload it) leaves what they chose until they save
  let settingsShown = null;
  let settingsEdited = false;

  // an API time (UTC) as a datetime-local input's value (the browser's local time)
  function localInput(iso) {
    if (!iso) return "";
    const date = new Date(iso);
    return new Date(date.getTime() - date.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
  }

  function syncSettings() {
    const settings = course.settings;
    document.getElementById("exam-open").hidden = !settings.exam_open;
    const shown = JSON.stringify(settings);
    if (settingsEdited || shown === settingsShown) return;
    settingsShown = shown;
    for (const [name, id] of Object.entries(FLAGS)) document.getElementById(id).checked = settings[name];
    document.getElementById("setting-exam-start").value = localInput(settings.exam_start);
    document.getElementById("setting-exam-end").value = localInput(settings.exam_end);
    // null: the hub's default, which fillEnvironments selects
    fillEnvironments(
      document.getElementById("setting-environment"),
      document.getElementById("setting-environment-field"),
      settings.environment
    ).catch(() => {});
  }

  for (const type of ["input", "change"]) {
    settingsForm.addEventListener(type, () => {
      settingsEdited = true;
      document.getElementById("settings-saved").hidden = true;
    });
  }
  settingsForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const settings = {
      exam_start: isoOrNull(document.getElementById("setting-exam-start").value),
      exam_end: isoOrNull(document.getElementById("setting-exam-end").value),
    };
    for (const [name, id] of Object.entries(FLAGS)) settings[name] = document.getElementById(id).checked;
    const environment = document.getElementById("setting-environment");
    if (!environment.parentElement.hidden) settings.environment = environment.value;
    guard(document.getElementById("settings-error"), async () => {
      course = await api("PATCH", `courses/${courseId}`, { settings });
      settingsEdited = false;
      render();
      document.getElementById("settings-saved").hidden = false;
    }, event.submitter);
  });
  guard(errorBox, refresh);
})();
