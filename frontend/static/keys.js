// The account's own provider keys (Gemini, Turbotext): a bar at the top of each keyed tab's
// panel with the key's state (masked, the deployment's, or none), a password field to save a
// new one, Remove, and "Check key" (the provider's cheapest real call; its answer shown with
// the provider's own words). The key itself is never read back: the API has only its state.
export const KEYS_API = "/api/provider-keys";

const bars = new Map(); // provider → { node, item, deps }

// deps: { t, api, el, flash, label(provider), onChange() } from app.js
export async function mountKeyBars(deps) {
  let items;
  try {
    items = (await (await deps.api(KEYS_API)).json()).keys;
  } catch {
    return; // the tabs still work; a bar appears on the next load
  }
  for (const item of items) {
    const panel = document.getElementById(`panel-${item.provider}`);
    if (!panel) continue;
    const bar = { node: build(item.provider, deps), item, deps };
    bars.set(item.provider, bar);
    panel.prepend(bar.node);
    render(bar);
  }
}

export function renderKeyBars() {
  bars.forEach(render);
}

function build(provider, { t, el }) {
  const id = `key-${provider}`;
  const input = el("input", { type: "password", id: `${id}-input`, class: "key-input",
    autocomplete: "off", spellcheck: "false", autocapitalize: "off", "data-lpignore": "true" });
  return el("div", { class: "keybar", "data-provider": provider, role: "group", "aria-labelledby": `${id}-title` },
    el("p", { class: "key-head" },
      el("strong", { id: `${id}-title`, class: "key-title" }), " ",
      el("span", { class: "key-state" })),
    el("form", { class: "key-form", novalidate: true },
      el("label", { class: "sr-only key-label", for: `${id}-input` }),
      input,
      el("button", { type: "submit", class: "btn btn-primary btn-sm key-save" }),
      el("button", { type: "button", class: "btn btn-sm btn-danger-outline key-remove" }),
      el("button", { type: "button", class: "btn btn-sm key-check" })),
    el("p", { class: "msg key-msg small", role: "status", "aria-live": "polite" }));
}

function render(bar) {
  const { node, item, deps: { t, label } } = bar;
  const name = label(item.provider);
  node.querySelector(".key-title").textContent = t("keyTitle", name);
  const state = node.querySelector(".key-state");
  state.dataset.source = item.source || "none";
  if (item.source === "account") {
    const when = item.updated_at ? " · " + t("keySavedAt", new Date(item.updated_at * 1000).toLocaleString()) : "";
    state.textContent = t("keyOwn", item.last4 || "") + when;
  } else if (item.source === "deployment") {
    state.textContent = t("keyDeployment");
  } else {
    state.textContent = t("keyNone");
  }
  node.querySelector(".key-label").textContent = t("keyInputLabel", name);
  node.querySelector(".key-input").placeholder = t("keyPlaceholder", name);
  node.querySelector(".key-save").textContent = t("keySave");
  const remove = node.querySelector(".key-remove");
  remove.textContent = t("keyRemove");
  remove.hidden = item.source !== "account";
  const check = node.querySelector(".key-check");
  check.textContent = t("keyCheck");
  check.disabled = !item.set;
  if (!bar.bound) bind(bar);
}

function bind(bar) {
  bar.bound = true;
  const { node, deps } = bar;
  const msg = node.querySelector(".key-msg");
  const input = node.querySelector(".key-input");
  const busy = (on) => node.querySelectorAll("button").forEach((b) => { b.disabled = on || (b.classList.contains("key-check") && !bar.item.set); });
  const change = async (request, done) => {
    busy(true);
    try {
      bar.item = await (await request()).json();
      deps.flash(msg, deps.t(done), "ok");
      render(bar);
      await deps.onChange();
    } catch (err) {
      deps.flash(msg, err.message, "error", 0);
      input.setAttribute("aria-invalid", String(err.field === "key"));
    } finally {
      busy(false);
    }
  };
  node.querySelector(".key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const key = input.value.trim();
    if (!key) {
      deps.flash(msg, deps.t("keyEmpty"), "error");
      input.focus();
      return;
    }
    change(() => deps.api(`${KEYS_API}/${bar.item.provider}`, { method: "PUT", json: { key } }), "keySaved")
      .then(() => { if (bar.item.source === "account") { input.value = ""; input.removeAttribute("aria-invalid"); } });
  });
  node.querySelector(".key-remove").addEventListener("click", () =>
    change(() => deps.api(`${KEYS_API}/${bar.item.provider}`, { method: "DELETE" }), "keyRemoved"));
  node.querySelector(".key-check").addEventListener("click", async () => {
    busy(true);
    deps.flash(msg, deps.t("keyChecking"), "busy", 0);
    try {
      const answer = await (await deps.api(`${KEYS_API}/${bar.item.provider}/check`, { method: "POST" })).json();
      const head = deps.t(`keyCheck_${answer.code}`);
      const said = answer.detail ? " — " + deps.t("keyProviderSaid", deps.label(bar.item.provider), answer.detail) : "";
      msg.dataset.code = answer.code;
      deps.flash(msg, head + said, answer.ok ? "ok" : "error", 0);
    } catch (err) {
      msg.dataset.code = "error";
      deps.flash(msg, err.message, "error", 0);
    } finally {
      busy(false);
    }
  });
}
