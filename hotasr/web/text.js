// Pure text helpers: where hotwords occur in a transcript, which words differ between two
// transcripts, and subtitles from a result document. No DOM here except `el` and `renderMarked`.

/** document.createElement with attributes and children, so the UI code never builds HTML strings. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name in node && typeof value !== "string") node[name] = value;
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

const escapeRegExp = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
const NON_ASCII = /[^\x00-\x7f]/;

/**
 * Every occurrence of every term in `text`: [{start, end, term}], sorted, not overlapping (longer
 * terms win). Case-insensitive; Latin terms only match whole words, terms in scripts written
 * without spaces (Chinese, Japanese) match anywhere.
 */
export function findHits(text, terms) {
  const found = [];
  const ordered = [...new Set(terms.map((t) => t.trim()).filter(Boolean))].sort((a, b) => b.length - a.length);
  for (const term of ordered) {
    const body = term.split(/\s+/).map(escapeRegExp).join("\\s+");
    const pattern = NON_ASCII.test(term) ? body : `(?<![\\p{L}\\p{N}])${body}(?![\\p{L}\\p{N}])`;
    for (const match of text.matchAll(new RegExp(pattern, "giu"))) {
      const hit = { start: match.index, end: match.index + match[0].length, term };
      if (!found.some((h) => hit.start < h.end && h.start < hit.end)) found.push(hit);
    }
  }
  return found.sort((a, b) => a.start - b.start);
}

const normalizeWord = (w) => w.toLowerCase().replace(/[^\p{L}\p{N}']/gu, "");

/** Words of `text` with their character ranges. */
export function tokens(text) {
  return [...text.matchAll(/\S+/g)].map((m) => ({ start: m.index, end: m.index + m[0].length, key: normalizeWord(m[0]) }));
}

/**
 * Which words of `a` and of `b` are not part of their longest common subsequence (by normalized
 * word): returns [Set of changed indices in a, Set of changed indices in b].
 */
export function wordDiff(a, b) {
  const n = a.length;
  const m = b.length;
  const lcs = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i][j] = a[i].key === b[j].key ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  const changedA = new Set();
  const changedB = new Set();
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (a[i].key === b[j].key) { i++; j++; }
    else if (lcs[i + 1][j] >= lcs[i][j + 1]) changedA.add(i++);
    else changedB.add(j++);
  }
  while (i < n) changedA.add(i++);
  while (j < m) changedB.add(j++);
  return [changedA, changedB];
}

/**
 * `text` as DOM nodes: hotword hits in <mark class="hit">, changed words (indices into
 * tokens(text)) in <span class="diff">.
 */
export function renderMarked(text, hits, changed = new Set()) {
  const words = tokens(text);
  const diffAt = new Uint8Array(text.length);
  words.forEach((w, index) => { if (changed.has(index)) diffAt.fill(1, w.start, w.end); });
  const plain = (start, end) => {
    const nodes = [];
    let from = start;
    for (let k = start + 1; k <= end; k++) {
      if (k === end || diffAt[k] !== diffAt[from]) {
        const piece = text.slice(from, k);
        nodes.push(diffAt[from] ? el("span", { class: "diff", text: piece }) : document.createTextNode(piece));
        from = k;
      }
    }
    return nodes;
  };
  const out = [];
  let at = 0;
  for (const hit of hits) {
    out.push(...plain(at, hit.start));
    out.push(el("mark", { class: "hit", title: "hotword: " + hit.term, "data-term": hit.term }, ...plain(hit.start, hit.end)));
    at = hit.end;
  }
  out.push(...plain(at, text.length));
  return out;
}

/** How often each term was found: [[term, count]], most frequent first. */
export function hitCounts(hits) {
  const counts = new Map();
  for (const h of hits) counts.set(h.term, (counts.get(h.term) || 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1]);
}

// -- result documents (docs/dashscope-protocol.md §5.3) -> downloads ---------------------------------------------------

function clock(ms) {
  const t = Math.max(0, Math.round(ms));
  const pad = (v, w = 2) => String(v).padStart(w, "0");
  return `${pad(Math.floor(t / 3600000))}:${pad(Math.floor(t / 60000) % 60)}:${pad(Math.floor(t / 1000) % 60)},${pad(t % 1000, 3)}`;
}

export function resultSentences(doc) {
  return (doc.transcripts || []).flatMap((t) =>
    (t.sentences || []).map((s) => ({ ...s, channel: t.channel_id })));
}

export function resultToSrt(doc) {
  const multi = (doc.transcripts || []).length > 1;
  const who = (s) => (s.speaker_id === undefined || s.speaker_id === null ? "" : `[speaker ${s.speaker_id}] `);
  return resultSentences(doc)
    .sort((a, b) => a.begin_time - b.begin_time)
    .map((s, n) => `${n + 1}\n${clock(s.begin_time)} --> ${clock(s.end_time)}\n${multi ? `[${s.channel}] ` : ""}${who(s)}${s.text}\n`)
    .join("\n");
}

/** Consecutive segments of one speaker joined: [{speaker, text}] (segments without `speaker` are skipped). */
export function speakerTurns(segments) {
  const turns = [];
  for (const segment of segments) {
    if (segment.speaker === undefined || segment.speaker === null) continue;
    const text = segment.text.trim();
    const last = turns[turns.length - 1];
    if (last && last.speaker === segment.speaker) last.text += " " + text;
    else turns.push({ speaker: segment.speaker, text });
  }
  return turns;
}

export function resultToText(doc) {
  return (doc.transcripts || []).map((t) => t.text).join("\n") + "\n";
}

/** Offer `content` as a file download named `name`. */
export function download(name, content, type) {
  const url = URL.createObjectURL(new Blob([content], { type }));
  const link = el("a", { href: url, download: name });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
