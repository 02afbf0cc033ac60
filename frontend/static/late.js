// Late results on a slot card (issue 15): what the booth gets when its window runs out before
// the provider answers (`when_late`: an error as always, the guest's original, or the original
// with a small QR code to the job's share page and one line of text), how long the job may
// keep working after the photo arrived (`late_limit_seconds`), that line (`late_text`), and a
// QR code on every AI result (`qr_on_results`). Saved with the slot (functions/admin.py
// slot_json). A QR code opens the job's share page, and the server refuses one while the
// slot's share pages are off (422 share_pages_off): so choosing one switches them on here, and
// says so.

import { errorText } from "./dom.js";
import { STRINGS } from "./i18n.js";

const CHOICES = ["error", "original", "original_qr"];
const LIMIT_MIN = 60; // shared/domain.py LATE_LIMIT_MIN / LATE_LIMIT_MAX
const LIMIT_MAX = 600;
const TEXT_MAX = 80; // shared/domain.py MAX_LATE_TEXT_CHARS
let ui = null; // { t, el } from app.js

export function initLate(helpers) { ui = helpers; }

export class LateControl {
  constructor(card) {
    this.card = card;
    this.switchedShare = false; // this draft's QR choice switched share pages on
    const { el } = ui;
    const uid = card.uid;
    const id = (name) => `${uid}-${name}`;
    const error = (name) => el("p", { class: "field-error", "data-error": name, id: `${uid}-err-${name}`, hidden: true });

    this.select = el("select", { id: id("when_late"), "data-bind": "when_late" });
    this.selectLabel = el("span", { class: "lbl" });
    this.help = el("p", { class: "muted small late-help", id: `${id("when_late")}-help` });
    this.select.setAttribute("aria-describedby", this.help.id);
    this.limit = el("input", { type: "number", id: id("late_limit_seconds"), "data-bind": "late_limit_seconds",
      min: String(LIMIT_MIN), max: String(LIMIT_MAX), step: "1", inputmode: "numeric" });
    this.limitLabel = el("span", { class: "lbl" });
    this.limitField = el("label", { class: "field inline late-limit-field" }, this.limitLabel, this.limit);
    this.text = el("input", { type: "text", id: id("late_text"), "data-bind": "late_text", maxlength: String(TEXT_MAX),
      autocomplete: "off" });
    this.textLabel = el("span", { class: "lbl" });
    this.textField = el("label", { class: "field late-text-field" }, this.textLabel, this.text);
    this.qr = el("input", { type: "checkbox", role: "switch", id: id("qr_on_results"), "data-bind": "qr_on_results" });
    this.qrText = el("span", { class: "switch-text" });
    this.note = el("p", { class: "small late-share-note", role: "status", "aria-live": "polite" });
    // The print's preview: a sample photo stamped as the booth would get it (no job, nothing
    // stored; the code opens no photo), with the line as printed: a strip cuts a long one.
    this.pick = el("button", { type: "button", class: "btn small late-preview-pick" });
    this.file = el("input", { type: "file", accept: "image/*", hidden: true, class: "late-preview-file" });
    this.img = el("img", { class: "late-preview-img", alt: "" });
    this.figure = el("figure", { class: "late-preview-figure", hidden: true }, this.img);
    this.printed = el("p", { class: "small late-preview-note", role: "status", "aria-live": "polite" });
    this.previewField = el("div", { class: "late-preview" },
      el("div", { class: "btn-row" }, this.pick, this.file), this.figure, this.printed);
    this.pick.addEventListener("click", () => this.file.click());
    this.file.addEventListener("change", () => {
      const chosen = this.file.files[0];
      this.file.value = "";
      if (chosen) this.preview(chosen);
    });
    this.node = el("div", { class: "options late-options" },
      el("label", { class: "field late-choice" }, this.selectLabel, this.select),
      this.help,
      error("when_late"),
      this.limitField, error("late_limit_seconds"),
      this.textField, error("late_text"),
      this.previewField,
      el("label", { class: "switch" }, this.qr, el("span", { class: "switch-ui", "aria-hidden": "true" }), this.qrText),
      error("qr_on_results"),
      this.note);
    card.node.querySelector('[data-error="share_days"]').after(this.node);

    this.select.addEventListener("change", () => {
      const d = card.draft;
      d.when_late = this.select.value;
      // Printed in the operator's language: the server's own default is English.
      if (d.when_late === "original_qr" && !(d.late_text || "").trim()) d.late_text = ui.t("lateTextDefault");
      if (d.when_late === "original_qr") this.needShare();
      this.changed("when_late");
    });
    this.limit.addEventListener("input", () => {
      card.draft.late_limit_seconds = this.limit.value === "" ? null : Number(this.limit.value);
      this.changed("late_limit_seconds");
    });
    this.text.addEventListener("input", () => {
      card.draft.late_text = this.text.value;
      this.changed("late_text");
    });
    this.qr.addEventListener("change", () => {
      card.draft.qr_on_results = this.qr.checked;
      if (this.qr.checked) this.needShare();
      this.changed("qr_on_results");
    });
  }

