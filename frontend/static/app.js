// boothai operator UI. Plain ES module, no build step. Talks only to the admin JSON API
// (same origin; the browser already sends the Basic Auth credentials it prompted for).
import { el } from "./dom.js";
import { STRINGS, pickLanguage, translate } from "./i18n.js";
import { initViewer, jobOpener } from "./viewer.js";
import { initTolerance, ToleranceControl } from "./tolerance.js";
import { initPromptFields, PromptFieldsControl } from "./prompt_fields.js";
import { initLate, LateControl } from "./late.js";
import { attachTrace, causeText } from "./trace.js";
import { mountKeyBars, renderKeyBars } from "./keys.js";
import { initGalleries, refreshGalleries, renderGalleries } from "./gallery.js";

const TYPES = ["face_swap", "background", "prompt"];
const EDITABLE = ["name", "type", "prompt", "enabled", "fallback_to_original", "fallback_provider", "image_size", "key_tolerance", "prompt_fields", "share_pages", "share_days", "when_late", "late_limit_seconds", "late_text", "qr_on_results"];
const STATS_REFRESH_MS = 3000;

const state = {
  lang: "en",
  tabs: [], // from GET /api/slots
  cards: new Map(), // "provider/index" → Card
  activeTab: null,
  statsTimer: null,
  statsData: null,
  links: null, // from GET /api/slots: where upload links point, and any warning about it
};

// -- i18n -------------------------------------------------------------------------------------------
function t(key, ...args) { return translate(state.lang, key, ...args); }

function applyStaticTexts(root = document) {
  root.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  root.querySelectorAll("[data-i18n-aria]").forEach((el) => {
    el.setAttribute("aria-label", t(el.dataset.i18nAria));
  });
  root.querySelectorAll("[data-i18n-placeholder]").forEach((el) => {
    el.placeholder = t(el.dataset.i18nPlaceholder);
  });
}

// A server refusal in the operator's language: the server words it in English and names
// its kind in `code` (shared/errors.py; slot problems by their rule's code). English gets the
// server's own sentence, which is more precise; other languages the catalogue's, when it
// has one.
function say(err) {
  // A provider's failure: its cause in words, then what the provider itself said.
  const cause = err.cause ? causeText(err.cause) : "";
  if (cause) return `${cause} (${err.message})`;
  if (state.lang === "en" || !err.code) return err.message;
  const table = STRINGS[state.lang] || {};
  return table[`problem_${err.code}`] || table[`err_${err.code}`] || table[`reason_${err.code}`] || err.message;
}

function setLanguage(lang) {
  state.lang = lang;
  try { localStorage.setItem("boothai.lang", lang); } catch { /* private mode */ }
  document.documentElement.lang = lang;
  document.querySelectorAll(".lang-btn").forEach((b) => {
    b.setAttribute("aria-pressed", String(b.dataset.lang === lang));
  });
  applyStaticTexts();
  renderTabs();
  state.cards.forEach((card) => card.render());
  renderLinkWarning();
  if (state.statsData) renderStats(state.statsData);
  updatePasswordRevealLabel();
  renderKeyBars();
  renderGalleries();
}

// -- API ----------------------------------------------------------------------------------------------
class ApiError extends Error {
  constructor(status, detail, field, code, cause) {
    super(detail);
    this.status = status;
    this.field = field || null;
    this.code = code || null;
    this.cause = cause || null;
  }
}

async function errorFrom(response) {
  let detail = `${response.status} ${response.statusText}`;
  let field = null;
  let code = null;
  let cause = null;
  try {
    const body = await response.json();
    code = typeof body.code === "string" ? body.code : null;
    cause = typeof body.cause === "string" ? body.cause : null;
    if (typeof body.detail === "string") {
      detail = body.detail;
      field = body.field || null;
    } else if (Array.isArray(body.detail) && body.detail.length) {
      // FastAPI request validation: [{loc: ["body", "prompt"], msg: "..."}]
      const first = body.detail[0];
      const loc = Array.isArray(first.loc) ? first.loc : [];
      field = loc.length > 1 ? String(loc[loc.length - 1]) : null;
      detail = first.msg || detail;
    }
  } catch { /* not JSON */ }
  if (response.status === 401) showStatus(t("signedOut"), true);
  return new ApiError(response.status, detail, field, code, cause);
}

async function api(path, { method = "GET", json, form } = {}) {
  const init = { method, credentials: "same-origin", headers: {} };
  if (json !== undefined) {
    init.body = JSON.stringify(json);
    init.headers["Content-Type"] = "application/json";
  } else if (form) {
    init.body = form;
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError(0, t("networkError"));
  }
  if (!response.ok) throw await errorFrom(response);
  return response;
}

// -- helpers -----------------------------------------------------------------------------------------
function showStatus(text, isError = false) {
  const line = document.getElementById("app-status");
  line.textContent = text;
  line.hidden = !text;
  line.classList.toggle("error", isError);
}

