// Transcribe screen: a file through POST /v1/audio/transcriptions, or the microphone through the
// real-time WebSocket; hotword hits highlighted, warnings shown, and optionally the same audio
// again with biasing=none beside it, changed words marked.

import * as api from "./api.js";
import { MicSession } from "./mic.js";
import { el, findHits, hitCounts, renderMarked, speakerTurns, tokens, wordDiff } from "./text.js";

const $ = (id) => document.getElementById(id);
const listCache = new Map(); // vocabulary_id -> {terms: [text], targetModel}
let mic = null;
let liveFinals = [];

export function setup() {
  $("tx-run").addEventListener("click", runFile);
  $("mic-start").addEventListener("click", startMic);
  $("mic-stop").addEventListener("click", stopMic);
  $("tx-vocab").addEventListener("change", followList);
}

/** A list applies only to its target_model: pick that model wherever it is offered. */
async function followList() {
  showError(null);
  try {
    const list = await listOf($("tx-vocab").value);
    if (!list) return;
    for (const select of [$("tx-model"), $("mic-model")]) {
      if ([...select.options].some((o) => o.value === list.targetModel)) select.value = list.targetModel;
    }
  } catch (error) {
    showError(error.message);
  }
}

/** Refill the model and hotword-list pickers (after a key change or a list edit). */
export function refresh(models, lists) {
  fill($("tx-model"), models.filter((m) => m.mode === "file").map((m) => m.id), "fun-asr");
  fill($("mic-model"), models.filter((m) => m.mode === "realtime").map((m) => m.id), "fun-asr-realtime");
  fill($("tx-vocab"), ["", ...lists.map((v) => v.vocabulary_id)], "", (id) => id || "(none)");
  listCache.clear();
}

function fill(select, values, preferred, label = (v) => v) {
  const keep = select.value;
  select.replaceChildren(...values.map((v) => el("option", { value: v, text: label(v) })));
  select.value = values.includes(keep) ? keep : values.includes(preferred) ? preferred : values[0] ?? "";
}

async function listOf(vocabularyId) {
  if (!vocabularyId) return null;
  if (!listCache.has(vocabularyId)) {
    const detail = await api.queryVocabulary(vocabularyId);
    listCache.set(vocabularyId, { terms: detail.vocabulary.map((item) => item.text), targetModel: detail.target_model });
  }
  return listCache.get(vocabularyId);
}

async function termsOf(vocabularyId) {
  const list = await listOf(vocabularyId);
  return list ? list.terms : [];
}

function status(text) {
  $("tx-status").textContent = text;
}

function showError(text) {
  $("tx-error").hidden = !text;
  $("tx-error").textContent = text || "";
}

function showWarnings(groups) {
  const items = groups.flatMap(([label, list]) => (list || []).map((w) => el("li", { text: label ? `${label}: ${w}` : w })));
  $("tx-warnings").hidden = items.length === 0;
  $("tx-warnings").querySelector("ul").replaceChildren(...items);
}

function showHits(box, hits, terms) {
  if (terms.length === 0) {
    box.replaceChildren();
    return;
  }
  const counts = hitCounts(hits);
  box.replaceChildren(
    el("span", { class: "muted", text: counts.length ? "Hotwords found: " : "No hotword of the list was found." }),
    ...counts.map(([term, n]) => el("span", { class: "chip", text: n > 1 ? `${term} ×${n}` : term })));
}

/** Main (biased) transcript, and optionally the unbiased one beside it with changed words marked. */
function showTranscripts(mainText, plainText, terms) {
  $("tx-results").hidden = false;
  const mainHits = findHits(mainText, terms);
  let changedMain = new Set();
  let changedPlain = new Set();
  if (plainText !== null) [changedMain, changedPlain] = wordDiff(tokens(mainText), tokens(plainText));
  $("tx-transcript").replaceChildren(...renderMarked(mainText, mainHits, changedMain));
  showHits($("tx-hits"), mainHits, terms);
  $("tx-compare-card").hidden = plainText === null;
  if (plainText !== null) {
    const plainHits = findHits(plainText, terms);
    $("tx-transcript-plain").replaceChildren(...renderMarked(plainText, plainHits, changedPlain));
    showHits($("tx-hits-plain"), plainHits, terms);
  }
}

