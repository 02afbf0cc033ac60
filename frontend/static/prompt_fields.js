// Prompt fields on a slot card (issue 15): the booth fields the prompt may name as
// {field} or {field|default} (shared/prompt_fields.py), typed as a comma-separated list and
// saved with the slot as `prompt_fields`. For Try it, one sample value per field: sent as
// extra multipart fields with the photo, the way a booth's form or link would carry them;
// the prompt the provider received (X-Boothai-Prompt) is shown with the result.

const NAME = /^[A-Za-z_][A-Za-z0-9_]{0,31}$/;
let ui = null; // { t, el } from app.js

export function initPromptFields(helpers) { ui = helpers; }

function parse(text) {
  return [...new Set(text.split(/[\s,]+/).filter(Boolean))];
}

export class PromptFieldsControl {
  constructor(card) {
    this.card = card;
    this.samples = {}; // field → sample value typed for Try it
    const { el } = ui;
    const id = `${card.uid}-prompt_fields`;
    this.input = el("input", { type: "text", id, "data-bind": "prompt_fields", autocomplete: "off", spellcheck: "false", maxlength: "400" });
    this.label = el("label", { for: id, class: "lbl" });
    this.help = el("p", { class: "muted small prompt-fields-help", id: `${id}-help` });
    this.error = el("p", { class: "field-error", "data-error": "prompt_fields", id: `${card.uid}-err-prompt_fields`, hidden: true });
    this.samplesLabel = el("span", { class: "lbl" });
    this.samplesBox = el("div", { class: "prompt-samples" });
    this.node = el("div", { class: "field prompt-field prompt-fields" },
      this.label, this.input, this.help, this.error, this.samplesBox);
    this.input.setAttribute("aria-describedby", `${id}-help`);
    card.node.querySelector('[data-error="prompt"]').after(this.node);
    this.input.addEventListener("input", () => {
      card.draft.prompt_fields = parse(this.input.value);
      delete card.errors.prompt_fields;
      delete card.errors.prompt;
      card.render();
    });
  }

  get fields() { return this.card.draft.prompt_fields || []; }

  render() {
    const { t, el } = ui;
    const card = this.card;
    this.label.textContent = t("promptFields");
    this.help.textContent = t("promptFieldsHelp");
    this.input.placeholder = t("promptFieldsPlaceholder");
    this.input.disabled = !card.usable;
    // Keep what the operator is typing (a trailing comma); follow the draft otherwise.
    if (document.activeElement !== this.input && parse(this.input.value).join(", ") !== this.fields.join(", ")) {
      this.input.value = this.fields.join(", ");
    }
    this.samplesLabel.textContent = t("promptSamples");
    const invalid = !!card.errors.prompt_fields;
    this.input.setAttribute("aria-invalid", String(invalid));
    const valid = this.fields.filter((name) => NAME.test(name));
    const shown = [...this.samplesBox.querySelectorAll("input")].map((i) => i.dataset.field);
    if (shown.join() === valid.join()) return;
    this.samplesBox.replaceChildren(...(valid.length ? [this.samplesLabel] : []),
      ...valid.map((name) => {
        const sid = `${card.uid}-sample-${name}`;
        const input = el("input", { type: "text", id: sid, class: "prompt-sample", autocomplete: "off", maxlength: "60" });
        input.dataset.field = name;
        input.value = this.samples[name] || "";
        input.addEventListener("input", () => { this.samples[name] = input.value; });
        return el("label", { class: "field prompt-sample-field", for: sid },
          el("span", { class: "muted small mono", text: `{${name}}` }), input);
      }));
  }

  // Try it: the sample values as the booth's extra fields (empty ones left out: the default).
  addSamples(form) {
    for (const name of this.fields) {
      const value = (this.samples[name] || "").trim();
      if (value && NAME.test(name) && name !== "file") form.append(name, value);
    }
  }

  // Try it: the prompt the provider received, under the result.
  filledNote(response) {
    const header = response.headers.get("X-Boothai-Prompt");
    if (!header) return null;
    let text;
    try { text = decodeURIComponent(header); } catch { return null; }
    const { t, el } = ui;
    return el("p", { class: "small try-prompt" },
      el("strong", { text: `${t("promptSent")}: ` }), el("span", { class: "try-prompt-text", text }));
  }
}