  async preview(photo) {
    const { t } = ui;
    this.controller?.abort();
    const controller = this.controller = new AbortController();
    const form = new FormData();
    form.append("file", photo, photo.name || "sample.jpg");
    form.append("text", this.card.draft.late_text || "");
    this.previewField.dataset.busy = "true";
    this.printed.dataset.kind = "busy";
    this.printed.textContent = t("latePreviewing");
    try {
      const response = await fetch(`${this.card.apiPath}/late-preview`, {
        method: "POST", body: form, credentials: "same-origin", signal: controller.signal,
      });
      if (!response.ok) throw new Error(await errorText(response));
      const blob = await response.blob();
      if (controller !== this.controller) return;
      if (this.url) URL.revokeObjectURL(this.url);
      this.url = URL.createObjectURL(blob);
      this.img.src = this.url;
      this.img.alt = t("latePreviewAlt");
      this.figure.hidden = false;
      const line = decodeURIComponent(response.headers.get("X-Boothai-Printed-Text") || "");
      const cut = response.headers.get("X-Boothai-Text-Cut") === "1";
      this.printed.dataset.kind = cut ? "warn" : "ok";
      this.printed.textContent = t(cut ? "latePrintedCut" : "latePrinted", line) + " " + t("latePreviewSample");
    } catch (err) {
      if (err.name === "AbortError") return;
      this.printed.dataset.kind = "error";
      this.printed.textContent = t("previewFailed", err.message);
    } finally {
      if (controller === this.controller) {
        this.controller = null;
        delete this.previewField.dataset.busy;
      }
    }
  }

  get wantsQr() {
    const d = this.card.draft;
    return d.when_late === "original_qr" || !!d.qr_on_results;
  }

  needShare() {
    const d = this.card.draft;
    if (d.share_pages) return;
    d.share_pages = true;
    this.switchedShare = true;
  }

  changed(field) {
    delete this.card.errors[field];
    // A share_pages_off refusal names one QR field; a new choice of either answers it.
    if (field === "when_late" || field === "qr_on_results") {
      delete this.card.errors.when_late;
      delete this.card.errors.qr_on_results;
    }
    this.card.render();
  }

  render() {
    const { t, el } = ui;
    const card = this.card;
    const d = card.draft;
    if (!card.dirty()) this.switchedShare = false; // saved (or undone): nothing to explain
    const choice = CHOICES.includes(d.when_late) ? d.when_late : "error";

    this.selectLabel.textContent = t("whenLate");
    this.select.replaceChildren(...CHOICES.map((c) => el("option", { value: c, text: t(`whenLate_${c}`) })));
    this.select.value = choice;
    this.help.textContent = t(`whenLateHelp_${choice}`);

    this.limitField.hidden = choice === "error";
    this.limitLabel.textContent = t("lateLimit");
    this.limit.title = t("lateLimitHelp", LIMIT_MIN, LIMIT_MAX);
    if (document.activeElement !== this.limit) this.limit.value = d.late_limit_seconds ?? "";

    this.textField.hidden = choice !== "original_qr";
    this.previewField.hidden = choice !== "original_qr";
    this.pick.textContent = t("latePreview");
    this.pick.disabled = !card.usable;
    this.textLabel.textContent = t("lateText");
    // Left empty, the server prints its own line, the English one: show that one.
    this.text.placeholder = STRINGS.en.lateTextDefault;
    if (this.text.value !== (d.late_text || "")) this.text.value = d.late_text || "";

    this.qr.checked = !!d.qr_on_results;
    this.qrText.textContent = t("qrOnResults");

    // Why share pages switched on by themselves, or that the QR code needs them (until the
    // server's refusal says so beside the field).
    const refused = card.errors.when_late || card.errors.qr_on_results;
    const note = !this.wantsQr || refused ? "" : d.share_pages ? (this.switchedShare ? t("lateShareOn") : "") : t("lateShareNeeded");
    this.note.textContent = note;
    this.note.hidden = !note;
    this.note.dataset.kind = d.share_pages ? "ok" : "warn";

    for (const [input, field] of [[this.select, "when_late"], [this.limit, "late_limit_seconds"],
      [this.text, "late_text"], [this.qr, "qr_on_results"]]) {
      const has = !!card.errors[field];
      input.setAttribute("aria-invalid", String(has));
      if (has) input.setAttribute("aria-describedby", `${card.uid}-err-${field}`);
      else if (input === this.select) input.setAttribute("aria-describedby", this.help.id);
      else input.removeAttribute("aria-describedby");
      input.disabled = !card.usable;
    }
  }
}
