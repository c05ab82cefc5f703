// The person's page: choose photos or videos, see each one fingerprinted (hashed) on the
// device, agree to what is sent, send only the hashes (the proof of work solved in the
// worker), get the case number and secret once; and (#status) check or take back a case.
//
// Nothing but the registry's person routes is ever called: GET /v1/challenge, POST
// /v1/cases with {pow, items} (the hashes only), POST /v1/cases/status and
// /v1/cases/withdraw with {case_id, secret}. The secret lives in this page's memory only:
// never in a URL, in storage or in a cookie. The registry is the one that serves the page,
// or the one named by <meta name="tidehash-registry"> (tidehash web export).
import { hashFile, ready, solveChallenge } from "./tidehash.js";

const $ = (id) => document.getElementById(id);
const REGISTRY = (document.querySelector('meta[name="tidehash-registry"]')?.content || "")
  .trim().replace(/\/+$/, "");
const MAX_ITEMS = 100; // the registry's max_items
const LOW_QUALITY = 50; // PDQ's own threshold: below it a hash matches poorly

// ------------------------------------------------------------------ the words
// What a person reads when something goes wrong: short, calm, what to do next.
const SAY = {
  offline: "We couldn't reach the service. Check your internet connection and try again. " +
    "Your files are still here.",
  busy: "The service is busy for a moment. Please try again in a few minutes.",
  broken: "Something went wrong on our side. Please try again later.",
  expired: "The safety check took too long and ran out of time. Please press Send again.",
  notFound: "We couldn't find a case with that number and secret code. Check both for " +
    "typos and try again.",
  tooMany: `You can send up to ${MAX_ITEMS} files at a time. Remove some, then send the rest later.`,
  tooBig: "That was too much to send at once. Try sending fewer files at a time.",
  noCase: "Please type the case number and the secret code.",
  agree: "Please tick the box to say you understand what is sent.",
  stillHashing: "Please wait until every file has been checked.",
  nothing: "None of these files can be used. Try choosing other files.",
  worker: "This browser couldn't start the fingerprint maker. Try reloading the page, " +
    "or use another browser.",
};

function waitWords(seconds) {
  if (!(seconds > 0)) return "a few minutes";
  if (seconds < 90) return `${Math.ceil(seconds)} seconds`;
  const minutes = Math.ceil(seconds / 60);
  return minutes === 1 ? "a minute" : `${minutes} minutes`;
}

/** Retry-After: delay-seconds or an HTTP date -> seconds (NaN when absent). */
function retryAfter(value) {
  if (!value) return NaN;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const when = Date.parse(value);
  return Number.isNaN(when) ? NaN : Math.max(0, (when - Date.now()) / 1000);
}

/** A file the worker refused, in words for a person: [sentence, what to do]. */
function refusalWords(message) {
  const m = message || "";
  if (/^empty file/.test(m)) return "This file is empty.";
  if (/HEIC and AVIF/.test(m)) {
    return "This page can't read HEIC or AVIF photos (the usual iPhone format). If you can " +
      "share or save the photo as a JPEG, try that copy.";
  }
  if (/not a recognised image or video/.test(m)) return "This isn't a photo or video this page can read.";
  if (/damaged|may be damaged|truncated/.test(m)) return "This file seems to be damaged, so it can't be read.";
  if (/exceeds|too large/.test(m)) return "This picture is too big to check on this device.";
  if (/changed while it was read/.test(m)) return "This file changed while it was being checked. Please add it again.";
  if (/TIFF|JPEG 2000|BMP|GIF|JPEG|PNG|WebP/.test(m)) {
    return "This browser can't read this kind of picture exactly. If you have it as a " +
      "normal JPEG or PNG, try that copy.";
  }
  return "This browser can't read this file exactly. You could try another browser.";
}

// ------------------------------------------------------------------ the registry
class Problem extends Error {
  constructor(words, status, slug) { super(words); this.status = status; this.slug = slug; }
}

/** One call to a person route: the JSON answer, or a Problem whose message is the
 *  sentence to show. */