function flash(node, text, kind = "ok", ms = 4000) {
  node.textContent = text;
  node.dataset.kind = kind;
  clearTimeout(node._timer);
  if (ms) node._timer = setTimeout(() => { if (node.textContent === text) node.textContent = ""; }, ms);
}

async function copyText(text, inputForFallback) {
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch { /* fall through to the old way */ }
  }
  // Non-secure context (plain http on a venue laptop): select + execCommand.
  let node = inputForFallback;
  let temp = null;
  if (!node) {
    temp = node = el("textarea", { class: "offscreen", readonly: true });
    node.value = text;
    document.body.append(node);
  }
  const wasPassword = node.type === "password";
  if (wasPassword) node.type = "text";
  node.focus();
  node.select();
  let ok = false;
  try { ok = document.execCommand("copy"); } catch { ok = false; }
  if (wasPassword) node.type = "password";
  if (temp) temp.remove();
  return ok;
}

function seconds(ms) {
  if (ms === null || ms === undefined) return "—";
  const ru = state.lang === "ru";
  if (ms < 1000) return `${Math.round(ms)} ${ru ? "мс" : "ms"}`;
  return (ms / 1000).toLocaleString(state.lang, { maximumFractionDigits: 1, minimumFractionDigits: 1 }) +
    (ru ? " с" : " s");
}

function typeLabel(type) { return type ? t(`type_${type}`) : "—"; }

function tabFor(provider) { return state.tabs.find((tab) => tab.provider === provider); }

function anyDirty() { return [...state.cards.values()].some((card) => card.dirty()); }

// -- a slot card ---------------------------------------------------------------------------------------
class Card {
  constructor(tab, slot) {
    this.tab = tab;
    this.saved = slot;
    this.draft = pickEditable(slot);
    this.errors = {};
    this.refVersion = Math.round(slot.updated_at || 0);
    this.node = document.getElementById("card-tpl").content.firstElementChild.cloneNode(true);
    this.node.dataset.slot = `${slot.provider}-${slot.index}`;
    this.node.id = `slot-${slot.provider}-${slot.index}`;
    this.q = (sel) => this.node.querySelector(sel);
    this.bind();
    this.render();
    this.trace = attachTrace(this); // the slot's booth requests (trace.js)
  }

  get key() { return `${this.saved.provider}/${this.saved.index}`; }
  get apiPath() { return `/api/slots/${this.saved.provider}/${this.saved.index}`; }
  // A tab that only lacks a key stays editable: its slots are prepared ahead (issue 14).
  get usable() { return this.tab.editable ?? this.tab.available; }

  // JSON: prompt_fields is a list (prompt_fields.js).
  dirty() { return EDITABLE.some((name) => JSON.stringify(this.draft[name] ?? null) !== JSON.stringify(this.saved[name] ?? null)); }

  bind() {
    const n = this.node;
    const uid = this.uid = `${this.saved.provider}-${this.saved.index}`;
    // Give every control a unique id so labels and error messages can point at it.
    n.querySelectorAll("[data-bind]").forEach((input) => { input.id = `${uid}-${input.dataset.bind}`; });
    n.querySelectorAll("[data-error]").forEach((p) => { p.id = `${uid}-err-${p.dataset.error}`; });
    n.querySelector(".slot-no").id = `${uid}-title`;
    n.setAttribute("aria-labelledby", `${uid}-title`);

    n.querySelectorAll("[data-bind]").forEach((input) => {
      const name = input.dataset.bind;
      const onChange = () => {
        if (input.type === "checkbox") this.draft[name] = input.checked;
        else if (name === "prompt" || name === "name") this.draft[name] = input.value;
        else if (input.type === "number") this.draft[name] = input.value === "" ? null : Number(input.value);
        else this.draft[name] = input.value || null;
        if (name === "type") this.fixFallback();
        delete this.errors[name];
        if (name === "enabled") delete this.errors.reference;
        this.render();
      };
      const typing = input.tagName === "TEXTAREA" || input.type === "text";
      input.addEventListener(typing ? "input" : "change", onChange);
    });
    this.q(".save").addEventListener("click", () => this.save());
    this.q(".copy-link").addEventListener("click", async () => {
      const ok = await copyText(this.saved.upload_url);
      flash(this.q(".link-msg"), ok ? t("copied") : t("copyFailed"), ok ? "ok" : "error");
    });
    this.q(".ref-upload").addEventListener("click", () => this.q(".ref-file").click());
    this.q(".ref-file").addEventListener("change", (e) => {
      const file = e.target.files[0];
      e.target.value = "";
      if (file) this.uploadReference(file);
    });
    this.q(".ref-remove").addEventListener("click", () => this.removeReference());
    this.q(".try").addEventListener("click", () => this.q(".try-file").click());
    this.q(".try-file").addEventListener("change", (e) => {
      const file = e.target.files[0];
      e.target.value = "";
      if (file) this.tryPhoto(file);
    });
    this.tolerance = new ToleranceControl(this); // Local background cards only (tolerance.js)
    this.promptFields = new PromptFieldsControl(this); // {field} placeholders (prompt_fields.js)
    this.late = new LateControl(this); // when the booth's window runs out (late.js)
  }

