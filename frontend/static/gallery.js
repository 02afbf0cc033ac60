// Event galleries, in the Statistics panel (issue 15): make one — a name, some of the
// account's slots, the event's dates, how many days the link lives — and the list of live
// ones, each with its link (Copy, Open), its expiry, Revoke and "Download all"
// (GET/POST /api/galleries, DELETE /api/galleries/{id}). The guests' page is /g/{token}.
//
// "Download all" writes the ZIP here (zip.js) from GET /api/galleries/{id}/photos, fetching
// one photo at a time with the page's own credentials: on AWS Lambda an answer is at most
// 6 MB, so no server-built ZIP of an event could be sent. A large event comes in parts
// (PART_BYTES each) so the browser never holds more than one part in memory.
// app.js hands over its helpers once (initGalleries) and calls refreshGalleries when the
// panel opens and renderGalleries when the language changes.

import { ZipWriter, MAX_ENTRIES } from "./zip.js";

const PART_BYTES = 512 * 1024 * 1024;

let ui = null; // { t, el, api, lang, copyText, flash, say, slots, providerLabel }
let section = null;
let galleries = []; // from GET /api/galleries
let loaded = false;
const chosen = new Set(); // slot keys ticked in the form, kept across re-renders
const busy = new Map(); // gallery id → its download's progress, while it runs
let confirming = null; // the gallery id whose Revoke waits for a "yes"

function t(...args) { return ui.t(...args); }

export function initGalleries(helpers) {
  ui = helpers;
  section = document.getElementById("galleries");
}

export async function refreshGalleries(message) {
  if (!section) return;
  try {
    galleries = (await (await ui.api("/api/galleries")).json()).galleries;
    loaded = true;
    renderGalleries(message);
  } catch (err) {
    renderGalleries([t("galleryLoadFailed", ui.say(err)), "error"]);
  }
}

const slotKey = (slot) => `${slot.provider}#${String(slot.index).padStart(2, "0")}`;

function slotLabel(key) {
  const [provider, number] = key.split("#");
  const slot = ui.slots().find((s) => slotKey(s) === key);
  const name = slot && slot.name ? ` · ${slot.name}` : "";
  return `${ui.providerLabel(provider)} ${Number(number)}${name}`;
}

function day(seconds) { return new Date(seconds * 1000).toLocaleDateString(ui.lang()); }

function isoToday() {
  const now = new Date();
  return `${now.getFullYear()}-${String(now.getMonth() + 1).padStart(2, "0")}-${String(now.getDate()).padStart(2, "0")}`;
}

// A date input's value as the local midnight it names, in unix seconds.
function midnight(value, plusDays = 0) {
  const [y, m, d] = value.split("-").map(Number);
  return new Date(y, m - 1, d + plusDays).getTime() / 1000;
}

export function renderGalleries(message) {
  if (!section || !ui) return;
  const { el } = ui;
  const form = section.querySelector(".gallery-form");
  const draft = form ? readForm(form) : null;
  const msg = el("span", { class: "msg small gallery-msg", role: "status", "aria-live": "polite" });
  section.replaceChildren(
    el("h3", { id: "galleries-title", text: t("galleriesTitle") }),
    el("p", { class: "muted small", text: t("galleriesHelp") }),
    buildForm(draft, msg), msg,
    !loaded ? el("p", { class: "muted small", text: t("loading") })
      : galleries.length ? el("ul", { class: "gallery-list" }, ...galleries.map(galleryItem))
        : el("p", { class: "muted small gallery-none", text: t("galleryNone") }));
  section.dataset.count = String(galleries.length);
  if (message) ui.flash(msg, message[0], message[1] || "ok");
}

function readForm(form) {
  return { name: form.querySelector(".gallery-name").value,
    since: form.querySelector(".gallery-since").value,
    until: form.querySelector(".gallery-until").value,
    days: form.querySelector(".gallery-days").value };
}