async function call(method, path, body, words = {}) {
  let resp;
  try {
    resp = await fetch(REGISTRY + path, {
      method,
      headers: body === undefined ? {} : { "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store", credentials: "omit", referrerPolicy: "no-referrer", redirect: "error",
    });
  } catch (_) {
    throw new Problem(SAY.offline, 0, "offline");
  }
  let answer = null;
  try { answer = await resp.json(); } catch (_) { answer = null; }
  if (resp.ok && answer && typeof answer === "object") return answer;
  const slug = answer && typeof answer.type === "string" ? answer.type.split("/").pop() : "";
  const status = resp.status;
  if (status === 429) {
    throw new Problem("Lots of people are sending right now, so the service asked us to " +
      `slow down. Please wait ${waitWords(retryAfter(resp.headers.get("Retry-After")))} ` +
      "and try again. Your files are still here.", status, "rate-limited");
  }
  if (status === 404 && words.notFound) throw new Problem(words.notFound, status, slug);
  if (status === 400 && slug === "challenge") throw new Problem(SAY.expired, status, slug);
  if (status === 413) throw new Problem(SAY.tooBig, status, slug);
  if (status === 503 || status === 502 || status === 504) throw new Problem(SAY.busy, status, slug);
  if (status >= 400 && status < 500) {
    const reason = answer && typeof answer.detail === "string" && answer.detail
      ? ` It said: “${answer.detail.slice(0, 200)}”.` : "";
    throw new Problem("The service couldn't accept this." + reason +
      " Please check and try again, or try later.", status, slug);
  }
  throw new Problem(SAY.broken, status, slug);
}

// ------------------------------------------------------------------ views and steps
const STEPS = ["step-choose", "step-consent", "step-sending", "step-done"];
let step = "step-choose";
let busy = false; // sending: the view does not change under the person

function focusHeading(id) {
  const h = $(id);
  if (h) h.focus({ preventScroll: false });
}

function showStep(id, heading) {
  step = id;
  const elsewhere = location.hash === "#status"; // sending goes on behind the status view
  for (const s of STEPS) $(s).hidden = elsewhere || s !== id;
  if (heading && !elsewhere) focusHeading(heading);
}

function showView(first) {
  const status = location.hash === "#status";
  $("view-status").hidden = !status;
  for (const s of STEPS) $(s).hidden = status || s !== step;
  $("nav-send").removeAttribute("aria-current");
  $("nav-status").removeAttribute("aria-current");
  if (status) {
    $("nav-status").setAttribute("aria-current", "page");
    if (!first) focusHeading("status-title");
  } else {
    $("nav-send").setAttribute("aria-current", "page");
    if (!first) focusHeading(step === "step-choose" ? "choose-title" : $(step).querySelector("h2").id);
  }
}

function setError(id, words) {
  const p = $(id);
  p.textContent = words || "";
  p.hidden = !words;
}

// ------------------------------------------------------------------ 1. choosing files
/** {file, li, state: "hashing"|"ready"|"refused", record, words} in the order chosen */
const chosen = [];
let hashing = Promise.resolve();
let pendingCount = 0;

function sizeWords(n) {
  if (n < 1024) return `${n} bytes`;
  if (n < 1 << 20) return `${Math.round(n / 1024)} KB`;
  if (n < 1 << 30) return `${(n / (1 << 20)).toFixed(1)} MB`;
  return `${(n / (1 << 30)).toFixed(1)} GB`;
}

function fileRow(entry) {
  const li = document.createElement("li");
  li.className = "file hashing";
  const name = document.createElement("span");
  name.className = "name";
  name.textContent = entry.file.name || "file";
  const size = document.createElement("span");
  size.className = "size";
  size.textContent = sizeWords(entry.file.size);
  const state = document.createElement("span");
  state.className = "state";
  state.textContent = "Waiting to be checked";
  const bar = document.createElement("progress");
  bar.max = 100;
  bar.value = 0;
  bar.setAttribute("aria-label", `Checking ${entry.file.name || "file"}`);
  const remove = document.createElement("button");
  remove.type = "button";
  remove.className = "link";
  remove.textContent = "Remove";
  remove.setAttribute("aria-label", `Remove ${entry.file.name || "file"}`);
  remove.addEventListener("click", () => removeEntry(entry));
  const top = document.createElement("div");
  top.className = "top";
  top.append(name, size);
  li.append(top, state, bar, remove);
  entry.li = li;
  entry.stateEl = state;
  entry.bar = bar;
  entry.removeBtn = remove;
  return li;
}

function removeEntry(entry) {
  const i = chosen.indexOf(entry);
  if (i < 0) return;
  const next = chosen[i + 1] || chosen[i - 1];
  chosen.splice(i, 1);
  entry.removed = true;
  entry.li.remove();
  update();
  (next ? next.removeBtn : $("choose")).focus();
}

function setState(entry, cls, words) {
  entry.li.className = "file " + cls;
  entry.stateEl.textContent = words;
}

async function hashOne(entry) {
  if (entry.removed) return;
  setState(entry, "hashing", "Checking…");
  entry.bar.removeAttribute("value");
  try {
    const record = await hashFile(entry.file, {
      onProgress: ({ phase, done, total }) => {
        if (phase === "digest" && total > 0) entry.bar.value = Math.round(90 * done / total);
        else if (phase === "decode") entry.bar.value = Math.max(entry.bar.value || 0, 90);
        else if (phase === "hash") entry.bar.value = done >= total ? 100 : 95;
        entry.stateEl.textContent = `Checking… ${Math.round(entry.bar.value || 0)}%`;
      },
    });
    if (entry.removed) return;
    const twin = chosen.find((e) => e !== entry && e.state === "ready" && e.record.sha256 === record.sha256);
    entry.bar.hidden = true;
    if (twin) {
      entry.state = "refused";
      setState(entry, "refused", "You already added this file, so it will be sent once.");
      return;
    }
    entry.record = record;
    entry.state = "ready";
    if (record.kind === "image" && record.quality < LOW_QUALITY) {
      entry.low = true;
      setState(entry, "ready low", "Ready. This picture is very plain or blurry, so copies " +
        "may be harder to find. It will still be sent.");
    } else {
      setState(entry, "ready", record.kind === "video" ? "Ready (video)" : "Ready");
    }
  } catch (err) {
    if (entry.removed) return;
    entry.state = "refused";
    entry.bar.hidden = true;
    setState(entry, "refused", "Can't be used: " + refusalWords(err && err.message));
    entry.reason = err && err.message;
  }
}

function addFiles(files) {
  setError("choose-error", "");
  const list = $("file-list");
  for (const file of files) {
    const entry = { file, state: "hashing" };
    chosen.push(entry);
    list.append(fileRow(entry));
    pendingCount++;
    // one file at a time, in order; a failure of one never stops the next
    hashing = hashing.then(() => hashOne(entry)).catch(() => {
      entry.state = "refused";
      setState(entry, "refused", "Can't be used: " + refusalWords(""));
    }).finally(() => { pendingCount--; update(); });
  }
  update();
}

function update() {
  const ready = chosen.filter((e) => e.state === "ready").length;
  const refused = chosen.filter((e) => e.state === "refused").length;
  const waiting = chosen.length - ready - refused;
  let words = "";
  if (chosen.length) {
    words = waiting ? `Checking your files on this device: ${chosen.length - waiting} of ${chosen.length} done.`
      : `${ready} ${ready === 1 ? "file is" : "files are"} ready to send.` +
        (refused ? ` ${refused} can't be used.` : "");
  }
  if ($("summary").textContent !== words) $("summary").textContent = words;
  $("to-consent").disabled = !(ready > 0 && waiting === 0);
}

function readyItems() {
  return chosen.filter((e) => e.state === "ready").map((e) => {
    const r = e.record;
    // the registry's item shapes: hashes only (README "Person routes")
    return r.kind === "image"
      ? { kind: "image", pdq: r.pdq, quality: r.quality, md5: r.md5, sha256: r.sha256 }
      : { kind: "video", md5: r.md5, sha256: r.sha256 };
  });
}

// ------------------------------------------------------------------ 2-4. consent, send, done
let lastCase = null; // {case_id, secret}: in memory only, until the page is left

async function send() {
  if (busy) return;
  setError("consent-error", "");
  if (!$("agree").checked) {
    setError("consent-error", SAY.agree);
    $("agree").focus();
    return;
  }
  const items = readyItems();
  if (items.length > MAX_ITEMS) { setError("consent-error", SAY.tooMany); return; }
  busy = true;
  showStep("step-sending", "sending-title");
  const bar = $("pow-progress");
  bar.removeAttribute("value");
  $("sending-status").textContent = "Doing the safety check…";
  try {
    let answer = null;
    for (let attempt = 0; attempt < 2 && !answer; attempt++) {
      const challenge = await call("GET", "/v1/challenge");
      const body = { items };
      if (challenge.difficulty > 0) {
        if (challenge.algorithm && challenge.algorithm !== "sha256-leading-zero-bits") {
          throw new Problem(SAY.broken, 0, "pow");
        }
        let shown = -1;
        let nonce;
        try {
          nonce = await solveChallenge(challenge.challenge, challenge.difficulty, {
            onProgress: ({ done, total }) => {
              // the work is random: show how far the expected amount is, never quite 100%
              const pct = Math.min(95, Math.round(100 * (1 - Math.exp(-done / total))));
              bar.value = pct;
              if (pct >= shown + 10) { shown = pct; $("sending-status").textContent = `Safety check: ${pct}%`; }
            },
          });
        } catch (_) {
          throw new Problem(SAY.worker, 0, "worker");
        }
        body.pow = { challenge: challenge.challenge, nonce };
      }
      bar.value = 97;
      $("sending-status").textContent = "Sending the fingerprints…";
      try {
        answer = await call("POST", "/v1/cases", body);
      } catch (err) {
        // a challenge that expired while it was solved: once more with a new one (as the CLI)
        if (!(err instanceof Problem && err.slug === "challenge") || attempt) throw err;
      }
    }
    bar.value = 100;
    lastCase = { case_id: answer.case_id, secret: answer.secret };
    $("case-id").textContent = answer.case_id;
    $("case-secret").textContent = answer.secret;
    $("copy-status").textContent = "";
    $("sending-status").textContent = "";
    busy = false;
    showStep("step-done", "done-title");
  } catch (err) {
    busy = false;
    $("sending-status").textContent = "";
    showStep("step-consent", "consent-title");
    setError("consent-error", err instanceof Problem ? err.message : SAY.broken);
  }
}

function caseText() {
  return "Your case (tidehash)\n\n" +
    `Case number: ${lastCase.case_id}\nSecret code: ${lastCase.secret}\n\n` +
    "Keep this private. You need both to check your case or take it back.\n" +
    "They cannot be recovered if you lose them.\n";
}

async function copyCase() {
  if (!lastCase) return;
  try {
    await navigator.clipboard.writeText(caseText());
    $("copy-status").textContent = "Copied. Paste them somewhere private.";
  } catch (_) {
    // no clipboard (an insecure origin, or refused): select the text instead
    const range = document.createRange();
    range.selectNodeContents($("case-secret").closest("dl"));
    const sel = getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
    $("copy-status").textContent = "This browser wouldn't copy. The text is selected: copy it yourself, or save it as a file.";
  }
}

function downloadCase() {
  if (!lastCase) return;
  const url = URL.createObjectURL(new Blob([caseText()], { type: "text/plain" }));
  const a = document.createElement("a");
  a.href = url;
  a.download = `case-${lastCase.case_id}.txt`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
  $("copy-status").textContent = "Saved as a file. Keep it somewhere private.";
}

function startAgain() {
  lastCase = null;
  $("case-id").textContent = "";
  $("case-secret").textContent = "";
  for (const e of chosen.splice(0)) { e.removed = true; e.li.remove(); }
  $("agree").checked = false;
  setError("consent-error", "");
  update();
  showStep("step-choose", "choose-title");
}

// ------------------------------------------------------------------ #status
const STATUS_WORDS = {
  pending: "Received. Not passed to websites yet",
  active: "Active: websites look for copies of it",
  withdrawn: "Taken back by you",
  removed: "Removed by the service",
};

function statusCredentials() {
  const case_id = $("status-case").value.trim();
  const secret = $("status-secret").value.trim();
  return case_id && secret ? { case_id, secret } : null;
}

function showCase(answer) {
  const items = answer.items || [];
  const list = $("status-items");
  list.textContent = "";
  const counts = { image: 0, video: 0 };
  for (const it of items) {
    const li = document.createElement("li");
    li.className = "file " + it.status;
    const n = ++counts[it.kind === "video" ? "video" : "image"];
    li.textContent = `${it.kind === "video" ? "Video" : "Photo"} ${n}: ${STATUS_WORDS[it.status] || it.status}`;
    list.append(li);
  }
  const open = items.filter((it) => it.status === "pending" || it.status === "active").length;
  $("status-summary").textContent = `Case ${answer.case_id}, sent on ${answer.created}. ` +
    (open ? `${items.length} ${items.length === 1 ? "file" : "files"} in it.`
      : "Nothing in this case is being used any more.");
  $("withdraw").hidden = open === 0;
  $("status-result").hidden = false;
}

let statusBusy = false;
async function checkStatus(event) {
  event.preventDefault();
  if (statusBusy) return;
  setError("status-error", "");
  $("withdraw-confirm").hidden = true;
  const creds = statusCredentials();
  if (!creds) { setError("status-error", SAY.noCase); return; }
  statusBusy = true;
  $("status-check").disabled = true;
  try {
    showCase(await call("POST", "/v1/cases/status", creds, { notFound: SAY.notFound }));
    focusHeading("result-title");
  } catch (err) {
    $("status-result").hidden = true;
    setError("status-error", err instanceof Problem ? err.message : SAY.broken);
  } finally {
    statusBusy = false;
    $("status-check").disabled = false;
  }
}

async function withdraw() {
  setError("status-error", "");
  const creds = statusCredentials();
  if (!creds) { setError("status-error", SAY.noCase); return; }
  $("withdraw-yes").disabled = true;
  try {
    const answer = await call("POST", "/v1/cases/withdraw", creds, { notFound: SAY.notFound });
    $("withdraw-confirm").hidden = true;
    showCase(answer);
    $("status-summary").textContent = "Done. Your case has been taken back. " + $("status-summary").textContent;
    focusHeading("result-title");
  } catch (err) {
    setError("status-error", err instanceof Problem ? err.message : SAY.broken);
  } finally {
    $("withdraw-yes").disabled = false;
  }
}

// ------------------------------------------------------------------ wiring
function init() {
  const input = $("files");
  $("choose").addEventListener("click", () => input.click());
  input.addEventListener("change", () => {
    addFiles([...input.files]);
    input.value = "";
  });
  const drop = $("drop");
  for (const type of ["dragenter", "dragover"]) {
    drop.addEventListener(type, (e) => { e.preventDefault(); drop.classList.add("over"); });
  }
  for (const type of ["dragleave", "dragend"]) drop.addEventListener(type, () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    if (e.dataTransfer && e.dataTransfer.files.length) addFiles([...e.dataTransfer.files]);
  });
  // a file dropped anywhere else must not make the browser open it
  window.addEventListener("dragover", (e) => e.preventDefault());
  window.addEventListener("drop", (e) => e.preventDefault());

  $("to-consent").addEventListener("click", () => {
    if (pendingCount) { setError("choose-error", SAY.stillHashing); return; }
    const n = readyItems().length;
    if (!n) { setError("choose-error", SAY.nothing); return; }
    $("consent-count").textContent = `You are about to send the fingerprints of ${n} ` +
      `${n === 1 ? "file" : "files"}.`;
    setError("consent-error", n > MAX_ITEMS ? SAY.tooMany : "");
    showStep("step-consent", "consent-title");
  });
  $("back").addEventListener("click", () => showStep("step-choose", "pick-title"));
  $("send").addEventListener("click", send);
  $("copy").addEventListener("click", copyCase);
  $("download").addEventListener("click", downloadCase);
  $("again").addEventListener("click", startAgain);
  $("status-form").addEventListener("submit", checkStatus);
  $("withdraw").addEventListener("click", () => {
    $("withdraw-confirm").hidden = false;
    $("withdraw").hidden = true;
    focusHeading("confirm-title");
  });
  $("withdraw-no").addEventListener("click", () => {
    $("withdraw-confirm").hidden = true;
    $("withdraw").hidden = false;
    $("withdraw").focus();
  });
  $("withdraw-yes").addEventListener("click", withdraw);
  $("pick-title").tabIndex = -1;
  window.addEventListener("hashchange", () => showView(false));
  // leaving with the case number unsaved: the browser asks first
  window.addEventListener("beforeunload", (e) => {
    if (lastCase || busy) { e.preventDefault(); e.returnValue = ""; }
  });
  showView(true);
  document.documentElement.dataset.ready = "true"; // every handler is in place
  // load the hashing code now, so it keeps working if the network drops
  ready().catch(() => setError("choose-error", SAY.worker));
}

init();