  fixFallback() {
    const options = fallbackChoices(this.saved.provider, this.draft.type);
    if (this.draft.fallback_provider && !options.includes(this.draft.fallback_provider)) {
      this.draft.fallback_provider = null;
    }
  }

  // What keeps the draft from running, from the tab's requirements as the server sent them
  // (shared/slot_rules.py): each need is met by any one of its inputs.
  problem() {
    const d = this.draft;
    if (!d.type) return t("problemNoType");
    const held = { reference: !!this.saved.has_reference, prompt: !!(d.prompt || "").trim() };
    const needs = this.tab.requirements?.[d.type]?.needs || [];
    const unmet = needs.find((need) => !need.any_of.some((input) => held[input]));
    if (unmet) return t(`problem_${unmet.code}`);
    if (this.tab.unavailable_code === "no_key") return t("problem_no_key", this.tab.label);
    if (!this.dirty() && this.saved.problem) {
      return say({ message: this.saved.problem, code: this.saved.problem_code });
    }
    return null;
  }

  uses(input) {
    const rule = this.tab.requirements?.[this.draft.type];
    return rule ? rule.uses.includes(input) : true;
  }

  render() {
    const n = this.node;
    const s = this.saved;
    const d = this.draft;
    const usable = this.usable;
    const dirty = this.dirty();
    applyStaticTexts(n);

    n.querySelector(".slot-num").textContent = t("slot", String(s.index).padStart(2, "0"));
    n.querySelector(".slot-name").textContent = s.name ? ` · ${s.name}` : "";
    const nameInput = n.querySelector('[data-bind="name"]');
    if (nameInput.value !== (d.name || "")) nameInput.value = d.name || "";
    n.classList.toggle("is-enabled", !!s.enabled);
    n.classList.toggle("is-configured", !!s.type);
    n.classList.toggle("is-dirty", dirty);
    n.classList.toggle("is-unavailable", !usable);
    // Compact until a type is chosen; no prompt box where the provider takes no prompt.
    n.classList.toggle("no-type", !d.type);
    n.classList.toggle("no-prompt", !this.uses("prompt"));
    n.classList.toggle("no-reference", !this.uses("reference"));

    const badge = n.querySelector(".badge");
    const badgeKind = !usable ? "unavailable" : s.enabled ? "enabled" : s.type ? "configured" : "empty";
    badge.dataset.kind = badgeKind;
    badge.textContent = t(`badge${badgeKind[0].toUpperCase()}${badgeKind.slice(1)}`);
    const mark = n.querySelector(".dirty-mark");
    mark.hidden = !dirty;
    mark.textContent = t("unsaved");

    // type select: only what this provider can do
    const typeSel = n.querySelector('[data-bind="type"]');
    typeSel.replaceChildren(el("option", { value: "", text: t("chooseType") }),
      ...TYPES.filter((ty) => this.tab.types.includes(ty) || ty === d.type)
        .map((ty) => el("option", { value: ty, text: typeLabel(ty) })));
    typeSel.value = d.type || "";

    const prompt = n.querySelector('[data-bind="prompt"]');
    if (prompt.value !== (d.prompt || "")) prompt.value = d.prompt || "";
    prompt.placeholder = d.type === "prompt" ? t("promptPlaceholderNeeded") : t("promptPlaceholder");

    n.querySelector('[data-bind="enabled"]').checked = !!d.enabled;
    n.querySelector('[data-bind="fallback_to_original"]').checked = !!d.fallback_to_original;
    n.querySelector('[data-bind="share_pages"]').checked = !!d.share_pages;
    const days = n.querySelector('[data-bind="share_days"]');
    if (document.activeElement !== days) days.value = d.share_days ?? "";

    const fbSel = n.querySelector('[data-bind="fallback_provider"]');
    const choices = fallbackChoices(s.provider, d.type);
    const opts = [el("option", { value: "", text: t("noFallback") }),
      ...choices.map((p) => el("option", { value: p, text: tabFor(p)?.label || p }))];
    if (d.fallback_provider && !choices.includes(d.fallback_provider)) {
      opts.push(el("option", { value: d.fallback_provider,
        text: t("fallbackUnavailable", tabFor(d.fallback_provider)?.label || d.fallback_provider) }));
    }
    fbSel.replaceChildren(...opts);
    fbSel.value = d.fallback_provider || "";

    // output size: only where the provider offers sizes for this slot's model (Gemini 3)
    const sizes = s.image_sizes || [];
    n.querySelector(".size-field").hidden = sizes.length === 0;
    const sizeSel = n.querySelector('[data-bind="image_size"]');
    const sizeOpts = [el("option", { value: "", text: t("sizeDefault", s.image_size_default || "") }),
      ...sizes.map((size) => el("option", { value: size, text: t(`size${size}`) }))];
    if (d.image_size && !sizes.includes(d.image_size)) {
      sizeOpts.push(el("option", { value: d.image_size, text: d.image_size }));
    }
    sizeSel.replaceChildren(...sizeOpts);
    sizeSel.value = d.image_size || "";

    // reference
    const thumb = n.querySelector(".ref-thumb");
    const refLabel = n.querySelector(".ref-label");
    refLabel.textContent = d.type === "background" ? t("referenceBg") : d.type === "face_swap" ? t("referenceFace") : t("reference");
    // Face swap: the reference is the scene the guest's face goes into, not a face to insert
    // (every provider reads it so: shared/providers/prompts.py, turbotext.py ROLES).
    const refHelp = n.querySelector(".ref-help");
    refHelp.hidden = d.type !== "face_swap";
    refHelp.textContent = d.type === "face_swap" ? t("referenceFaceHelp") : "";
    if (s.has_reference && s.reference_url) {
      const src = `${s.reference_url}?thumb=1&v=${this.refVersion}`;
      let img = thumb.querySelector("img");
      if (!img) {
        img = el("img", { alt: "" });
        thumb.replaceChildren(img);
      }
      if (img.getAttribute("src") !== src) img.src = src;
      img.alt = refLabel.textContent;
    } else {
      thumb.replaceChildren(el("span", { class: "ref-none", text: "—" }));
    }
    n.querySelector(".ref-upload").textContent = s.has_reference ? t("replaceRef") : t("uploadRef");
    n.querySelector(".ref-remove").hidden = !s.has_reference;

    const link = n.querySelector(".link");
    link.textContent = s.upload_url;
    link.setAttribute("aria-label", t("uploadLinkFor", s.index));
    n.querySelector(".copy-link").setAttribute("aria-label", `${t("copy")}: ${t("uploadLinkFor", s.index)}`);

    // errors next to their fields
    n.querySelectorAll("[data-error]").forEach((p) => {
      const message = this.errors[p.dataset.error];
      p.hidden = !message;
      p.textContent = message || "";
    });
    const described = { name: "name", type: "type", prompt: "prompt", enabled: "enabled", fallback_provider: "fallback_provider", image_size: "image_size", share_days: "share_days" };
    for (const [bind, field] of Object.entries(described)) {
      const input = n.querySelector(`[data-bind="${bind}"]`);
      const has = !!this.errors[field];
      input.setAttribute("aria-invalid", String(has));
      if (has) input.setAttribute("aria-describedby", `${this.uid}-err-${field}`);
      else input.removeAttribute("aria-describedby");
    }
    n.querySelector(".ref").classList.toggle("invalid", !!this.errors.reference);

    const hint = n.querySelector(".hint");
    const hasErrors = Object.values(this.errors).some(Boolean);
    const problem = usable && !hasErrors && (d.type || dirty) ? this.problem() : null;
    hint.hidden = !problem;
    hint.textContent = problem || "";

    // Unavailable provider: the link stays, the controls that cannot work are off.
    for (const control of n.querySelectorAll("select, textarea, input[type=checkbox], input[type=number], .save, .try, .ref-upload, .ref-remove")) {
      control.disabled = !usable;
    }
    n.querySelector(".save").disabled = !usable || !dirty;
    const tryBtn = n.querySelector(".try");
    tryBtn.title = dirty ? t("trySavedNote") : "";
    this.tolerance.render();
    this.promptFields.render();
    this.late.render();
  }

