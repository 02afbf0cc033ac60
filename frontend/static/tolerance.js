// The Local chroma key's tolerance on a background card: a slider saved with the slot
// (key_tolerance, 0..100) and a live preview. The operator picks a sample photo once; every
// pause of the slider (250 ms) asks POST /api/slots/local/{index}/preview for that photo keyed
// at the slider's value onto the slot's saved background, cancelling the request before it.
// No job is made and nothing is stored.

import { errorText } from "./dom.js";

const DEBOUNCE_MS = 250;
let ui = null; // { t, el } from app.js

export function initTolerance(helpers) { ui = helpers; }

export class ToleranceControl {
  constructor(card) {
    this.card = card;
    this.sample = null; // the chosen File
    this.controller = null; // the preview request in flight
    this.timer = null;
    this.url = null; // object URL of the shown preview
    const { el } = ui;
    const id = `${card.uid}-key_tolerance`;
    this.input = el("input", { type: "range", min: "0", max: "100", step: "1", id, class: "tolerance-range" });
    this.output = el("output", { for: id, class: "tolerance-value" });
    this.label = el("label", { for: id, class: "lbl" });
    this.help = el("p", { class: "muted small tolerance-help", id: `${id}-help` });
    this.error = el("p", { class: "field-error", hidden: true, id: `${id}-err` });
    this.pick = el("button", { type: "button", class: "btn btn-sm tolerance-pick" });
    this.file = el("input", { type: "file", accept: "image/*", hidden: true, class: "tolerance-file" });
    this.img = el("img", { class: "tolerance-img", alt: "" });
    this.note = el("p", { class: "small tolerance-note", role: "status", "aria-live": "polite" });
    this.figure = el("figure", { class: "tolerance-figure", hidden: true }, this.img);
    this.node = el("div", { class: "field tolerance" },
      this.label,
      el("div", { class: "tolerance-row" }, this.input, this.output),
      this.help, this.error,
      el("div", { class: "btn-row" }, this.pick, this.file),
      this.note, this.figure);
    this.input.setAttribute("aria-describedby", `${id}-help`);
    card.node.querySelector(".ref").after(this.node);

    this.input.addEventListener("input", () => {
      card.draft.key_tolerance = Number(this.input.value);
      delete card.errors.key_tolerance;
      card.render();
      this.schedule();
    });
    this.pick.addEventListener("click", () => this.file.click());
    this.file.addEventListener("change", () => {
      const chosen = this.file.files[0];
      this.file.value = "";
      if (!chosen) return;
      this.render();
      shrink(chosen).then((small) => {
        this.sample = small;
        this.render();
        this.preview();
      });
    });
  }

  get shown() {
    return this.card.saved.provider === "local" && this.card.draft.type === "background";
  }

  render() {
    const { t } = ui;
    const card = this.card;
    this.node.hidden = !this.shown;
    if (!this.shown) return;
    const value = card.draft.key_tolerance ?? 50;
    if (Number(this.input.value) !== value) this.input.value = String(value);
    this.output.textContent = String(value);
    this.label.textContent = t("keyTolerance");
    this.help.textContent = t("keyToleranceHelp");
    this.input.disabled = !card.usable;
    const message = card.errors.key_tolerance;
    this.error.hidden = !message;
    this.error.textContent = message || "";
    this.input.setAttribute("aria-invalid", String(!!message));
    const hasBackground = !!card.saved.has_reference;
    this.pick.textContent = this.sample ? t("previewAnother") : t("previewPick");
    this.pick.disabled = !card.usable || !hasBackground;
    this.pick.title = hasBackground ? "" : t("previewNeedsBackground");
    if (!hasBackground && !this.sample) this.note.textContent = t("previewNeedsBackground");
    else if (!this.sample && this.note.dataset.kind !== "error") this.note.textContent = "";
  }

  schedule() {
    if (!this.sample) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.preview(), DEBOUNCE_MS);
  }

  async preview() {
    const { t } = ui;
    if (!this.sample || !this.card.saved.has_reference) return;
    clearTimeout(this.timer);
    this.controller?.abort(); // the slider moved on: that answer is not wanted any more
    const controller = this.controller = new AbortController();
    const tolerance = String(this.card.draft.key_tolerance ?? 50);
    const form = new FormData();
    form.append("file", this.sample, this.sample.name);
    form.append("tolerance", tolerance);
    this.node.dataset.busy = "true";
    this.note.dataset.kind = "busy";
    this.note.textContent = t("previewing");
    try {
      const response = await fetch(`${this.card.apiPath}/preview`, {
        method: "POST", body: form, credentials: "same-origin", signal: controller.signal,
      });
      if (!response.ok) throw new Error(await errorText(response));
      const blob = await response.blob();
      if (controller !== this.controller) return;
      if (this.url) URL.revokeObjectURL(this.url);
      this.url = URL.createObjectURL(blob);
      this.img.src = this.url;
      this.img.alt = t("previewAlt", tolerance);
      this.figure.hidden = false;
      this.node.dataset.tolerance = tolerance; // what the picture shows (tests read it)
      const keyed = response.headers.get("X-Boothai-Keyed-Percent");
      const noScreen = response.headers.get("X-Boothai-Problem") === "local_no_screen";
      this.note.dataset.kind = noScreen ? "error" : "ok";
      this.note.textContent = t("previewKeyed", Math.round(Number(keyed))) +
        (noScreen ? " " + t(this.card.saved.fallback_to_original ? "previewNoScreenOriginal" : "previewNoScreen") : "");
    } catch (err) {
      if (err.name === "AbortError") return;
      this.note.dataset.kind = "error";
      this.note.textContent = t("previewFailed", err.message);
    } finally {
      if (controller === this.controller) {
        this.controller = null;
        delete this.node.dataset.busy;
      }
    }
  }
}

// The sample is sent again at every pause of the slider: cut it once to the preview's size
// (the server cuts to 1024 px anyway), so a 10 MB camera file is not re-sent each time.
const SAMPLE_SIDE = 1024;

async function shrink(file) {
  try {
    const bitmap = await createImageBitmap(file); // upright: EXIF orientation applied
    const scale = Math.min(1, SAMPLE_SIDE / Math.max(bitmap.width, bitmap.height));
    if (scale === 1 && file.size < 1024 * 1024) return file;
    const canvas = document.createElement("canvas");
    canvas.width = Math.round(bitmap.width * scale);
    canvas.height = Math.round(bitmap.height * scale);
    canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    bitmap.close();
    const blob = await new Promise((done) => canvas.toBlob(done, "image/jpeg", 0.92));
    return blob ? new File([blob], "sample.jpg", { type: "image/jpeg" }) : file;
  } catch {
    return file; // not decodable here: the server says what is wrong with it (415)
  }
}
