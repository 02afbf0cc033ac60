// The job viewer's share block (issue 15): the job's public page (/s/{token}) — whether its
// slot allows one, the link with Copy and Open, Make link, Revoke (GET/POST/DELETE
// /api/jobs/{id}/share). viewer.js mounts it under the images; helpers come from app.js.

let ui = null; // { t, el, api, lang, copyText, flash }

export function initShare(helpers) { ui = helpers; }

export function shareBlock(jobId) {
  const { el, t } = ui;
  const box = el("section", { class: "viewer-share", "aria-labelledby": "viewer-share-title" },
    el("h3", { id: "viewer-share-title", class: "lbl", text: t("shareTitle") }),
    el("div", { class: "share-body" }, el("p", { class: "muted small", text: t("loading") })));
  load(box, jobId);
  return box;
}

async function load(box, jobId, message) {
  try {
    const state = await (await ui.api(`/api/jobs/${encodeURIComponent(jobId)}/share`)).json();
    paint(box, jobId, state, message);
  } catch (err) {
    paint(box, jobId, null, [t("shareFailed", err.message), "error"]);
  }
}

function t(...args) { return ui.t(...args); }

function paint(box, jobId, state, message) {
  const { el } = ui;
  const body = box.querySelector(".share-body");
  const msg = el("span", { class: "msg small share-msg", role: "status", "aria-live": "polite" });
  const parts = [];
  if (!state) {
    // only the message
  } else if (!state.allowed) {
    parts.push(el("p", { class: "muted small share-off", text: t("shareOff") }));
  } else if (!state.url) {
    parts.push(el("p", { class: "muted small", text: t("shareNone", state.days) }),
      el("button", { type: "button", class: "btn btn-sm share-make", text: t("shareMake"),
        onclick: () => act(box, jobId, "POST", t("shareMade")) }));
  } else {
    const until = new Date(state.expires_at * 1000).toLocaleDateString(ui.lang());
    const link = el("input", { type: "text", class: "share-link mono", readonly: true,
      "aria-label": t("shareLink") });
    link.value = state.url;
    parts.push(link,
      el("div", { class: "share-actions" },
        el("button", { type: "button", class: "btn btn-sm share-copy", text: t("copy"),
          onclick: async () => {
            const ok = await ui.copyText(state.url, link);
            ui.flash(msg, ok ? t("copied") : t("copyFailed"), ok ? "ok" : "error");
          } }),
        el("a", { href: state.url, target: "_blank", rel: "noopener noreferrer", class: "btn btn-sm share-open", text: t("shareOpen") }),
        el("button", { type: "button", class: "btn btn-sm btn-danger-outline share-revoke", text: t("shareRevoke"),
          onclick: () => act(box, jobId, "DELETE", t("shareRevoked")) })),
      el("p", { class: "muted small share-until", text: t("shareUntil", until) }));
  }
  parts.push(msg);
  body.replaceChildren(...parts);
  box.dataset.state = !state ? "error" : !state.allowed ? "off" : state.url ? "live" : "none";
  if (message) ui.flash(msg, message[0], message[1] || "ok");
}

async function act(box, jobId, method, done) {
  for (const b of box.querySelectorAll("button")) b.disabled = true;
  try {
    await ui.api(`/api/jobs/${encodeURIComponent(jobId)}/share`, { method });
    await load(box, jobId, [done, "ok"]);
  } catch (err) {
    await load(box, jobId, [err.message, "error"]);
  }
}