  async save() {
    const msg = this.q(".card-foot .msg");
    const body = { ...this.draft, prompt: this.draft.prompt || "", model: this.saved.model || null };
    this.errors = {};
    flash(msg, t("saving"), "busy", 0);
    this.q(".save").disabled = true;
    try {
      const response = await api(this.apiPath, { method: "PUT", json: body });
      this.saved = await response.json();
      this.draft = pickEditable(this.saved);
      this.render();
      flash(msg, t("saved"), "ok");
    } catch (err) {
      const field = normaliseField(err.field);
      if (field) {
        this.errors[field] = say(err);
        this.render();
        flash(msg, t("fixFields"), "error", 0);
        const target = field === "reference" ? this.q(".ref-upload") : this.q(`[data-bind="${field}"]`);
        target?.focus();
      } else {
        this.render();
        flash(msg, t("saveFailed", say(err)), "error", 0);
      }
    }
    renderTabs();
  }

  async uploadReference(file) {
    const msg = this.q(".card-foot .msg");
    const form = new FormData();
    form.append("file", file, file.name);
    flash(msg, t("uploading"), "busy", 0);
    try {
      const response = await api(`${this.apiPath}/reference`, { method: "PUT", form });
      this.adoptReference(await response.json());
      delete this.errors.reference;
      this.render();
      flash(msg, t("uploaded"), "ok");
    } catch (err) {
      this.errors.reference = say(err);
      this.render();
      flash(msg, "", "ok", 0);
    }
  }

