// tidehash in the browser: hash a file on the device, as the registry's engine does.
//
//   import { hashFile } from "/tidehash.js";
//   const record = await hashFile(file, { onProgress: (p) => ... });
//   // {kind: "image", pdq: "<64 hex>", quality: 0..100, md5: "<32 hex>", sha256: "<64 hex>"}
//   // {kind: "video", pdq: null, quality: null, md5, sha256}
//   const nonce = await solveChallenge(challenge, difficulty);  // a registry's proof of work
//
// The record has the fields of tidehash.hash_file's (Python), with the same values for the
// same file: PDQ from the project's own C kernels compiled to WebAssembly, the pixels decoded
// by tidehash's policy (full resolution, EXIF orientation not applied, alpha dropped without
// premultiplication, grey as grey). A file this browser cannot decode exactly as the engine
// does is refused: the promise rejects with an Error whose message says why (and what to do).
// Hashing runs in a Web Worker; nothing leaves the device. Served by the registry with its
// worker, the wasm modules and hash-wasm (MD5, SHA-256) from the same origin; SHA-256 of
// a file read whole comes from the browser's WebCrypto where the page is a secure context.

const WORKER_URL = new URL("./tidehash-worker.js", import.meta.url);

let worker = null;
let nextId = 1;
const pending = new Map();

function failAll(message) {
  for (const { reject } of pending.values()) reject(new Error(message));
  pending.clear();
  if (worker) worker.terminate();
  worker = null;
}

function getWorker() {
  if (worker) return worker;
  worker = new Worker(WORKER_URL, { type: "module", name: "tidehash" });
  worker.onmessage = (event) => {
    const msg = event.data;
    const job = pending.get(msg.id);
    if (!job) return;
    if (msg.type === "progress") {
      if (job.onProgress) {
        try { job.onProgress({ phase: msg.phase, done: msg.done, total: msg.total }); } catch (_) { /* the caller's */ }
      }
      return;
    }
    pending.delete(msg.id);
    if (msg.type === "result") job.resolve(msg.record);
    else job.reject(new Error(msg.message));
  };
  worker.onerror = (event) => {
    event.preventDefault();
    failAll(`the hashing worker stopped: ${event.message || "it could not start"}`);
  };
  worker.onmessageerror = () => failAll("the hashing worker sent a message the page could not read");
  return worker;
}

function call(message, transfer, onProgress) {
  return new Promise((resolve, reject) => {
    const id = nextId++;
    pending.set(id, { resolve, reject, onProgress });
    try {
      getWorker().postMessage({ id, ...message }, transfer || []);
    } catch (err) {
      pending.delete(id);
      reject(new Error(`could not hand the file to the hashing worker: ${err.message}`));
    }
  });
}

function checkOptions(options) {
  if (options === undefined || options === null) return {};
  if (typeof options !== "object") throw new TypeError("options must be an object");
  const { wasm, onProgress, decoder, timings, pixels } = options;
  if (wasm !== undefined && wasm !== "scalar" && wasm !== "simd128") {
    throw new TypeError('options.wasm must be "scalar" or "simd128"');
  }
  if (decoder !== undefined && decoder !== "auto" && decoder !== "webgl") {
    throw new TypeError('options.decoder must be "auto" or "webgl"');
  }
  if (onProgress !== undefined && typeof onProgress !== "function") {
    throw new TypeError("options.onProgress must be a function");
  }
  return { wasm, onProgress, decoder, timings: Boolean(timings), pixels: Boolean(pixels) };
}

/**
 * Hash one file (a File or a Blob).
 * @param {Blob} file
 * @param {{onProgress?: (p: {phase: "digest"|"decode"|"hash", done: number, total: number}) => void,
 *          wasm?: "scalar"|"simd128", decoder?: "auto"|"webgl"}} [options]  wasm: force one
 *          build (default: SIMD128 where the browser has it); decoder "webgl": read every
 *          image through createImageBitmap + WebGL, the way browsers without WebCodecs'
 *          ImageDecoder do (default "auto": ImageDecoder for opaque images where it exists);
 *          timings: add to an image's record when each step ended, in ms from the
 *          worker's start on the file (read, decoding = the decode started, md5, sha256,
 *          decoded, planes_in_wasm or pixels_in_wasm, hashed, total; a step not taken is
 *          absent) and decoded_by; pixels: add pixels_sha256, the SHA-256 of
 *          the pixels hashed (R, G, B bytes, or the grey bytes), for exactness tests
 * @returns {Promise<{kind: "image"|"video", pdq: string|null, quality: number|null,
 *                    md5: string, sha256: string}>}
 */
export async function hashFile(file, options) {
  if (!(file instanceof Blob)) throw new TypeError("hashFile takes a File or a Blob");
  const { wasm, onProgress, decoder, timings, pixels } = checkOptions(options);
  return call({ op: "file", file, options: { wasm, decoder, timings, pixels } }, [], onProgress);
}

/**
 * PDQ of pixels the caller already has: `pixels` a Uint8Array of height lines of width
 * pixels, `channels` bytes each (1 grey, 3 RGB, 4 RGBA with the 4th byte ignored).
 * @returns {Promise<{pdq: string, quality: number}>}
 */
export async function hashPixels(pixels, width, height, channels, options) {
  if (!(pixels instanceof Uint8Array || pixels instanceof Uint8ClampedArray)) {
    throw new TypeError("pixels must be a Uint8Array");
  }
  const { wasm } = checkOptions(options);
  return call({ op: "pixels", pixels, width, height, channels, options: { wasm } });
}

/**
 * Solve a registry's proof-of-work challenge (GET /v1/challenge's `challenge` and
 * `difficulty`) in the worker, as tidehash.registry.client does: resolves to the decimal
 * nonce string that POST /v1/cases takes as {"pow": {challenge, nonce}}. About
 * 2**difficulty SHA-256 computations; onProgress gets {phase: "pow", done: tries so far,
 * total: 2**difficulty, the expected number}.
 * @returns {Promise<string>}
 */
export async function solveChallenge(challenge, difficulty, options) {
  if (typeof challenge !== "string") throw new TypeError("challenge must be a string");
  if (!Number.isInteger(difficulty)) throw new TypeError("difficulty must be an integer");
  const { onProgress } = checkOptions(options);
  const result = await call({ op: "pow", challenge, difficulty }, [], onProgress);
  return result.nonce;
}

/**
 * Start the worker and load the hashing code now (then hashing keeps working if the
 * network goes away). Resolves to {wasm: the build in use}.
 */
export async function ready(options) {
  const { wasm } = checkOptions(options);
  return call({ op: "ready", options: { wasm } });
}
