// One course: students with their status per assignment, the steps, grades, progress.
(function () {
  "use strict";
  const { api, el, guard, when } = window.smchub;
  const courseId = document.getElementById("course").dataset.courseId;
  const errorBox = document.getElementById("course-error");
  let course = null;
  let jobsTimer = null;
  // the jobs' ids and progress as last listed (null before the first listing)
  let jobsSeen = null;
  // class-wide actions: jobs with no assignment
  const ACTIONS = ["start", "stop", "exec"];

  function status(work, assignment) {
    if (work.error) return el("span", { class: "text-danger", title: work.error }, "error: " + work.error);
    const steps = assignment.kind === "handout" ? ["assigned"] : ["assigned", "collected", "graded", "returned"];
    const done = steps.filter((s) => work[s]);
    return el("span", { title: done.map((s) => `${s} ${when(work[s])}`).join("\n") },
      done.length ? done[done.length - 1] : "—");
  }

  // a datetime-local input's value as the API takes it (UTC), or null when empty
  function isoOrNull(value) {
    return value ? new Date(value).toISOString() : null;
  }

  // where a student is with their own deadline: when it is (an extension says so), when
  // the hub took their work at it, and whether work changed afterwards came in late
  function deadline(student, assignment) {
    const work = student.work[assignment.id];
    const parts = work.due ? [el("span", { class: work.extension ? "extension" : "" },
      `due ${when(work.due)}${work.extension ? " (extension)" : ""}`)] : [];
    if (work.due_collected) {
      // a class is collected a few students at a time, within minutes of the deadline;
      // much later means the hub was down then, and the work may hold later changes
      const after = Math.round((new Date(work.due_collected) - new Date(work.due)) / 60000);
      parts.push(el("span", { class: "due-collected" }, ` · collected ${when(work.due_collected)}` +
        (after >= 10 ? ` (${after} min after the deadline)` : "")));
    }
    if (work.late) {
      parts.push(el("span", { class: "badge bg-warning text-dark ms-1 late",
        title: `changed after the deadline; collected ${when(work.late_collected)} into ${assignment.path}-collect-late` }, "late"));
    }
    const input = el("input", { type: "datetime-local", class: "form-control form-control-sm",
      "aria-label": `Deadline of ${student.name} for ${assignment.path}` });
    const url = `courses/${courseId}/assignments/${assignment.id}/extensions/${student.id}`;
    const change = (method, body) => (event) => guard(errorBox, async () => {
      const answer = await api(method, url, body && body());
      await refresh();
      if (answer.job) await runningJob(answer.job);
    }, event.target);
    const editor = el("details", { class: "small extension-editor", "data-key": `extension-${student.id}-${assignment.id}` },
      el("summary", {}, "Extension"),
      el("div", { class: "d-flex gap-1" }, input,
        el("button", { class: "btn btn-sm btn-outline-secondary extend",
          onclick: change("PUT", () => ({ due: isoOrNull(input.value) })) }, "Extend"),
        work.extension ? el("button", { class: "btn btn-sm btn-outline-secondary end-extension",
          onclick: change("DELETE") }, "End extension") : ""));
    return el("div", { class: "small text-muted deadline" }, ...parts, editor);
  }

  function gradeEditor(student, assignment) {
    const work = student.work[assignment.id];
    const input = el("input", { class: "form-control form-control-sm grade", value: work.grade || "",
      "aria-label": `Grade of ${student.name} for ${assignment.path}`, size: 4 });
    const comments = el("input", { class: "form-control form-control-sm comments", value: work.comments || "",
      placeholder: "comments", "aria-label": `Comments for ${student.name} on ${assignment.path}` });
    const save = el("button", { class: "btn btn-sm btn-outline-secondary", onclick: (event) =>
      guard(errorBox, async () => {
        course = await api("PUT", `courses/${courseId}/assignments/${assignment.id}/grades/${student.id}`,
          { grade: input.value, comments: comments.value });
        render();
      }, event.target) }, "Save");
    return el("div", { class: "d-flex gap-1" }, input, comments, save);
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
    const head = document.getElementById("students-head");
    head.replaceChildren(el("tr", {}, el("th", {}, "Student"),
      ...course.assignments.map((a) => el("th", {}, a.path)), el("th", {})));
    const body = document.getElementById("students-body");
    body.replaceChildren(...course.students.map((s) => el("tr", { "data-student": s.name },
      el("td", {}, s.name, s.signed_up ? "" : el("small", { class: "text-muted" }, " (not signed up yet)"),
        s.pending_match ? pendingMatch(s) : ""),
      ...course.assignments.map((a) => el("td", { "data-assignment": a.path },
        status(s.work[a.id], a), a.kind === "assignment" ? deadline(s, a) : null,
        a.kind === "assignment" ? gradeEditor(s, a) : null)),
      el("td", {}, el("button", { class: "btn btn-sm btn-outline-danger", onclick: (event) =>
        guard(errorBox, async () => {
          course = await api("DELETE", `courses/${courseId}/students/${s.id}`);
          render();
        }, event.target) }, "Remove")))));
    const list = document.getElementById("assignments");
    list.replaceChildren(...course.assignments.map((a) => {
      const steps = a.kind === "handout" ? [["assign", "Copy out"]] :
        [["assign", "Assign"], ["collect", "Collect"], ["return", "Return"]];
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
      return el("li", { class: "list-group-item d-flex justify-content-between", "data-assignment": a.path },
        el("span", {}, `${a.path} (${a.kind})`, a.due ? ` — due ${when(a.due)}` : ""),
        el("span", { class: "d-flex gap-1" }, setDue, ...steps.map(([step, label]) =>
          el("button", { class: `btn btn-sm btn-primary step-${step}`, onclick: (event) =>
            guard(errorBox, () => runStep(a, step), event.target) }, label))));
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
  guard(errorBox, refresh);
})();