  async removeReference() {
    const msg = this.q(".card-foot .msg");
    try {
      const response = await api(`${this.apiPath}/reference`, { method: "DELETE" });
      this.adoptReference(await response.json());
      this.render();
      flash(msg, t("removed"), "ok");
      renderTabs();
    } catch (err) {
      flash(msg, t("saveFailed", say(err)), "error", 0);
    }
  }

  // A reference upload saves only the reference: keep the operator's other edits as they are.
  adoptReference(fresh) {
    for (const key of ["has_reference", "reference_url", "problem", "updated_at", "enabled"]) {
      this.saved[key] = fresh[key];
    }
    this.refVersion += 1;
  }

  async tryPhoto(file) {
    const box = this.q(".try-result");
    const tryBtn = this.q(".try");
    const before = URL.createObjectURL(file);
    box.hidden = false;
    box.replaceChildren(el("p", { class: "muted small", text: t("trying") }));
    tryBtn.disabled = true;
    const started = performance.now();
    try {
      const form = new FormData();
      form.append("file", file, file.name);
      this.promptFields.addSamples(form);
      const response = await api(`${this.apiPath}/test`, { method: "POST", form });
      const blob = await response.blob();
      const header = response.headers.get("X-Boothai-Duration-Ms");
      const ms = header !== null ? Number(header) : Math.round(performance.now() - started);
      const after = URL.createObjectURL(blob);
      const servedOriginal = response.headers.get("X-Boothai-Original");
      box.replaceChildren(...compact(
        el("div", { class: "ba" },
          figure(before, t("before")),
          figure(after, t("after"), "try-after")),
        el("p", { class: "took small", text: t("took", seconds(ms)) }),
        this.promptFields.filledNote(response),
        servedOriginal ? el("p", { class: "field-error", text: t("servedOriginal", servedOriginal) }) : null,
      ));
      box.dataset.durationMs = String(ms);
    } catch (err) {
      box.replaceChildren(...compact(
        el("div", { class: "ba" }, figure(before, t("before"))),
        el("p", { class: "field-error try-error", role: "alert", text: t("tryFailed", say(err)) }),
      ));
    } finally {
      tryBtn.disabled = !this.usable;
    }
  }
}

function compact(...nodes) { return nodes.filter(Boolean); }

function figure(src, caption, cls) {
  return el("figure", { class: cls },
    el("img", { src, alt: caption }),
    el("figcaption", { text: caption }));
}

function pickEditable(slot) {
  const out = {};
  for (const name of EDITABLE) out[name] = name === "prompt_fields" ? [...(slot.prompt_fields || [])] : slot[name] ?? (name === "prompt" || name === "name" ? "" : name === "enabled" || name === "fallback_to_original" || name === "share_pages" || name === "qr_on_results" ? false : null);
  return out;
}

function normaliseField(field) {
  if (!field) return null;
  const known = ["name", "type", "prompt", "reference", "fallback_provider", "enabled", "image_size", "key_tolerance", "prompt_fields", "share_pages", "share_days", "when_late", "late_limit_seconds", "late_text", "qr_on_results"];
  if (known.includes(field)) return field;
  if (field === "fallback_to_original") return "enabled";
  return null;
}

function fallbackChoices(own, type) {
  if (!type) return []; // no type yet → nothing to fall back to
  return state.tabs
    .filter((tab) => tab.provider !== own && tab.available && tab.types.includes(type))
    .map((tab) => tab.provider);
}

// -- tabs -------------------------------------------------------------------------------------------
function buildTabs() {
  const list = document.getElementById("tablist");
  const panels = document.getElementById("panels");
  list.replaceChildren();
  panels.replaceChildren();
  for (const tab of state.tabs) {
    const button = el("button", {
      type: "button", role: "tab", id: `tab-${tab.provider}`, class: "tab",
      "aria-controls": `panel-${tab.provider}`, "aria-selected": "false", tabindex: "-1",
      "data-provider": tab.provider,
    },
    el("span", { class: "tab-label" }),
    el("span", { class: "tab-count" }),
    el("span", { class: "tab-warn", text: "!" }),
    el("span", { class: "tab-dirty", hidden: true },
      el("span", { "aria-hidden": "true", text: "●" }), el("span", { class: "sr-only" })));
    button.addEventListener("click", () => selectTab(tab.provider));
    list.append(button);

    const grid = el("div", { class: "grid" });
    const head = el("div", { class: "panel-intro" });
    const panel = el("section", {
      role: "tabpanel", id: `panel-${tab.provider}`, class: "panel",
      "aria-labelledby": `tab-${tab.provider}`, tabindex: "0", hidden: true,
    }, head, grid);
    panels.append(panel);
    for (const slot of tab.slots) {
      const card = new Card(tab, slot);
      state.cards.set(card.key, card);
      grid.append(card.node);
    }
  }
  list.addEventListener("keydown", onTabKey);
  renderTabs();
}

