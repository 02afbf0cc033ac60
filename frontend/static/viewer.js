// The job viewer: a job of the Statistics list opened in its own dialog — before and after at
// full resolution (fitted to the screen, each a link to the file itself), both downloadable,
// the status and the failure in words, the total time and every provider attempt with its
// timing (GET /api/jobs/{id}). app.js hands over its helpers once (initViewer) and makes each
// row's thumbnails a button (jobOpener); a click anywhere on a row opens it too.

import { causeText } from "./trace.js";
import { initShare, shareBlock } from "./share.js";

let ui = null; // { t, el, api, seconds, typeLabel, lang, providerLabel } from app.js
let dialog = null;
let openedFor = null; // the job id whose row's button gets the focus back on close

export function initViewer(helpers) {
  ui = helpers;
  initShare(helpers);
  const list = document.getElementById("jobs");
  list.addEventListener("click", (event) => {
    const row = event.target.closest("li.job");
    if (!row || !list.contains(row) || event.target.closest("a")) return;
    openJob(row.dataset.job);
  });
}

// The row's thumbnails as the button that opens the job (Enter and Space work natively).
export function jobOpener(job, ...thumbs) {
  const when = new Date(job.created_at * 1000).toLocaleTimeString(ui.lang());
  return ui.el("button", {
    type: "button", class: "job-thumbs job-open", "data-job": job.job_id,
    "aria-label": ui.t("viewerOpen", when, ui.t(`status_${job.status}`)),
    "aria-haspopup": "dialog",
  }, ...thumbs);
}

function ensureDialog() {
  if (dialog) return dialog;
  const { el, t } = ui;
  dialog = el("dialog", { id: "viewer", class: "viewer", "aria-labelledby": "viewer-title" },
    el("div", { class: "viewer-head" },
      el("h2", { id: "viewer-title" }),
      el("button", { type: "button", class: "btn btn-icon viewer-close", "aria-label": t("close"), text: "✕",
        onclick: () => dialog.close() })),
    el("div", { class: "viewer-body", id: "viewer-body" }));
  // A click on the backdrop (outside the dialog's box) closes it.
  dialog.addEventListener("click", (event) => {
    if (event.target !== dialog) return;
    const r = dialog.getBoundingClientRect();
    const inside = event.clientX >= r.left && event.clientX <= r.right && event.clientY >= r.top && event.clientY <= r.bottom;
    if (!inside) dialog.close();
  });
  dialog.addEventListener("close", () => {
    // The list may have been rebuilt by a refresh meanwhile: find this job's button again.
    const opener = openedFor && document.querySelector(`#jobs .job-open[data-job="${CSS.escape(openedFor)}"]`);
    opener?.focus();
  });
  document.body.append(dialog);
  return dialog;
}

export async function openJob(jobId) {
  const d = ensureDialog();
  const { t, el } = ui;
  openedFor = jobId;
  d.dataset.job = jobId;
  delete d.dataset.ready;
  d.querySelector("#viewer-title").textContent = t("viewerTitle");
  d.querySelector(".viewer-close").setAttribute("aria-label", t("close"));
  const body = d.querySelector("#viewer-body");
  body.replaceChildren(el("p", { class: "muted", text: t("loading") }));
  if (!d.open) d.showModal();
  try {
    const job = await (await ui.api(`/api/jobs/${encodeURIComponent(jobId)}`)).json();
    if (d.dataset.job !== jobId) return; // another job was opened meanwhile
    body.replaceChildren(...render(job));
    d.dataset.ready = "true";
  } catch (err) {
    body.replaceChildren(el("p", { class: "field-error", role: "alert", text: t("viewerFailed", err.message) }));
  }
}