/** The main transcript as speaker turns: "Speaker 0" before each run of that speaker's segments. */
function showSpeakers(segments, terms) {
  const turns = speakerTurns(segments);
  if (turns.length === 0) return;
  $("tx-transcript").replaceChildren(...turns.map((turn) => el("p", { class: "turn" },
    el("span", { class: `speaker s${turn.speaker % 6}`, text: `Speaker ${turn.speaker}` }), " ",
    ...renderMarked(turn.text, findHits(turn.text, terms)))));
}

function choices() {
  return { vocabularyId: $("tx-vocab").value, language: $("tx-language").value.trim(), compare: $("tx-compare").checked };
}

async function runFile() {
  const file = $("tx-file").files[0];
  showError(null);
  if (!file) return showError("Choose an audio file first.");
  const { vocabularyId, language, compare } = choices();
  const model = $("tx-model").value;
  $("tx-run").disabled = true;
  const started = performance.now();
  try {
    status(`Transcribing ${file.name} with ${model}…`);
    const terms = await termsOf(vocabularyId);
    const diarize = $("tx-diarize").checked;
    const main = await api.transcribe(file, { model, vocabularyId, language, diarize });
    let plain = null;
    if (compare) {
      status("Transcribing again without biasing…");
      plain = await api.transcribe(file, { model, vocabularyId, language, biasing: "none" });
    }
    $("tx-main-title").textContent = vocabularyId ? "With hotwords" : "Transcript";
    $("tx-interim").textContent = "";
    showTranscripts(main.text, plain ? plain.text : null, terms);
    if (diarize) showSpeakers(main.segments || [], terms);
    showWarnings([["", main.warnings], ["without biasing", plain && plain.warnings]]);
    status(`${file.name}: ${main.duration.toFixed(1)} s of audio, done in ${((performance.now() - started) / 1000).toFixed(1)} s.`);
  } catch (error) {
    status("");
    showError(error.message);
  } finally {
    $("tx-run").disabled = false;
  }
}

async function startMic() {
  showError(null);
  const { vocabularyId, language } = choices();
  const terms = await termsOf(vocabularyId).catch(() => []);
  liveFinals = [];
  $("tx-main-title").textContent = "Live";
  showTranscripts("", null, terms);
  showWarnings([]);
  mic = new MicSession({ model: $("mic-model").value, vocabularyId, language }, {
    onSentence: (sentence, isFinal) => {
      if (isFinal) {
        liveFinals.push(sentence.text);
        $("tx-interim").textContent = "";
        showTranscripts(liveFinals.join(" "), null, terms);
      } else {
        $("tx-interim").textContent = sentence.text;
      }
    },
    onLevel: (peak) => { $("mic-level").firstElementChild.style.width = `${Math.min(100, peak * 140)}%`; },
    onError: (text) => { showError(text); micStopped(); },
    onFinished: () => finishMic(terms),
  });
  $("mic-start").disabled = true;
  $("mic-stop").disabled = false;
  try {
    await mic.start();
    status("Recording… speak, then press Stop.");
  } catch (error) {
    showError(`Microphone: ${error.message}`);
    mic.release();
    micStopped();
  }
}

function stopMic() {
  if (!mic) return;
  $("mic-stop").disabled = true;
  status("Finishing…");
  mic.stop();
}

function micStopped() {
  $("mic-start").disabled = false;
  $("mic-stop").disabled = true;
  $("mic-level").firstElementChild.style.width = "0";
}

async function finishMic(terms) {
  const session = mic;
  micStopped();
  const text = liveFinals.join(" ");
  status(text ? "Done." : "Done: no speech was recognized.");
  if (!choices().compare || session.frames.length === 0) return;
  try {
    status("Transcribing the recording again without biasing…");
    const plain = await api.transcribe(session.toWav(), {
      model: session.options.model, vocabularyId: session.options.vocabularyId,
      language: session.options.language, biasing: "none",
    });
    showTranscripts(text, plain.text, terms);
    showWarnings([["without biasing", plain.warnings]]);
    status("Done.");
  } catch (error) {
    showError(error.message);
  }
}