function renderTabs() {
  for (const tab of state.tabs) {
    const button = document.getElementById(`tab-${tab.provider}`);
    if (!button) continue;
    const cards = tab.slots.map((s) => state.cards.get(`${s.provider}/${s.index}`)).filter(Boolean);
    const enabled = cards.filter((c) => c.saved.enabled).length;
    const dirty = cards.some((c) => c.dirty());
    // Update in place: replacing the button's children mid-click would swallow the click.
    button.querySelector(".tab-label").textContent = tab.label;
    const count = button.querySelector(".tab-count");
    count.hidden = !tab.available;
    count.textContent = `${enabled}/20`;
    count.title = t("enabledCount", enabled);
    const warn = button.querySelector(".tab-warn");
    warn.hidden = tab.available;
    warn.title = t("unavailableTitle");
    const mark = button.querySelector(".tab-dirty");
    mark.hidden = !dirty;
    mark.title = t("unsavedTab");
    mark.querySelector(".sr-only").textContent = t("unsavedTab");
    button.classList.toggle("has-dirty", dirty);
    const head = document.querySelector(`#panel-${tab.provider} .panel-intro`);
    if (!head) continue;
    const parts = [];
    if (tab.unavailable_code === "no_key") {
      parts.push(el("div", { class: "notice warn", role: "note" },
        el("strong", { text: t("noKeyTitle", tab.label) }),
        el("p", { class: "small", text: t("noKeyNote", tab.label) })));
    } else if (!tab.available) {
      parts.push(el("div", { class: "notice warn", role: "note" },
        el("strong", { text: t("unavailableTitle") + ": " }),
        el("span", { class: "reason", text: tab.unavailable_reason || "" }),
        el("p", { class: "small", text: t("unavailableNote") })));
    } else {
      parts.push(el("p", { class: "muted small" },
        t("types_supported", TYPES.filter((ty) => tab.types.includes(ty)).map(typeLabel).join(", ")),
        " · ", t("enabledCount", enabled),
        tab.types_note ? el("span", { class: "types-note", text: " · " + tab.types_note }) : null));
    }
    head.replaceChildren(...parts);
  }
}

function selectTab(provider, focus = false) {
  state.activeTab = provider;
  try { sessionStorage.setItem("boothai.tab", provider); } catch { /* ignore */ }
  for (const tab of state.tabs) {
    const on = tab.provider === provider;
    const button = document.getElementById(`tab-${tab.provider}`);
    button.setAttribute("aria-selected", String(on));
    button.tabIndex = on ? 0 : -1;
    document.getElementById(`panel-${tab.provider}`).hidden = !on;
    if (on && focus) button.focus();
    if (on) revealTab(button);
  }
}

// On a phone the tab strip scrolls sideways: bring the selected tab into it (after a
// restore from sessionStorage too), moving only the strip, never the page.
function revealTab(button) {
  const strip = button.closest(".tabs-wrap");
  if (!strip) return;
  const left = button.offsetLeft - strip.offsetLeft;
  const right = left + button.offsetWidth;
  if (left < strip.scrollLeft) strip.scrollLeft = Math.max(0, left - 8);
  else if (right > strip.scrollLeft + strip.clientWidth) strip.scrollLeft = right - strip.clientWidth + 8;
}

// Upload links are built from one address (shared/usecases/console.py LinkBase). Say so when
// a booth PC could not reach it: this machine only, or guessed from a private address.
function renderLinkWarning() {
  const box = document.getElementById("link-warning");
  const links = state.links;
  if (!box || !links || !links.warning) {
    if (box) box.hidden = true;
    return;
  }
  const key = `linkWarning_${links.warning}_${links.source === "browser" ? "guessed" : "set"}`;
  box.replaceChildren(el("strong", { text: t("linkWarningTitle") + " " }),
    el("span", { text: t(key, links.base) }));
  box.hidden = false;
}

function onTabKey(event) {
  const order = state.tabs.map((tab) => tab.provider);
  const at = order.indexOf(state.activeTab);
  let next = null;
  if (event.key === "ArrowRight") next = order[(at + 1) % order.length];
  else if (event.key === "ArrowLeft") next = order[(at - 1 + order.length) % order.length];
  else if (event.key === "Home") next = order[0];
  else if (event.key === "End") next = order[order.length - 1];
  if (next) {
    event.preventDefault();
    selectTab(next, true);
  }
}

// -- statistics panel --------------------------------------------------------------------------------
const dialog = () => document.getElementById("stats");