function buildForm(draft, msg) {
  const { el } = ui;
  // The slots worth offering: those with a processing type (a booth can use them).
  const slots = ui.slots().filter((s) => s.type);
  const name = el("input", { type: "text", class: "gallery-name", maxlength: "60", autocomplete: "off",
    placeholder: t("galleryNamePlaceholder") });
  const since = el("input", { type: "date", class: "gallery-since", required: true });
  const until = el("input", { type: "date", class: "gallery-until" });
  const days = el("input", { type: "number", class: "gallery-days", min: "1", max: "90", step: "1", inputmode: "numeric" });
  name.value = draft ? draft.name : "";
  since.value = draft ? draft.since : isoToday();
  until.value = draft ? draft.until : "";
  days.value = draft ? draft.days : "7";
  const picks = slots.length
    ? el("div", { class: "gallery-slots", role: "group", "aria-label": t("gallerySlots") },
      ...slots.map((slot) => {
        const key = slotKey(slot);
        const box = el("input", { type: "checkbox", value: key, checked: chosen.has(key),
          onchange: (event) => { if (event.target.checked) chosen.add(key); else chosen.delete(key); } });
        return el("label", { class: "gallery-slot" }, box, el("span", { text: slotLabel(key) }));
      }))
    : el("p", { class: "muted small gallery-no-slots", text: t("galleryNoSlots") });
  const form = el("form", { class: "gallery-form", novalidate: true,
    onsubmit: (event) => { event.preventDefault(); make(form, msg); } },
  el("label", { class: "field" }, el("span", { class: "lbl", text: t("galleryName") }), name),
  el("div", { class: "field" }, el("span", { class: "lbl", text: t("gallerySlots") }), picks),
  el("div", { class: "gallery-when" },
    el("label", { class: "field" }, el("span", { class: "lbl", text: t("gallerySince") }), since),
    el("label", { class: "field" }, el("span", { class: "lbl", text: t("galleryUntil") }), until),
    el("label", { class: "field" }, el("span", { class: "lbl", text: t("galleryDays") }), days)),
  el("p", { class: "muted small", text: t("galleryWhenHelp") }),
  el("div", { class: "btn-row" },
    el("button", { type: "submit", class: "btn btn-primary btn-sm gallery-make", text: t("galleryMake"),
      disabled: !slots.length })));
  return form;
}

async function make(form, msg) {
  const draft = readForm(form);
  const slots = [...form.querySelectorAll(".gallery-slots input:checked")].map((box) => box.value);
  if (!draft.name.trim()) return ui.flash(msg, t("galleryNeedsName"), "error", 0);
  if (!slots.length) return ui.flash(msg, t("galleryNeedsSlots"), "error", 0);
  if (!draft.since) return ui.flash(msg, t("galleryNeedsSince"), "error", 0);
  const body = { name: draft.name.trim(), slots, days: Number(draft.days) || 7,
    since: midnight(draft.since),
    // "to" a date: to the end of that day
    until: draft.until ? midnight(draft.until, 1) : null };
  form.querySelector(".gallery-make").disabled = true;
  try {
    await ui.api("/api/galleries", { method: "POST", json: body });
    form.querySelector(".gallery-name").value = "";
    chosen.clear();
    for (const box of form.querySelectorAll(".gallery-slots input")) box.checked = false;
    await refreshGalleries([t("galleryMade"), "ok"]);
  } catch (err) {
    form.querySelector(".gallery-make").disabled = false;
    ui.flash(msg, ui.say(err), "error", 0);
  }
}

function galleryItem(gallery) {
  const { el } = ui;
  const msg = el("span", { class: "msg small item-msg", role: "status", "aria-live": "polite" });
  const link = el("input", { type: "text", class: "share-link mono gallery-link", readonly: true,
    "aria-label": t("galleryLinkFor", gallery.name) });
  link.value = gallery.url;
  const period = gallery.until
    ? t("galleryPeriod", day(gallery.since), day(gallery.until - 1))
    : t("galleryPeriodOpen", day(gallery.since));
  const progress = busy.get(gallery.gallery_id);
  const actions = confirming === gallery.gallery_id
    ? el("div", { class: "confirm gallery-confirm" },
      el("p", { class: "small", text: t("galleryRevokeConfirm") }),
      el("div", { class: "btn-row" },
        el("button", { type: "button", class: "btn btn-sm btn-danger gallery-revoke-yes", text: t("galleryRevokeYes"),
          onclick: () => revoke(gallery) }),
        el("button", { type: "button", class: "btn btn-sm gallery-revoke-no", text: t("cancel"),
          onclick: () => { confirming = null; renderGalleries(); } })))
    : el("div", { class: "share-actions" },
      el("button", { type: "button", class: "btn btn-sm gallery-copy", text: t("copy"),
        onclick: async () => {
          const ok = await ui.copyText(gallery.url, link);
          ui.flash(msg, ok ? t("copied") : t("copyFailed"), ok ? "ok" : "error");
        } }),
      el("a", { href: gallery.url, target: "_blank", rel: "noopener noreferrer", class: "btn btn-sm gallery-open", text: t("shareOpen") }),
      el("button", { type: "button", class: "btn btn-sm gallery-download", text: t("galleryDownload"),
        disabled: !!progress, onclick: () => downloadAll(gallery) }),
      el("button", { type: "button", class: "btn btn-sm btn-danger-outline gallery-revoke", text: t("shareRevoke"),
        onclick: () => { confirming = gallery.gallery_id; renderGalleries(); } }));
  const bar = el("div", { class: "gallery-progress", hidden: !progress },
    el("progress", { max: String(progress?.total || 1), value: String(progress?.done || 0) }),
    el("span", { class: "small progress-text", text: progress?.text || "" }));
  return el("li", { class: "gallery-item", "data-gallery": gallery.gallery_id },
    el("div", { class: "gallery-line" },
      el("strong", { class: "gallery-title", text: gallery.name }),
      el("span", { class: "muted small", text: gallery.slots.map(slotLabel).join(", ") })),
    el("div", { class: "muted small", text: `${period} · ${t("shareUntil", day(gallery.expires_at))}` }),
    link, actions, bar, msg);
}

