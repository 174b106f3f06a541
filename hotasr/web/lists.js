// Hotword lists screen: list, create, edit, delete, import/export in the docs' JSON format.
// Validation is the server's: whatever the API rejects is shown with the API's own message.

import * as api from "./api.js";
import { download, el } from "./text.js";

const $ = (id) => document.getElementById(id);
let current = null; // {id: string|null, targetModel: string}
let onChange = () => {};

/** `notify` is called after any change, so other screens can refresh their list pickers. */
export function setup(notify) {
  onChange = notify;
  $("list-new").addEventListener("click", () => openEditor(null));
  $("term-add").addEventListener("click", () => addTermRow({ text: "", weight: 4 }).querySelector("input").focus());
  $("editor-save").addEventListener("click", save);
  $("editor-delete").addEventListener("click", remove);
  $("terms-export").addEventListener("click", exportTerms);
  $("terms-import").addEventListener("change", importTerms);
}

export async function refresh(models) {
  const targets = models.filter((m) => m.supports_hotwords && m.id !== "whisper-1").map((m) => m.id);
  const select = $("editor-target");
  const keep = select.value;
  select.replaceChildren(...targets.map((name) => el("option", { value: name, text: name })));
  if (keep && targets.includes(keep)) select.value = keep;
  else if (targets.includes("fun-asr")) select.value = "fun-asr"; // the recorded-file default
  const body = $("vocab-table").querySelector("tbody");
  const lists = await api.listVocabularies();
  body.replaceChildren(...lists.map((v) => el("tr", {
    class: current && current.id === v.vocabulary_id ? "selected" : "",
    "data-id": v.vocabulary_id,
    onclick: () => openEditor(v.vocabulary_id),
  },
  el("td", { class: "mono", text: v.vocabulary_id }),
  el("td", {}, el("span", { class: "badge " + v.status.toLowerCase(), text: v.status })),
  el("td", { class: "muted", text: v.gmt_modified }))));
  $("vocab-empty").hidden = lists.length > 0;
  return lists;
}

function message(kind, text) {
  $("editor-error").hidden = kind !== "error";
  $("editor-ok").hidden = kind !== "ok";
  $(kind === "error" ? "editor-error" : "editor-ok").textContent = text || "";
}

function addTermRow(item) {
  const row = el("tr", {},
    el("td", {}, el("input", { class: "term-text", value: item.text ?? "", placeholder: "term", "aria-label": "text" })),
    el("td", {}, el("input", { class: "term-weight", value: String(item.weight ?? ""), size: 3, inputmode: "numeric", "aria-label": "weight" })),
    el("td", {}, el("input", { class: "term-lang", value: item.lang ?? "", list: "langs", size: 4, placeholder: "any", "aria-label": "lang" })),
    el("td", {}, el("button", { type: "button", class: "ghost small", title: "remove term", text: "✕", onclick: () => row.remove() })));
  $("terms").querySelector("tbody").append(row);
  return row;
}

/** Table rows -> the wire items. A weight that is not an integer goes as typed: the API says why. */
function collectItems() {
  return [...$("terms").querySelectorAll("tbody tr")].map((row) => {
    const text = row.querySelector(".term-text").value;
    const rawWeight = row.querySelector(".term-weight").value.trim();
    const lang = row.querySelector(".term-lang").value.trim();
    const weight = /^-?\d+$/.test(rawWeight) ? Number(rawWeight) : rawWeight;
    return lang ? { text, weight, lang } : { text, weight };
  }).filter((item) => !(item.text.trim() === "" && item.weight === ""));
}

function fillTerms(items) {
  $("terms").querySelector("tbody").replaceChildren();
  for (const item of items) addTermRow(item);
}

async function openEditor(id) {
  message(null);
  $("editor").hidden = false;
  $("editor-new-fields").hidden = id !== null;
  $("editor-delete").hidden = id === null;
  $("editor-title").textContent = id ? "Edit list" : "New list";
  $("editor-id").textContent = id || "";
  for (const row of $("vocab-table").querySelectorAll("tbody tr")) row.classList.toggle("selected", row.dataset.id === id);
  if (id === null) {
    current = { id: null, targetModel: $("editor-target").value };
    fillTerms([{ text: "", weight: 4 }]);
    $("editor-prefix").focus();
    return;
  }
  try {
    const detail = await api.queryVocabulary(id);
    current = { id, targetModel: detail.target_model };
    $("editor-id").textContent = `${id} · ${detail.target_model}`;
    fillTerms(detail.vocabulary);
  } catch (error) {
    message("error", error.message);
  }
}

async function save() {
  message(null);
  const items = collectItems();
  try {
    if (current.id === null) {
      const out = await api.createVocabulary($("editor-target").value, $("editor-prefix").value.trim(), items);
      current = { id: out.vocabulary_id, targetModel: $("editor-target").value };
      await onChange();
      await openEditor(current.id);
      message("ok", "Created " + current.id);
    } else {
      await api.updateVocabulary(current.id, items);
      await onChange();
      message("ok", "Saved.");
    }
  } catch (error) {
    message("error", error.message);
  }
}

async function remove() {
  if (!current || !current.id || !confirm(`Delete ${current.id}?`)) return;
  try {
    await api.deleteVocabulary(current.id);
    current = null;
    $("editor").hidden = true;
    await onChange();
  } catch (error) {
    message("error", error.message);
  }
}

function exportTerms() {
  const items = collectItems();
  const name = (current && current.id ? current.id : "hotwords") + ".json";
  download(name, JSON.stringify(items, null, 2) + "\n", "application/json");
}

async function importTerms(event) {
  const file = event.target.files[0];
  event.target.value = ""; // the same file can be picked again after editing it
  if (!file) return;
  message(null);
  try {
    const items = JSON.parse(await file.text());
    if (!Array.isArray(items)) throw new Error("expected a JSON array of {text, weight, lang} objects");
    fillTerms(items.map((i) => (i && typeof i === "object" ? i : { text: String(i), weight: "" })));
    message("ok", `Imported ${items.length} terms from ${file.name}; save the list to keep them.`);
  } catch (error) {
    message("error", `${file.name}: ${error.message}`);
  }
}