function openStats() {
  const d = dialog();
  if (!d.open) d.showModal();
  refreshStats();
  refreshGalleries(); // once per opening: the 3 s refresh never rebuilds its form
  clearInterval(state.statsTimer);
  state.statsTimer = setInterval(() => { if (!document.hidden) refreshStats(); }, STATS_REFRESH_MS);
}

function closeStats() {
  const d = dialog();
  if (d.open) d.close();
}

async function refreshStats() {
  try {
    const response = await api("/api/stats");
    state.statsData = await response.json();
    renderStats(state.statsData);
  } catch (err) {
    flash(document.getElementById("pw-msg"), err.message, "error", 0);
  }
}

function renderStats(data) {
  const pw = document.getElementById("upload-password");
  if (pw.value !== data.upload_password) pw.value = data.upload_password;
  if (data.upload_password_problem) flash(document.getElementById("pw-msg"), data.upload_password_problem, "error", 0);

  const body = document.querySelector("#counts tbody");
  body.replaceChildren(...data.providers.map((p) => el("tr", { "data-provider": p.provider },
    el("th", { scope: "row", text: p.label }),
    el("td", { class: "num today-done" }, String(p.today.done), lateCount(p.today.late)),
    el("td", { class: "num total-done" }, String(p.total.done), lateCount(p.total.late)),
    el("td", { class: `num failed ${p.today.failed || p.total.failed ? "has-failed" : ""}`, title: t("failedTitle"), text: `${p.today.failed} / ${p.total.failed}` }),
    el("td", { class: "num avg", text: seconds(p.total.average_ms) }),
    el("td", { class: "num refused", title: t("refusedTitle"), text: `${p.today.refused} / ${p.total.refused}` }),
    el("td", { class: "num tried", title: t("triedTitle"), text: `${p.today.tried} / ${p.total.tried}` }),
  )));

  const jobs = document.getElementById("jobs");
  // Rebuild the list only when something changed, so thumbnails do not flicker every refresh.
  const signature = state.lang + JSON.stringify(data.recent_jobs);
  const unchanged = jobs.dataset.signature === signature;
  jobs.dataset.signature = signature;
  document.getElementById("stats-updated").textContent =
    t("updatedAt", new Date().toLocaleTimeString(state.lang));
  if (unchanged) return;
  document.getElementById("jobs-empty").hidden = data.recent_jobs.length > 0;
  const label = (provider) => data.providers.find((p) => p.provider === provider)?.label || provider;
  jobs.replaceChildren(...data.recent_jobs.map((job) => {
    const when = new Date(job.created_at * 1000);
    return el("li", { class: `job status-${job.status}`, "data-job": job.job_id },
      jobOpener(job, // opens the job viewer (viewer.js)
        job.original_url ? el("img", { src: `${job.original_url}?thumb=1`, alt: t("original"), loading: "lazy" }) : el("span", { class: "thumb-none", text: "—" }),
        job.result_url ? el("img", { src: `${job.result_url}?thumb=1`, alt: t("result"), loading: "lazy" }) : el("span", { class: "thumb-none", text: "—" })),
      el("div", { class: "job-meta" },
        el("div", { class: "job-line" },
          el("strong", { class: "job-slot", text: `${label(job.provider)} · ${t("slotShort")} ${job.slot_index}${job.slot_name ? ` · ${job.slot_name}` : ""}` }),
          el("span", { class: `pill status-pill ${job.status}`, text: t(`status_${job.status}`) }),
          job.late ? el("span", { class: "pill late-pill", title: t("lateBadgeTitle"), text: t("lateBadge") }) : null,
          el("span", { class: "pill", text: t(`source_${job.source}`) })),
        el("div", { class: "muted small" },
          `${when.toLocaleString(state.lang)} · ${typeLabel(job.type)} · ${seconds(job.total_ms)}`),
        // A failure's cause in words (trace.js), its code beside it for support.
        job.reason ? el("div", { class: "job-reason small", text: causeText(job.cause) ? `${causeText(job.cause)} (${job.reason})` : job.reason }) : null,
        // What the provider itself said (Turbotext answers in Russian), as plain text.
        job.detail ? el("div", { class: "job-detail small muted", text: job.detail }) : null));
  }));
}

// Of the done, those that finished after the booth already had the original (late.js): a
// part of the done, so said beside it, and only when there are any.
function lateCount(late) {
  if (!late) return null;
  return el("span", { class: "late-count", title: t("lateTitle"), text: ` ${t("lateCount", late)}` });
}

function updatePasswordRevealLabel() {
  const button = document.getElementById("pw-reveal");
  const shown = button.getAttribute("aria-pressed") === "true";
  button.textContent = shown ? t("hide") : t("reveal");
}

