// Task history: recorded-file tasks (docs/dashscope-protocol.md §5) with their status, and each file's result as
// JSON, SRT or plain text. Results are fetched from the signed transcription_url on demand.

import * as api from "./api.js";
import { download, el, resultToSrt, resultToText } from "./text.js";

const $ = (id) => document.getElementById(id);
const PAGE_SIZE = 10;
const RUNNING = new Set(["PENDING", "RUNNING"]);
let page = 1;
let pollTimer = null;

export function setup() {
  $("history-refresh").addEventListener("click", () => refresh());
  $("history-prev").addEventListener("click", () => { page = Math.max(1, page - 1); refresh(); });
  $("history-next").addEventListener("click", () => { page += 1; refresh(); });
  $("task-form").addEventListener("submit", submit);
}

export function setModels(models) {
  const select = $("task-model");
  const names = models.filter((m) => m.mode === "file" && m.id !== "whisper-1").map((m) => m.id);
  select.replaceChildren(...names.map((n) => el("option", { value: n, text: n })));
  if (names.includes("fun-asr")) select.value = "fun-asr";
}

function error(text) {
  $("history-error").hidden = !text;
  $("history-error").textContent = text || "";
}

async function submit(event) {
  event.preventDefault();
  error(null);
  const url = $("task-url").value.trim();
  if (!url) return error("Enter the URL of an audio file.");
  try {
    await api.submitTask($("task-model").value, url);
    $("task-url").value = "";
    page = 1;
    await refresh();
  } catch (e) {
    error(e.message);
  }
}

export async function refresh() {
  clearTimeout(pollTimer);
  error(null);
  let listing;
  try {
    listing = await api.listTasks(page, PAGE_SIZE);
  } catch (e) {
    return error(e.message);
  }
  const tasks = listing.data || [];
  if (tasks.length === 0 && page > 1) {
    page -= 1;
    return refresh();
  }
  const rows = await Promise.all(tasks.map(row));
  $("task-table").querySelector("tbody").replaceChildren(...rows);
  $("task-empty").hidden = tasks.length > 0;
  const pages = Math.max(1, listing.total_page || 1);
  $("history-page").textContent = `page ${page} of ${pages} · ${listing.total ?? tasks.length} tasks`;
  $("history-prev").disabled = page <= 1;
  $("history-next").disabled = page >= pages;
  // Keep unfinished tasks moving while the screen is open.
  if (tasks.some((t) => RUNNING.has(t.task_status)) && !$("panel-history").hidden) {
    pollTimer = setTimeout(refresh, 2000);
  }
}

async function row(task) {
  const results = el("td", { class: "results-cell" });
  const tr = el("tr", { "data-task": task.task_id },
    el("td", { class: "mono", text: task.task_id }),
    el("td", { text: task.model_name || "" }),
    el("td", {}, el("span", { class: "badge " + task.task_status.toLowerCase(), text: task.task_status })),
    el("td", { class: "muted", text: task.submit_time || "" }),
    el("td", { class: "muted", text: task.end_time || "" }),
    results);
  if (!RUNNING.has(task.task_status)) {
    try {
      const detail = await api.getTask(task.task_id);
      results.append(...(detail.results || []).map(resultLinks));
    } catch (e) {
      results.append(el("span", { class: "error-text", text: e.message }));
    }
  }
  return tr;
}

function baseName(fileUrl) {
  const last = (fileUrl || "").split(/[/?#]/).filter(Boolean).pop() || "audio";
  return last.replace(/\.[^.]*$/, "") || "audio";
}

function resultLinks(result) {
  const name = baseName(result.file_url);
  if (result.subtask_status !== "SUCCEEDED") {
    return el("div", { class: "result" }, el("span", { class: "mono", text: name + ": " }),
      el("span", { class: "error-text", text: `${result.code}: ${result.message}` }));
  }
  const get = (format) => async () => {
    try {
      const doc = await api.fetchResult(result.transcription_url);
      if (format === "json") download(`${name}.json`, JSON.stringify(doc, null, 2), "application/json");
      if (format === "srt") download(`${name}.srt`, resultToSrt(doc), "application/x-subrip");
      if (format === "txt") download(`${name}.txt`, resultToText(doc), "text/plain");
    } catch (e) {
      error(e.message);
    }
  };
  return el("div", { class: "result" },
    el("span", { class: "mono", title: result.file_url, text: name }),
    ...["json", "srt", "txt"].map((f) => el("button", { type: "button", class: "ghost small", "data-format": f, text: f.toUpperCase(), onclick: get(f) })));
}
