// Console entry point: the API key (kept in localStorage), tabs, and refreshing the screens.

import * as api from "./api.js";
import * as history from "./history.js";
import * as lists from "./lists.js";
import * as transcribe from "./transcribe.js";

const $ = (id) => document.getElementById(id);

function keyStatus(text, bad = false) {
  $("key-status").textContent = text;
  $("key-status").classList.toggle("error-text", bad);
}

function showTab(name) {
  for (const tab of document.querySelectorAll("#tabs [data-tab]")) tab.setAttribute("aria-selected", String(tab.dataset.tab === name));
  for (const panel of document.querySelectorAll("[data-panel]")) panel.hidden = panel.dataset.panel !== name;
  if (name === "history" && api.getKey()) history.refresh();
  location.hash = name;
}

/** Reload everything that depends on the key: models, lists, pickers. */
async function reload() {
  if (!api.getKey()) {
    keyStatus("Enter your API key to start.", true);
    return;
  }
  try {
    const models = await api.listModels();
    const vocabularies = await lists.refresh(models);
    transcribe.refresh(models, vocabularies);
    history.setModels(models);
    keyStatus("Key OK");
  } catch (error) {
    keyStatus(error.message, error.status === 401);
  }
}

async function listsChanged() {
  await reload();
}

function setup() {
  $("api-key").value = api.getKey();
  $("key-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    api.setKey($("api-key").value.trim());
    await reload();
  });
  $("key-forget").addEventListener("click", () => {
    api.setKey("");
    $("api-key").value = "";
    reload();
  });
  for (const tab of document.querySelectorAll("#tabs [data-tab]")) tab.addEventListener("click", () => showTab(tab.dataset.tab));
  lists.setup(listsChanged);
  transcribe.setup();
  history.setup();
  const initial = location.hash.slice(1);
  showTab(["lists", "transcribe", "history"].includes(initial) ? initial : "lists");
  reload();
}

setup();