function bindStats() {
  document.getElementById("open-stats").addEventListener("click", openStats);
  document.getElementById("close-stats").addEventListener("click", closeStats);
  dialog().addEventListener("close", () => {
    clearInterval(state.statsTimer);
    state.statsTimer = null;
    document.getElementById("pw-confirm").hidden = true;
    document.getElementById("open-stats").focus();
  });
  // A click on the backdrop (outside the panel box) closes it too.
  dialog().addEventListener("click", (event) => {
    if (event.target !== dialog()) return;
    const r = dialog().getBoundingClientRect();
    const inside = event.clientX >= r.left && event.clientX <= r.right && event.clientY >= r.top && event.clientY <= r.bottom;
    if (!inside) closeStats();
  });
  const pw = document.getElementById("upload-password");
  const reveal = document.getElementById("pw-reveal");
  reveal.addEventListener("click", () => {
    const show = reveal.getAttribute("aria-pressed") !== "true";
    reveal.setAttribute("aria-pressed", String(show));
    pw.type = show ? "text" : "password";
    updatePasswordRevealLabel();
  });
  document.getElementById("pw-copy").addEventListener("click", async () => {
    const ok = await copyText(pw.value, pw);
    flash(document.getElementById("pw-msg"), ok ? t("copied") : t("copyFailed"), ok ? "ok" : "error");
  });
  const confirmBox = document.getElementById("pw-confirm");
  document.getElementById("pw-rotate").addEventListener("click", () => {
    confirmBox.hidden = false;
    document.getElementById("pw-rotate-no").focus();
  });
  document.getElementById("pw-rotate-no").addEventListener("click", () => {
    confirmBox.hidden = true;
    document.getElementById("pw-rotate").focus();
  });
  document.getElementById("pw-rotate-yes").addEventListener("click", async () => {
    const msg = document.getElementById("pw-msg");
    try {
      const response = await api("/api/upload-password/rotate", { method: "POST" });
      const { upload_password: fresh } = await response.json();
      pw.value = fresh;
      if (state.statsData) state.statsData.upload_password = fresh;
      confirmBox.hidden = true;
      document.getElementById("pw-rotate").focus();
      flash(msg, t("rotated"), "ok", 8000);
    } catch (err) {
      flash(msg, err.message, "error", 0);
    }
  });
}

// -- start -------------------------------------------------------------------------------------------
async function start() {
  let stored = null;
  try { stored = localStorage.getItem("boothai.lang"); } catch { /* ignore */ }
  state.lang = pickLanguage(stored, navigator.languages || [navigator.language]);
  document.documentElement.lang = state.lang;
  document.querySelectorAll(".lang-btn").forEach((button) => {
    button.addEventListener("click", () => setLanguage(button.dataset.lang));
  });
  applyStaticTexts();
  document.querySelectorAll(".lang-btn").forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.lang === state.lang)));
  bindStats();
  const helpers = { t, el, api, seconds, typeLabel, lang: () => state.lang, copyText, flash,
    providerLabel: (provider) => tabFor(provider)?.label || provider, say,
    slots: () => [...state.cards.values()].map((card) => card.saved) };
  initViewer(helpers);
  initGalleries(helpers);
  initTolerance(helpers);
  initPromptFields(helpers);
  initLate(helpers);
  window.addEventListener("beforeunload", (event) => {
    if (!anyDirty()) return;
    event.preventDefault();
    event.returnValue = t("leaveWarning");
  });

  try {
    const response = await api("/api/slots");
    const data = await response.json();
    state.tabs = data.tabs;
    state.links = data.links || null;
    document.getElementById("tenant").textContent = data.tenant;
  } catch (err) {
    if (err.status !== 401) showStatus(t("loadFailed", err.message), true);
    return;
  }
  showStatus("");
  buildTabs();
  renderLinkWarning();
  let initial = null;
  try { initial = sessionStorage.getItem("boothai.tab"); } catch { /* ignore */ }
  if (!state.tabs.some((tab) => tab.provider === initial)) {
    initial = (state.tabs.find((tab) => tab.available) || state.tabs[0])?.provider;
  }
  if (initial) selectTab(initial);
  await mountKeyBars({ t, api, el, flash, label: (p) => tabFor(p)?.label || p, onChange: refreshTabStates });
  document.body.dataset.ready = "true";
}

// After a key is saved or removed: each tab's availability and each card's problem, re-read
// (drafts untouched).
async function refreshTabStates() {
  const data = await (await api("/api/slots")).json();
  for (const fresh of data.tabs) {
    const tab = tabFor(fresh.provider);
    if (!tab) continue;
    for (const k of ["available", "unavailable_reason", "unavailable_code", "editable"]) tab[k] = fresh[k];
    for (const slot of fresh.slots) {
      const card = state.cards.get(`${slot.provider}/${slot.index}`);
      if (!card) continue;
      card.saved.problem = slot.problem;
      card.saved.problem_code = slot.problem_code;
      card.render();
    }
  }
  renderTabs();
}

// Re-render tab markers whenever a card changes (cheap: five buttons).
document.addEventListener("input", () => queueMicrotask(renderTabs));
document.addEventListener("change", () => queueMicrotask(renderTabs));

window.boothai = { state }; // for debugging in the console
start();