async function revoke(gallery) {
  confirming = null;
  try {
    await ui.api(`/api/galleries/${encodeURIComponent(gallery.gallery_id)}`, { method: "DELETE" });
    await refreshGalleries([t("galleryRevoked", gallery.name), "ok"]);
  } catch (err) {
    await refreshGalleries([ui.say(err), "error"]);
  }
}

// -- download all --------------------------------------------------------------------------------------
function show(gallery, state) {
  busy.set(gallery.gallery_id, state);
  const item = section.querySelector(`.gallery-item[data-gallery="${CSS.escape(gallery.gallery_id)}"]`);
  if (!item) return;
  const bar = item.querySelector(".gallery-progress");
  bar.hidden = false;
  bar.querySelector("progress").max = state.total || 1;
  bar.querySelector("progress").value = state.done;
  bar.querySelector(".progress-text").textContent = state.text;
  const button = item.querySelector(".gallery-download");
  if (button) button.disabled = true;
}

function fileName(text) {
  // A name any operating system takes: no path or reserved characters, not empty.
  const clean = text.replace(/[\\/:*?"<>|\u0000-\u001f]+/g, "_").replace(/^[.\s]+|[.\s]+$/g, "");
  return clean.slice(0, 80) || "gallery";
}

function entryName(photo, type) {
  const at = new Date(photo.created_at * 1000);
  const two = (n) => String(n).padStart(2, "0");
  const stamp = `${at.getFullYear()}-${two(at.getMonth() + 1)}-${two(at.getDate())}_${two(at.getHours())}-${two(at.getMinutes())}-${two(at.getSeconds())}`;
  const ext = /png/.test(type || "") ? "png" : /webp/.test(type || "") ? "webp" : "jpg";
  // Sorted by name, the photos are in the order they were taken.
  return `${stamp}_${photo.slot.replace("#", "-")}_${photo.job_id}.${ext}`;
}

function save(zip, name) {
  const url = URL.createObjectURL(zip.blob());
  const a = ui.el("a", { href: url, download: name, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

async function downloadAll(gallery) {
  const id = encodeURIComponent(gallery.gallery_id);
  show(gallery, { done: 0, total: 0, text: t("galleryListing") });
  try {
    // 1. The list, a page at a time (newest first); the archive holds them oldest first.
    const photos = [];
    let before = null;
    do {
      const query = before ? `?before=${encodeURIComponent(before)}` : "";
      const page = await (await ui.api(`/api/galleries/${id}/photos${query}`)).json();
      photos.push(...page.photos);
      before = page.next;
    } while (before);
    photos.reverse();
    if (!photos.length) {
      busy.delete(gallery.gallery_id);
      renderGalleries([t("galleryEmpty"), "error"]);
      return;
    }
    // 2. One photo at a time into the archive; a part is saved when the next photo would
    //    take it past PART_BYTES (or the entry limit), and the rest go on into the next.
    const base = fileName(gallery.name);
    let zip = new ZipWriter();
    let part = 1;
    let missing = 0;
    const partName = (last) => (part === 1 && last ? `${base}.zip` : `${base}-${part}.zip`);
    for (let i = 0; i < photos.length; i++) {
      show(gallery, { done: i, total: photos.length, text: t("galleryProgress", i + 1, photos.length) });
      let response;
      try {
        response = await ui.api(photos[i].download_url);
      } catch {
        missing += 1; // gone since it was listed (its result expired), or the network
        continue;
      }
      const bytes = new Uint8Array(await response.arrayBuffer());
      const name = entryName(photos[i], response.headers.get("content-type"));
      if (zip.count && (zip.count >= MAX_ENTRIES || zip.sizeWith(name, bytes.length) > PART_BYTES)) {
        save(zip, partName(false));
        part += 1;
        zip = new ZipWriter();
      }
      zip.add(name, bytes, new Date(photos[i].created_at * 1000));
    }
    if (zip.count) save(zip, partName(true));
    busy.delete(gallery.gallery_id);
    const saved = photos.length - missing;
    renderGalleries([missing ? t("galleryDownloadedMissing", saved, part, missing)
      : t("galleryDownloaded", saved, part), missing ? "error" : "ok"]);
  } catch (err) {
    busy.delete(gallery.gallery_id);
    renderGalleries([ui.say(err), "error"]);
  }
}
