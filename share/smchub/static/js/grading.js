// Grading an autograded assignment by hand: questions with their means and what waits
// for a person, every student's answer to one question side by side with a points box
// and a comment, and the totals per student.
(function () {
  "use strict";
  const { api, el, guard } = window.smchub;
  const page = document.getElementById("grading");
  const courseId = page.dataset.courseId;
  const assignmentId = page.dataset.assignmentId;
  const errorBox = document.getElementById("grading-error");
  const url = `courses/${courseId}/assignments/${assignmentId}`;
  let scores = null;
  // the question whose answers are shown: {notebook, cell_id}, or null
  let chosen = null;

  const number = (x) => (x === null || x === undefined ? "–" : String(Math.round(x * 100) / 100));
  const key = (q) => `${q.notebook}:${q.cell_id}`;

  function buildQuestions() {
    const body = document.getElementById("questions-body");
    if (!scores.questions.length) {
      body.replaceChildren(el("tr", {}, el("td", { colspan: "5", class: "text-muted" },
        "Nothing autograded yet: collect the work, then run Autograde on the course page.")));
      return;
    }
    body.replaceChildren(...scores.questions.map((q) => el("tr", { "data-question": key(q),
      class: chosen && key(chosen) === key(q) ? "table-active" : "" },
    el("td", {}, `${q.notebook} · ${q.cell_id}`),
    el("td", {}, number(q.max_points)),
    el("td", {}, number(q.mean)),
    el("td", { class: "waiting" }, q.waiting ? el("span", { class: "badge bg-warning text-dark" },
      `${q.waiting} of ${q.students}`) : "none"),
    el("td", {}, el("button", { class: "btn btn-sm btn-outline-primary show-answers", onclick: (event) =>
      guard(errorBox, () => showAnswers(q), event.target) }, "Answers")))));
  }

  function buildTotals() {
    const cells = scores.questions;
    document.getElementById("totals-head").replaceChildren(el("tr", {}, el("th", {}, "Student"),
      ...cells.map((q) => el("th", { title: key(q) }, q.cell_id)), el("th", {}, "Total")));
    document.getElementById("totals-body").replaceChildren(...scores.students.map((s) => {
      const mine = new Map((s.autograde ? s.autograde.cells : []).map((c) => [key(c), c]));
      return el("tr", { "data-student": s.name },
        el("th", { scope: "row" }, s.name),
        ...cells.map((q) => {
          const c = mine.get(key(q));
          if (!c) return el("td", { class: "text-muted" }, "–");
          return el("td", { class: c.waiting ? "table-warning" : "",
            title: c.waiting ? "waits for a person" : c.override_reason ? `overridden: ${c.override_reason}` : "" },
          c.waiting ? "?" : number(c.points), c.manual_points !== null ? "✎" : "");
        }),
        el("td", { class: "total" }, s.autograde ? `${number(s.autograde.score)} / ${number(s.autograde.max_score)}${s.autograde.needs_manual_grade ? " *" : ""}` : "not autograded"));
    }));
  }

  // what a student's cell printed: text, an error, or an image (never HTML)
  function output(o) {
    if (o.type === "image") return el("img", { src: `data:${o.mime};base64,${o.data}`, class: "img-fluid", alt: "output" });
    return el("pre", { class: `small mb-1 ${o.type === "error" ? "text-danger" : ""}` }, o.text);
  }

  function answerCard(answer) {
    const score = answer.score;
    const points = el("input", { type: "number", min: "0", max: String(score.max_points), step: "any",
      class: "form-control form-control-sm points", style: "width: 6em",
      "aria-label": `Points of ${answer.student.name}`,
      value: score.manual_points !== null ? String(score.manual_points) : "" });
    const comment = el("textarea", { class: "form-control form-control-sm comment", rows: "2",
      placeholder: "comment for the student", "aria-label": `Comment for ${answer.student.name}` });
    comment.value = score.comment || "";
    // a score the autograder was sure of is changed only with a reason on record
    const overrides = score.auto_points !== null && !score.needs_manual_grade;
    const reason = overrides ? el("input", { class: "form-control form-control-sm reason",
      placeholder: "reason for changing the autograder's score",
      "aria-label": `Reason for ${answer.student.name}`, value: score.override_reason || "" }) : null;
    const saved = el("span", { class: "text-success small saved", hidden: "" }, "saved");
    const save = el("button", { class: "btn btn-sm btn-primary save", onclick: (event) =>
      guard(errorBox, async () => {
        const body = { points: points.value === "" ? null : Number(points.value), comment: comment.value };
        if (reason) body.reason = reason.value;
        const student = await api("PUT", `${url}/scores/${answer.student.id}/${encodeURIComponent(chosen.notebook)}/${encodeURIComponent(chosen.cell_id)}`, body);
        await load(false);
        // this card again with its new score, the others as they are (half-typed ones too)
        const now = student.autograde.cells.find((c) => key(c) === key(chosen));
        const fresh = answerCard({ ...answer, score: now });
        card.replaceWith(fresh);
        fresh.querySelector(".saved").hidden = false;
      }, event.target) }, "Save");
    const status = score.waiting ? el("span", { class: "badge bg-warning text-dark" }, "waits for a person") :
      el("span", { class: "badge bg-secondary" }, `${number(score.points)} / ${number(score.max_points)}`);
    const card = el("div", { class: "col" }, el("div", { class: "card h-100 answer", "data-student": answer.student.name },
      el("div", { class: "card-header d-flex justify-content-between" }, el("span", {}, answer.student.name), status),
      el("div", { class: "card-body" },
        answer.error ? el("p", { class: "text-danger small" }, answer.error) : null,
        answer.cell ? el("pre", { class: "answer-source border rounded p-2 small" }, answer.cell.source) : null,
        ...(answer.cell ? answer.cell.outputs.map(output) : []),
        score.auto_points !== null ? el("p", { class: "small text-muted mb-1" },
          `autograder: ${number(score.auto_points)} of ${number(score.max_points)}`) : null,
        score.error ? el("p", { class: "small text-danger mb-1" }, score.error) : null),
      el("div", { class: "card-footer" },
        el("div", { class: "d-flex gap-1 align-items-center mb-1" }, points, el("span", { class: "small" }, `of ${number(score.max_points)}`), save, saved),
        comment, reason)));
    return card;
  }

  let answers = [];
  function buildAnswers() {
    const onlyWaiting = document.getElementById("only-waiting").checked;
    const current = new Map(scores.students.flatMap((s) => (s.autograde ? s.autograde.cells : [])
      .filter((c) => key(c) === key(chosen)).map((c) => [s.id, c])));
    const shown = answers.map((a) => ({ ...a, score: current.get(a.student.id) || a.score }))
      .filter((a) => a.score && (!onlyWaiting || a.score.waiting));
    document.getElementById("answers-grid").replaceChildren(...shown.map(answerCard));
  }

  async function showAnswers(question) {
    chosen = { notebook: question.notebook, cell_id: question.cell_id };
    const found = await api("GET", `${url}/answers?notebook=${encodeURIComponent(question.notebook)}&cell_id=${encodeURIComponent(question.cell_id)}`);
    answers = found.answers;
    document.getElementById("answers").hidden = false;
    document.getElementById("answers-title").textContent = `Answers to ${question.notebook} · ${question.cell_id}`;
    buildQuestions();
    buildAnswers();
  }

  async function load(withAnswers = true) {
    scores = await api("GET", `${url}/scores`);
    buildQuestions();
    buildTotals();
    if (chosen && withAnswers) buildAnswers();
  }

  document.getElementById("only-waiting").addEventListener("change", () => { if (chosen) buildAnswers(); });
  guard(errorBox, load);
})();
