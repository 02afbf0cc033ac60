// The booth's trace on each slot card ("Activity"), and failure causes in words (issue 14).
// Reads GET /api/slots/{provider}/{index}/trace (shared/booth_trace.py). Every text comes
// from i18n.js; what the server or a provider said is set as textContent, never as HTML.
import { el } from "./dom.js";
import { STRINGS, translate } from "./i18n.js";

const REFRESH_MS = 5000;

function lang() { return document.documentElement.lang === "ru" ? "ru" : "en"; }

function t(key, ...args) { return translate(lang(), key, ...args); }

function has(key) { return key in STRINGS.en; }

// -- words ------------------------------------------------------------------------------------------
/** A failed job's cause in the operator's language ("" when the job has none). */
export function causeText(cause) {
  return cause && has(`cause_${cause}`) ? t(`cause_${cause}`) : "";
}

/** What a trace entry's reason code means, in words; null when we have none for it. */
function reasonText(entry) {
  const code = entry.reason || "";
  if (entry.outcome === "failed" && entry.cause) return causeText(entry.cause);
  if (has(`reason_${code}`)) return t(`reason_${code}`);
  if (code.startsWith("missing_") && has(`problem_${code}`)) return t(`problem_${code}`);
  if (code === "no_type") return t("problemNoType");
  if (entry.status === 409) return t("reason_slot_not_ready");
  return null;
}

function when(at) {
  const date = new Date(at * 1000);
  const today = new Date().toDateString() === date.toDateString();
  return today ? date.toLocaleTimeString(lang()) : date.toLocaleString(lang());
}

function boothText(booth) {
  const parts = [booth?.name, booth?.version ? `DSLR Remote Pro ${booth.version}` : ""].filter(Boolean);
  return parts.length ? parts.join(" · ") : t("boothUnknown");
}

// -- the job a trace entry links to ------------------------------------------------------------------
function showJob(jobId) {
  const open = document.getElementById("open-stats");
  const dialog = document.getElementById("stats");
  if (!dialog.open) open.click();
  const started = performance.now();
  const look = () => {
    const item = document.querySelector(`#jobs li[data-job="${CSS.escape(jobId)}"]`);
    if (item) {
      item.classList.add("is-target");
      item.scrollIntoView({ block: "center" });
      setTimeout(() => item.classList.remove("is-target"), 3000);
    } else if (performance.now() - started < 4000) {
      setTimeout(look, 150);
    }
  };
  look();
}

// -- one card's list ----------------------------------------------------------------------------------
class Trace {
  constructor(card) {
    this.card = card;
    this.entries = null;
    this.error = null;
    this.timer = null;
    const host = card.node.querySelector(".link-field");
    const uid = `${card.saved.provider}-${card.saved.index}`;
    this.button = el("button", {
      type: "button", class: "btn btn-sm trace-toggle", "aria-expanded": "false",
      "aria-controls": `${uid}-trace`, onclick: () => this.toggle(),
    });
    this.refreshButton = el("button", { type: "button", class: "btn btn-sm trace-refresh", onclick: () => this.load() });
    this.title = el("span", { class: "lbl trace-title" });
    this.list = el("ol", { class: "trace-list" });
    this.note = el("p", { class: "muted small trace-note", role: "status", "aria-live": "polite" });
    this.box = el("div", { class: "trace-box", id: `${uid}-trace`, hidden: true },
      el("div", { class: "trace-head" }, this.title, this.refreshButton), this.note, this.list);
    host.append(el("div", { class: "trace-row" }, this.button), this.box);
    // The language switch sets <html lang>: follow it without a hook in app.js.
    new MutationObserver(() => this.render()).observe(document.documentElement,
      { attributes: true, attributeFilter: ["lang"] });
    this.render();
  }

  get path() { return `/api/slots/${this.card.saved.provider}/${this.card.saved.index}/trace?limit=50`; }

  get open() { return !this.box.hidden; }

  toggle() {
    this.box.hidden = this.open;
    this.button.setAttribute("aria-expanded", String(this.open));
    clearInterval(this.timer);
    if (this.open) {
      this.load();
      this.timer = setInterval(() => { if (!document.hidden && this.open) this.load(); }, REFRESH_MS);
    }
    this.render();
  }

  async load() {
    try {
      const response = await fetch(this.path, { credentials: "same-origin" });
      if (!response.ok) throw new Error(`${response.status} ${response.statusText}`);
      this.entries = (await response.json()).entries;
      this.error = null;
    } catch (err) {
      this.error = err.message || String(err);
    }
    this.render();
  }

  render() {
    this.button.textContent = this.open ? t("activityHide") : t("activity");
    this.title.textContent = t("activityTitle");
    this.refreshButton.textContent = t("activityRefresh");
    if (!this.open) return;
    if (this.error) {
      this.note.textContent = t("activityFailed", this.error);
    } else if (this.entries === null) {
      this.note.textContent = t("loading");
    } else {
      this.note.textContent = this.entries.length ? "" : t("activityEmpty");
    }
    this.note.hidden = !this.note.textContent;
    const signature = lang() + JSON.stringify(this.entries);
    if (this.list.dataset.signature === signature) return;
    this.list.dataset.signature = signature;
    this.list.replaceChildren(...(this.entries || []).map((entry) => this.item(entry)));
  }

  item(entry) {
    const words = reasonText(entry);
    // Our own words for a refusal replace the server's English; a provider's words stay.
    const said = entry.outcome === "failed" || !words ? entry.message : "";
    return el("li", { class: `trace-entry outcome-${entry.outcome}`, "data-reason": entry.reason },
      el("div", { class: "trace-line" },
        el("span", { class: "trace-time small", text: when(entry.at) }),
        el("span", { class: `pill outcome-pill ${entry.outcome}`, text: t(`outcome_${entry.outcome}`) }),
        entry.status ? el("span", { class: "pill trace-status", text: `HTTP ${entry.status}` }) : null),
      words ? el("div", { class: "trace-reason small", text: words }) : null,
      said ? el("div", { class: "trace-detail small muted", text: said }) : null,
      el("div", { class: "trace-booth small muted", text: `${t("booth")}: ${boothText(entry.booth)}` }),
      entry.job_id ? el("button", { type: "button", class: "linkish small trace-job",
        text: t("jobLink", entry.job_id), onclick: () => showJob(entry.job_id) }) : null);
  }
}

/** Give a slot card its Activity button and list (called once per card by app.js). */
export function attachTrace(card) {
  return new Trace(card);
}