function render(job) {
  const { t, el, seconds, typeLabel } = ui;
  const when = new Date(job.created_at * 1000).toLocaleString(ui.lang());
  const parts = [
    el("p", { class: "viewer-summary" },
      el("strong", { text: `${ui.providerLabel(job.provider)} · ${t("slotShort")} ${job.slot_index}${job.slot_name ? ` · ${job.slot_name}` : ""}` }),
      " ",
      el("span", { class: `pill status-pill ${job.status}`, text: t(`status_${job.status}`) }),
      " ",
      // It finished after the booth already had the original (late.js).
      job.late ? el("span", { class: "pill late-pill", title: t("lateBadgeTitle"), text: t("lateBadge") }) : null,
      job.late ? " " : null,
      el("span", { class: "pill", text: t(`source_${job.source}`) }),
      el("span", { class: "muted small viewer-when", text: ` ${when} · ${typeLabel(job.type)}` })),
    el("p", { class: "viewer-total", text: t("viewerTotal", seconds(job.total_ms)) }),
  ];
  // The prompt the provider received, its booth fields filled (issue 15), as plain text.
  if (job.prompt) {
    parts.push(el("p", { class: "small viewer-prompt" },
      el("strong", { text: `${t("viewerPrompt")}: ` }), el("span", { class: "viewer-prompt-text", text: job.prompt })));
  }
  if (job.status === "failed" || job.reason) {
    parts.push(el("div", { class: "viewer-reason", role: "note" },
      el("strong", { text: `${t("viewerReason")}: ` }),
      causeText(job.cause) ? el("span", { class: "viewer-cause", text: `${causeText(job.cause)} ` }) : null,
      el("span", { class: "mono", text: job.reason || "—" }),
      // The provider's own words (maybe Russian), as plain text.
      job.detail ? el("p", { class: "viewer-detail", text: job.detail }) : null));
  }
  parts.push(el("div", { class: "viewer-images" },
    picture(job.original_url, job.original_download_url, t("before"), t("downloadOriginal"), "viewer-original",
      job.original_in_trash ? t("viewerInTrash") : null),
    picture(job.result_url, job.result_download_url, t("after"), t("downloadResult"), "viewer-result",
      null, job.status === "failed" ? t("viewerNoResultFailed") : t("viewerNoResult"))));
  parts.push(shareBlock(job.job_id)); // the job's public share page (share.js)
  parts.push(attemptsTable(job.attempts || []));
  return parts;
}

function picture(url, downloadUrl, caption, downloadText, cls, note, missing) {
  const { el, t } = ui;
  if (!url) {
    return el("figure", { class: `viewer-figure ${cls} is-missing` },
      el("div", { class: "viewer-none", text: missing || "—" }),
      el("figcaption", { text: caption }));
  }
  return el("figure", { class: `viewer-figure ${cls}` },
    // The file itself in a new tab: its full resolution, where the browser can zoom.
    el("a", { href: url, target: "_blank", rel: "noopener", class: "viewer-full", title: t("viewerOpenFull") },
      el("img", { src: url, alt: caption })),
    el("figcaption", {},
      el("span", { text: caption }),
      el("a", { href: downloadUrl, download: "", class: "btn btn-sm viewer-download", text: downloadText }),
      note ? el("span", { class: "muted small viewer-note", text: note }) : null));
}

function attemptsTable(attempts) {
  const { el, t, seconds } = ui;
  if (!attempts.length) return el("p", { class: "muted small", text: t("viewerNoAttempts") });
  const clock = (ts) => (ts ? new Date(ts * 1000).toLocaleTimeString(ui.lang(), { hour: "2-digit", minute: "2-digit", second: "2-digit" }) : "—");
  return el("div", { class: "table-scroll" },
    el("table", { class: "counts attempts" },
      el("caption", { class: "lbl", text: t("viewerAttempts") }),
      el("thead", {}, el("tr", {},
        el("th", { scope: "col", text: "#" }),
        el("th", { scope: "col", text: t("provider") }),
        el("th", { scope: "col", text: t("viewerOutcome") }),
        el("th", { scope: "col", text: t("viewerStarted") }),
        el("th", { scope: "col", text: t("viewerDuration") }))),
      el("tbody", {}, ...attempts.map((a, i) => el("tr", { class: a.outcome === "done" ? "ok" : "failed" },
        el("td", { class: "num", text: String(i + 1) }),
        el("th", { scope: "row", text: ui.providerLabel(a.provider) }),
        el("td", { class: "mono outcome", text: a.outcome === "done" ? t("status_done") : a.outcome }),
        el("td", { class: "num", text: clock(a.started_at) }),
        el("td", { class: "num", text: seconds(a.ms) }))))));
}
