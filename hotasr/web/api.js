// The one place the console talks HTTP: every call carries the stored key, every error becomes
// an ApiError whose message is the server's own `message` (DashScope or OpenAI shape).

const KEY_STORAGE = "hotasr.apiKey";

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function getKey() {
  return localStorage.getItem(KEY_STORAGE) || "";
}

export function setKey(key) {
  if (key) localStorage.setItem(KEY_STORAGE, key);
  else localStorage.removeItem(KEY_STORAGE);
}

async function errorFrom(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    return new ApiError(response.status, "HTTP" + response.status, `${response.status} ${response.statusText}`);
  }
  if (body && body.error) return new ApiError(response.status, body.error.code, body.error.message);
  return new ApiError(response.status, body.code, body.message || JSON.stringify(body));
}

/** fetch with the API key; JSON in (object body) or multipart (FormData body); JSON or text out. */
export async function call(path, { method = "GET", body, headers = {}, raw = false } = {}) {
  const init = { method, headers: { Authorization: "Bearer " + getKey(), ...headers } };
  if (body instanceof FormData) init.body = body;
  else if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  const response = await fetch(path, init);
  if (!response.ok) throw await errorFrom(response);
  if (raw) return response;
  const type = response.headers.get("content-type") || "";
  return type.includes("json") ? response.json() : response.text();
}

// -- hotword lists (DashScope customization API, docs/dashscope-protocol.md §3) ----------------------------------------

async function vocabulary(input) {
  const data = await call("/api/v1/services/audio/asr/customization", {
    method: "POST",
    body: { model: "speech-biasing", input },
  });
  return data.output;
}

export async function listVocabularies() {
  const all = [];
  for (let page = 0; ; page++) {
    const out = await vocabulary({ action: "list_vocabulary", prefix: null, page_index: page, page_size: 100 });
    all.push(...out.vocabulary_list);
    if (out.vocabulary_list.length < 100) return all;
  }
}

export const queryVocabulary = (id) => vocabulary({ action: "query_vocabulary", vocabulary_id: id });
export const createVocabulary = (targetModel, prefix, items) =>
  vocabulary({ action: "create_vocabulary", target_model: targetModel, prefix, vocabulary: items });
export const updateVocabulary = (id, items) =>
  vocabulary({ action: "update_vocabulary", vocabulary_id: id, vocabulary: items });
export const deleteVocabulary = (id) => vocabulary({ action: "delete_vocabulary", vocabulary_id: id });

// -- models and synchronous transcription (OpenAI-compatible API) --------------------------------

export async function listModels() {
  return (await call("/v1/models")).data;
}

/** One upload through POST /v1/audio/transcriptions, verbose_json with words and segments. */
export async function transcribe(file, { model, vocabularyId, language, biasing, diarize }) {
  const form = new FormData();
  form.append("file", file, file.name || "audio.wav");
  form.append("model", model);
  form.append("response_format", "verbose_json");
  form.append("timestamp_granularities[]", "word");
  form.append("timestamp_granularities[]", "segment");
  if (vocabularyId) form.append("vocabulary_id", vocabularyId);
  if (language) form.append("language", language);
  if (biasing) form.append("biasing", biasing);
  if (diarize) form.append("diarize", "true"); // hotasr extra: each segment gets a `speaker`
  return call("/v1/audio/transcriptions", { method: "POST", body: form });
}

// -- recorded-file tasks (docs/dashscope-protocol.md §5) ---------------------------------------------------------------

export async function listTasks(pageNo, pageSize) {
  return call(`/api/v1/tasks?page_no=${pageNo}&page_size=${pageSize}`);
}

export async function getTask(taskId) {
  return (await call("/api/v1/tasks/" + encodeURIComponent(taskId))).output;
}

export async function submitTask(model, fileUrl) {
  const data = await call("/api/v1/services/audio/asr/transcription", {
    method: "POST",
    headers: { "X-DashScope-Async": "enable" },
    body: { model, input: { file_urls: [fileUrl] }, parameters: {} },
  });
  return data.output;
}

/** The result document behind a signed transcription_url (no key needed: the URL is the permission). */
export async function fetchResult(url) {
  const response = await fetch(url);
  if (!response.ok) throw await errorFrom(response);
  return response.json();
}
