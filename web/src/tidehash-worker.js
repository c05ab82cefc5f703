// The page's hashing worker (a module Web Worker started by tidehash.js).
//
// For each file: MD5 and SHA-256 of its bytes, streamed in slices (hash-wasm); for an
// image, the pixels decoded by tidehash's policy and their PDQ hash and quality from the
// project's own C kernels built for WebAssembly (tidehash-{scalar,simd128}.wasm). The
// policy (src/tidehash/image.py): full resolution, EXIF orientation NOT applied, alpha
// dropped without premultiplication, grey images hashed as grey. What this browser cannot
// decode exactly as Pillow does is refused with a reason, never hashed differently.
//
// Messages in:  {id, op: "file", file, options} | {id, op: "pixels", pixels, width,
//                height, channels, options} | {id, op: "ready", options}
//               | {id, op: "pow", challenge, difficulty}
// Messages out: {id, type: "progress", phase, done, total} | {id, type: "result", record}
//               | {id, type: "error", message}

import { createMD5, createSHA256 } from "./hash-wasm.js";

const SLICE = 4 << 20; // bytes read and digested at a time
const HEAD = 64 << 10; // bytes read to tell the format
const WHOLE = 64 << 20; // files up to this size are read in one go (one read, not two)
// tidehash.image.DEFAULT_MAX_PIXELS: the engine's decompression-bomb guard
const MAX_PIXELS = 2 * 89478485;
// a browser holds an image file whole (and its pixels) in memory; larger ones are refused
const MAX_IMAGE_BYTES = 512 << 20;

// ------------------------------------------------------------------ the wasm kernels
// A module with one v128 instruction: WebAssembly.validate accepts it iff SIMD128 works.
const SIMD_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3,
  2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11]);
const kernels = {};

function defaultVariant() {
  return WebAssembly.validate(SIMD_PROBE) ? "simd128" : "scalar";
}

function kernel(variant) {
  if (!kernels[variant]) {
    const url = new URL(`./tidehash-${variant}.wasm`, import.meta.url);
    kernels[variant] = WebAssembly.instantiateStreaming(fetch(url), {}).then(
      ({ instance }) => instance.exports,
      (err) => {
        delete kernels[variant];
        throw new Error(`could not load the hashing code (${variant}): ${err.message}`);
      });
  }
  return kernels[variant];
}

function hex(bytes) {
  let s = "";
  for (const b of bytes) s += b.toString(16).padStart(2, "0");
  return s;
}

// SHA-256 of the pixels as hashed, colour channels only (R, G, B, or the grey value):
// what the tests compare with the engine's decoded pixels (options.pixels).
async function pixelsDigest(view, channels) {
  const sha = await createSHA256();
  sha.init();
  if (channels === 1 || channels === 3) {
    sha.update(view);
  } else {
    const n = view.length / channels, line = new Uint8Array(3 * Math.min(n, 1 << 20));
    for (let start = 0; start < n; start += line.length / 3) {
      const count = Math.min(n - start, line.length / 3);
      for (let i = 0; i < count; i++) {
        const at = (start + i) * channels;
        line[3 * i] = view[at]; line[3 * i + 1] = view[at + 1]; line[3 * i + 2] = view[at + 2];
      }
      sha.update(line.subarray(0, 3 * count));
    }
  }
  return sha.digest("hex");
}

let wantPixelsDigest = false;
// options.timings: when each step ended, in ms from the worker's start on the file
let marks = null;
const mark = (name) => { if (marks) marks[name] = performance.now() - marks.start; };

// PDQ of pixels already written into the module's memory by `fill(view)`.
async function pdqOf(variant, width, height, channels, fill) {
  const k = await kernel(variant);
  const n = width * height * channels;
  const px = k.th_alloc(n);
  const out = k.th_alloc(32 + 4);
  if (!px || !out) {
    if (px) k.th_free(px);
    if (out) k.th_free(out);
    throw new Error("not enough memory in the page to hash an image this large");
  }
  try {
    await fill(new Uint8Array(k.memory.buffer, px, n));
    mark("pixels_in_wasm");
    const rc = k.th_pdq(px, height, width, channels, 0, out, out + 32);
    mark("hashed");
    if (rc === -100) throw new Error("not enough memory in the page to hash an image this large");
    if (rc !== 0) throw new Error(`the hashing code refused the pixels (status ${rc})`);
    const mem = new Uint8Array(k.memory.buffer);
    const quality = new DataView(k.memory.buffer).getInt32(out + 32, true);
    const result = { pdq: hex(mem.subarray(out, out + 32)), quality };
    if (wantPixelsDigest) result.pixels = await pixelsDigest(new Uint8Array(k.memory.buffer, px, n), channels);
    return result;
  } finally {
    k.th_free(px);
    k.th_free(out);
  }
}

// ------------------------------------------------------------------ telling formats apart
const u16be = (b, i) => (b[i] << 8) | b[i + 1];
const u16le = (b, i) => b[i] | (b[i + 1] << 8);
const u32be = (b, i) => ((b[i] << 24) >>> 0) + ((b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]);
const u32le = (b, i) => ((b[i + 3] << 24) >>> 0) + ((b[i + 2] << 16) | (b[i + 1] << 8) | b[i]);
const ascii = (b, i, n) => String.fromCharCode(...b.subarray(i, i + n));

class Refusal extends Error {}

// ISO base media brands of still images (HEIF, AVIF) rather than videos
const IMAGE_BRANDS = new Set(["heic", "heix", "hevc", "heim", "heis", "hevm", "hevs", "mif1",
  "msf1", "avif", "avis", "avio", "miaf"]);

// What the first bytes say: {kind: "image", format} | {kind: "video", format} | a Refusal.
function sniff(b) {
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return { kind: "image", format: "jpeg" };
  if (b.length >= 8 && u32be(b, 0) === 0x89504e47 && u32be(b, 4) === 0x0d0a1a0a) return { kind: "image", format: "png" };
  if (b.length >= 6 && (ascii(b, 0, 6) === "GIF87a" || ascii(b, 0, 6) === "GIF89a")) return { kind: "image", format: "gif" };
  if (b.length >= 12 && ascii(b, 0, 4) === "RIFF" && ascii(b, 8, 4) === "WEBP") return { kind: "image", format: "webp" };
  if (b.length >= 2 && b[0] === 0x42 && b[1] === 0x4d) return { kind: "image", format: "bmp" };
  if (b.length >= 12 && ascii(b, 4, 4) === "ftyp") {
    const brands = [ascii(b, 8, 4)];
    const size = u32be(b, 0);
    for (let i = 16; i + 4 <= Math.min(size, b.length); i += 4) brands.push(ascii(b, i, 4));
    if (IMAGE_BRANDS.has(brands[0]) || (brands[0] !== "isom" && brands.some((x) => IMAGE_BRANDS.has(x)))) {
      throw new Refusal("HEIC and AVIF photos cannot be hashed in the browser exactly as the " +
        "registry's engine hashes them: save the photo as JPEG (or use the tidehash command line)");
    }
    return { kind: "video", format: "mp4" };
  }
  if (b.length >= 4 && u32be(b, 0) === 0x1a45dfa3) return { kind: "video", format: "matroska" };
  if (b.length >= 12 && ascii(b, 0, 4) === "RIFF" && ascii(b, 8, 4) === "AVI ") return { kind: "video", format: "avi" };
  if (b.length >= 3 && ascii(b, 0, 3) === "FLV") return { kind: "video", format: "flv" };
  if (b.length >= 4 && u32be(b, 0) === 0x000001ba) return { kind: "video", format: "mpeg" };
  if (b.length >= 16 && u32be(b, 0) === 0x3026b275 && u32be(b, 4) === 0x8e66cf11) return { kind: "video", format: "asf" };
  if (b.length >= 377 && b[0] === 0x47 && b[188] === 0x47 && b[376] === 0x47) return { kind: "video", format: "mpeg-ts" };
  if (b.length >= 4 && (ascii(b, 0, 4) === "II*\0" || ascii(b, 0, 4) === "MM\0*")) {
    throw new Refusal("TIFF images cannot be decoded by a browser: save the image as PNG or " +
      "JPEG (or use the tidehash command line)");
  }
  if (b.length >= 4 && (u32be(b, 0) === 0x0000000c || u32be(b, 0) === 0xff4fff51)) {
    throw new Refusal("JPEG 2000 images cannot be hashed in the browser: save the image as " +
      "PNG or JPEG (or use the tidehash command line)");
  }
  throw new Refusal("not a recognised image or video format (the page hashes JPEG, PNG, GIF, " +
    "WebP and BMP images, and takes the digests of videos)");
}

// ------------------------------------------------------------------ headers: size, grey, orientation
// Each probe returns {width, height, grey, mime, ...}: `grey` when Pillow opens the file
// as a grey image (modes 1, L, I;16), which tidehash hashes as grey, not as RGB.

function probeJpeg(b) {
  let i = 2;
  const exif = [];
  while (i + 4 <= b.length) {
    if (b[i] !== 0xff) throw new Refusal("the JPEG file is damaged (a marker is missing)");
    const m = b[i + 1];
    if (m === 0xff) { i++; continue; }
    if (m === 0xd8 || m === 0x01 || (m >= 0xd0 && m <= 0xd7)) { i += 2; continue; }
    const len = u16be(b, i + 2);
    if (m === 0xe1 && len >= 8 && ascii(b, i + 4, 6) === "Exif\0\0") exif.push([i + 10, i + 2 + len]);
    const sof = m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc;
    if (sof) {
      if (m === 0xc3 || m === 0xc7 || m === 0xcb || m === 0xcf) {
        throw new Refusal("lossless JPEG cannot be decoded by a browser");
      }
      const precision = b[i + 4], height = u16be(b, i + 5), width = u16be(b, i + 7), nf = b[i + 9];
      const sampling = [];
      for (let c = 0; c < nf; c++) sampling.push([b[i + 11 + 3 * c] >> 4, b[i + 11 + 3 * c] & 15]);
      if (precision !== 8) throw new Refusal(`${precision}-bit JPEG cannot be decoded exactly by a browser`);
      if (height === 0) throw new Refusal("this JPEG gives its height after the image data (DNL), which browsers do not read");
      if (nf !== 1 && nf !== 3 && nf !== 4) throw new Refusal(`a JPEG with ${nf} colour components is not hashed in the page`);
      return { width, height, grey: nf === 1, mime: "image/jpeg", exif, sampling };
    }
    if (m === 0xda || m === 0xd9) break;
    i += 2 + len;
  }
  throw new Refusal("the JPEG file is damaged (no frame header)");
}

function probePng(b) {
  if (b.length < 33 || ascii(b, 12, 4) !== "IHDR") throw new Refusal("the PNG file is damaged (no header)");
  const width = u32be(b, 16), height = u32be(b, 20), depth = b[24], ctype = b[25];
  const exif = [];
  for (let i = 8; i + 12 <= b.length;) {
    const len = u32be(b, i), type = ascii(b, i + 4, 4);
    if (type === "eXIf" && i + 12 + len <= b.length) exif.push([i + 8, i + 8 + len, i + 4]);
    if (type === "IDAT" || type === "IEND") break;
    i += 12 + len;
  }
  return { width, height, grey: ctype === 0, depth, mime: "image/png", exif };
}

function gifPaletteIsGrey(b, at, entries) {
  for (let i = 0; i < entries; i++) {
    if (b[at + 3 * i] !== i || b[at + 3 * i + 1] !== i || b[at + 3 * i + 2] !== i) return false;
  }
  return true;
}

function probeGif(b) {
  const width = u16le(b, 6), height = u16le(b, 8), flags = b[10];
  let i = 13, palette = null, transparent = null;
  if (flags & 0x80) { palette = [i, 2 << (flags & 7)]; i += 3 * (2 << (flags & 7)); }
  while (i < b.length) {
    const block = b[i];
    if (block === 0x21) {
      const label = b[i + 1];
      if (label === 0xf9 && b[i + 2] >= 4 && (b[i + 3] & 1)) transparent = b[i + 6];
      i += 2;
      while (i < b.length && b[i] !== 0) i += 1 + b[i];
      i += 1;
    } else if (block === 0x2c) {
      const x = u16le(b, i + 1), y = u16le(b, i + 3), w = u16le(b, i + 5), h = u16le(b, i + 7);
      const f = b[i + 9];
      if (f & 0x80) palette = [i + 10, 2 << (f & 7)];
      if (x !== 0 || y !== 0 || w !== width || h !== height) {
        throw new Refusal("this GIF's first frame does not cover the whole picture, which browsers " +
          "and the registry's engine fill differently: save it as PNG");
      }
      if (!palette) throw new Refusal("a GIF without a colour table is not hashed in the page");
      const grey = gifPaletteIsGrey(b, palette[0], palette[1]);
      let fill = null;
      if (transparent !== null) {
        const at = palette[0] + 3 * transparent;
        fill = transparent < palette[1] ? [b[at], b[at + 1], b[at + 2]] : [0, 0, 0];
      }
      return { width, height, grey, mime: "image/gif", exif: [], transparentFill: fill };
    } else {
      break;
    }
  }
  throw new Refusal("the GIF file is damaged (no image in it)");
}

function probeBmp(b) {
  const hsize = u32le(b, 14);
  let width, height, bits, colors, entry;
  if (hsize === 12) {
    width = u16le(b, 18); height = u16le(b, 20); bits = u16le(b, 24); colors = 0; entry = 3;
  } else if (hsize >= 40) {
    width = u32le(b, 18) | 0; height = Math.abs(u32le(b, 22) | 0); bits = u16le(b, 28);
    colors = u32le(b, 46); entry = 4;
  } else {
    throw new Refusal("this BMP header is not one browsers read");
  }
  if (hsize >= 40) {
    const compression = u32le(b, 30);
    if (compression === 3 || compression === 6) {
      // colour masks: browsers and Pillow widen samples of other than 8 bits differently
      const masks = [u32le(b, 54), u32le(b, 58), u32le(b, 62)];
      if (!masks.every((m) => [0xff, 0xff00, 0xff0000, 0xff000000].includes(m))) {
        throw new Refusal("this BMP's colour masks are not whole bytes, which browsers widen " +
          "differently from the registry's engine: save it as PNG");
      }
    } else if (compression !== 0) {
      throw new Refusal("compressed BMP files are not hashed in the page: save it as PNG");
    }
  }
  if (bits === 16) {
    throw new Refusal("16-bit BMP colours are widened to 8 bits differently by browsers and " +
      "the registry's engine: save the image as PNG");
  }
  let grey = false;
  if (bits <= 8) {
    colors = colors || (1 << bits);
    const at = 14 + hsize;
    const values = colors === 2 ? [0, 255] : Array.from({ length: colors }, (_, k) => k);
    grey = values.every((v, k) => b[at + k * entry] === v && b[at + k * entry + 1] === v && b[at + k * entry + 2] === v);
  }
  return { width, height, grey, mime: "image/bmp", exif: [] };
}

function probeWebp(b) {
  const first = ascii(b, 12, 4);
  let width, height;
  if (first === "VP8X") {
    width = 1 + (b[24] | (b[25] << 8) | (b[26] << 16));
    height = 1 + (b[27] | (b[28] << 8) | (b[29] << 16));
  } else if (first === "VP8L") {
    const v = u32le(b, 21);
    width = 1 + (v & 0x3fff); height = 1 + ((v >>> 14) & 0x3fff);
  } else if (first === "VP8 ") {
    width = u16le(b, 26) & 0x3fff; height = u16le(b, 28) & 0x3fff;
  } else {
    throw new Refusal("the WebP file is damaged (no image in it)");
  }
  const exif = [];
  for (let i = 12; i + 8 <= b.length;) {
    const len = u32le(b, i + 4);
    if (ascii(b, i, 4) === "EXIF" && i + 8 + len <= b.length) exif.push([i + 8, i + 8 + len]);
    i += 8 + len + (len & 1);
  }
  return { width, height, grey: false, mime: "image/webp", exif };
}

const PROBES = { jpeg: probeJpeg, png: probePng, gif: probeGif, bmp: probeBmp, webp: probeWebp };

// Sets the EXIF orientation (tag 0x0112 of IFD0) to 1 in b[start, end), a TIFF structure,
// so that no browser rotates or flips the pixels: tidehash hashes them as stored.
function neutraliseOrientation(b, start, end) {
  if (end - start < 8) return false;
  const le = b[start] === 0x49;
  const r16 = (i) => (le ? u16le(b, i) : u16be(b, i));
  const r32 = (i) => (le ? u32le(b, i) : u32be(b, i));
  const ifd = start + r32(start + 4);
  if (ifd + 2 > end) return false;
  const n = r16(ifd);
  let changed = false;
  for (let k = 0; k < n; k++) {
    const e = ifd + 2 + 12 * k;
    if (e + 12 > end) break;
    if (r16(e) === 0x0112 && r16(e + 2) === 3) {
      if (le) { b[e + 8] = 1; b[e + 9] = 0; } else { b[e + 8] = 0; b[e + 9] = 1; }
      changed = true;
    }
  }
  return changed;
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(b, start, end) {
  let c = 0xffffffff;
  for (let i = start; i < end; i++) c = CRC_TABLE[(c ^ b[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

// A copy of the bytes with every EXIF orientation set to 1 (the original when none is set).
function withoutOrientation(bytes, info) {
  if (!info.exif.length) return bytes;
  const copy = bytes.slice();
  for (const [start, end, crcFrom] of info.exif) {
    if (neutraliseOrientation(copy, start, end) && crcFrom !== undefined) {
      const c = crc32(copy, crcFrom, end);
      copy[end] = c >>> 24; copy[end + 1] = (c >>> 16) & 0xff; copy[end + 2] = (c >>> 8) & 0xff; copy[end + 3] = c & 0xff;
    }
  }
  return copy;
}

// ------------------------------------------------------------------ decoding
// Two ways, both measured against Pillow (tests/web/): WebCodecs' ImageDecoder gives the
// decoder's own pixels for opaque images (colour management off); for images with alpha it
// premultiplies, so those go through createImageBitmap (premultiplyAlpha "none",
// colorSpaceConversion "none") into a WebGL texture read back with readPixels, which keeps
// the stored colour of every pixel, transparent ones included.

let gl = null;

function glContext() {
  if (gl && !gl.isContextLost()) return gl;
  const canvas = new OffscreenCanvas(1, 1);
  gl = canvas.getContext("webgl2", { premultipliedAlpha: false, antialias: false, alpha: true,
    depth: false, stencil: false, preserveDrawingBuffer: false });
  if (!gl) throw new Refusal("this browser cannot read the pixels of images with transparency " +
    "exactly (no WebGL 2 in workers): try Chrome, Edge or Firefox, or flatten the image to JPEG");
  return gl;
}

async function decodeWithWebGL(blob, width, height, write, meanwhile) {
  const decoding = createImageBitmap(blob, { premultiplyAlpha: "none",
    colorSpaceConversion: "none", imageOrientation: "from-image" });
  decoding.catch(() => {}); // awaited below, after `meanwhile`
  await meanwhile();
  const bitmap = await decoding.catch(() => {
    throw new Refusal("this browser cannot decode the image");
  });
  mark("decoded");
  try {
    if (bitmap.width !== width || bitmap.height !== height) {
      throw new Refusal("this browser changed the image's size while decoding it");
    }
    const g = glContext();
    const max = g.getParameter(g.MAX_TEXTURE_SIZE);
    if (width > max || height > max) {
      throw new Refusal(`this browser reads images with transparency up to ${max} pixels a side; ` +
        "this one is larger");
    }
    const tex = g.createTexture();
    const fb = g.createFramebuffer();
    try {
      g.bindTexture(g.TEXTURE_2D, tex);
      g.pixelStorei(g.UNPACK_PREMULTIPLY_ALPHA_WEBGL, false);
      g.pixelStorei(g.UNPACK_COLORSPACE_CONVERSION_WEBGL, g.NONE);
      g.pixelStorei(g.UNPACK_FLIP_Y_WEBGL, false);
      g.texImage2D(g.TEXTURE_2D, 0, g.RGBA8, width, height, 0, g.RGBA, g.UNSIGNED_BYTE, bitmap);
      g.bindFramebuffer(g.FRAMEBUFFER, fb);
      g.framebufferTexture2D(g.FRAMEBUFFER, g.COLOR_ATTACHMENT0, g.TEXTURE_2D, tex, 0);
      if (g.checkFramebufferStatus(g.FRAMEBUFFER) !== g.FRAMEBUFFER_COMPLETE) {
        throw new Refusal("this browser cannot read back the image's pixels");
      }
      g.pixelStorei(g.PACK_ALIGNMENT, 1);
      // texture row 0 is the image's first line, and readPixels returns row 0 first
      await write((view) => g.readPixels(0, 0, width, height, g.RGBA, g.UNSIGNED_BYTE, view));
      if (g.getError() !== g.NO_ERROR) throw new Refusal("this browser could not read the image's pixels");
    } finally {
      g.bindFramebuffer(g.FRAMEBUFFER, null);
      g.deleteFramebuffer(fb);
      g.deleteTexture(tex);
    }
  } finally {
    bitmap.close();
  }
}

// Decodes `bytes` and hands its pixels to `write(pixels)`: {rgba: fill(view)} or, for a
// JPEG the browser decoded to planes, {yuv: frame, hsub, vsub}. Returns how it decoded.
async function decodeRGBA(bytes, info, write, how, meanwhile) {
  // `meanwhile` (the digests) runs once, while the browser decodes on its own threads
  let pending = meanwhile;
  const once = async () => { const f = pending; pending = async () => {}; await f(); };
  if (how !== "webgl" && typeof ImageDecoder === "function") {
    let decoder = null, frame = null;
    try {
      decoder = new ImageDecoder({ data: bytes, type: info.mime, premultiplyAlpha: "none",
        colorSpaceConversion: "none", preferAnimation: false });
      const decoding = decoder.decode({ frameIndex: 0 });
      decoding.catch(() => {}); // awaited below, after `meanwhile`
      await once();
      frame = (await decoding).image;
      mark("decoded");
    } catch (err) {
      if (err instanceof Refusal || !(err instanceof DOMException || err instanceof TypeError)) {
        if (decoder) decoder.close();
        throw err;
      }
      if (decoder) decoder.close();
      throw new Refusal("this browser cannot decode the image (it may be damaged)");
    }
    try {
      if (frame.visibleRect.width !== info.width || frame.visibleRect.height !== info.height) {
        throw new Refusal("this browser changed the image's size while decoding it");
      }
      if (frame.format === "BGRX" || frame.format === "RGBX") {
        await write({ rgba: (view) => frame.copyTo(view, { format: "RGBA" }) });
        return "ImageDecoder";
      }
      const sub = YUV_FORMATS[frame.format];
      // (libjpeg upsamples chroma planes of 2 samples or fewer by replication, not the
      // fancy filter th_ycbcr_to_rgb follows: those go the other way, below)
      if (sub && info.mime === "image/jpeg" && jpegSubsampling(info) === sub.join("x") &&
          (sub[0] === 1 || Math.ceil(info.width / 2) > 2)) {
        // the IDCT's own planes (a large JPEG): upsampled and converted as libjpeg does
        await write({ yuv: frame, hsub: sub[0], vsub: sub[1] });
        return "ImageDecoder+ycbcr";
      }
    } finally {
      frame.close();
      decoder.close();
    }
  }
  await decodeWithWebGL(new Blob([bytes], { type: info.mime }), info.width, info.height, (fill) => write({ rgba: fill }), once);
  return "WebGL";
}

// WebCodecs' planar formats a JPEG decodes to, and their chroma subsampling (h, v)
const YUV_FORMATS = { I420: [2, 2], I422: [2, 1], I444: [1, 1] };

// "2x2" for 4:2:0, "2x1" for 4:2:2, "1x1" for 4:4:4 (Cb and Cr alike), else null
function jpegSubsampling(info) {
  const s = info.sampling;
  if (!s || s.length !== 3 || s[1][0] !== s[2][0] || s[1][1] !== s[2][1]) return null;
  if (s[1][0] !== 1 || s[1][1] !== 1) return null;
  const [h, v] = s[0];
  if ((h === 2 && (v === 2 || v === 1)) || (h === 1 && v === 1)) return `${h}x${v}`;
  return null;
}

// PDQ of a planar Y'CbCr frame, its planes copied into the module's memory: a grey
// JPEG's Y plane hashed as it is; a colour one by th_pdq_ycbcr, which converts each line to
// RGB (libjpeg's fancy upsampling and tables) as the kernel reads it, so the RGB image is
// never made. It is made (th_ycbcr_to_rgbx, the same conversion) only for a 64x64 image,
// whose single hash skips the filter, and for options.pixels' digest.
const NOT_HERE = -101; // th_pdq_ycbcr: does not apply (web/wasm/jpeg_yuv.c)

async function pdqOfYuv(variant, frame, width, height, hsub, vsub, grey) {
  const k = await kernel(variant);
  const size = frame.allocationSize();
  const planes = k.th_alloc(size);
  const out = k.th_alloc(32 + 4);
  const oom = "not enough memory in the page to hash an image this large";
  let rgb = 0;
  try {
    if (!planes || !out) throw new Error(oom);
    const layout = await frame.copyTo(new Uint8Array(k.memory.buffer, planes, size));
    mark("planes_in_wasm");
    const [py, pu, pv] = layout.map((p) => planes + p.offset);
    const yuv = [py, layout[0].stride, pu, layout[1].stride, pv, layout[2].stride,
      width, height, hsub, vsub];
    let rc, px = py, channels = 1;
    if (grey) {
      // a grey JPEG's one component is the Y plane; Pillow hashes it as it is
      if (layout[0].stride !== width) {
        throw new Refusal("this browser laid out the image's pixels in an unexpected way");
      }
      rc = k.th_pdq(py, height, width, 1, 0, out, out + 32);
    } else {
      rc = k.th_pdq_ycbcr(...yuv, 0, out, out + 32);
      if (rc === NOT_HERE || wantPixelsDigest) {
        rgb = k.th_alloc(width * height * 4);
        if (!rgb) throw new Error(oom);
        const converted = k.th_ycbcr_to_rgbx(...yuv, rgb);
        if (converted === -100) throw new Error(oom);
        if (converted !== 0) return null;
        px = rgb; channels = 4;
        if (rc === NOT_HERE) rc = k.th_pdq(rgb, height, width, 4, 0, out, out + 32);
      }
    }
    mark("hashed");
    if (rc === -100) throw new Error(oom);
    if (rc !== 0) throw new Error(`the hashing code refused the pixels (status ${rc})`);
    const mem = new Uint8Array(k.memory.buffer);
    const quality = new DataView(k.memory.buffer).getInt32(out + 32, true);
    const result = { pdq: hex(mem.subarray(out, out + 32)), quality };
    if (wantPixelsDigest) {
      result.pixels = await pixelsDigest(new Uint8Array(k.memory.buffer, px, width * height * channels), channels);
    }
    return result;
  } finally {
    if (planes) k.th_free(planes);
    if (rgb) k.th_free(rgb);
    if (out) k.th_free(out);
  }
}

// ------------------------------------------------------------------ one file
// The digests of bytes already in memory. SHA-256 by the browser's own WebCrypto where
// there is one (a secure context): native code on the browser's own thread, so it runs
// alongside MD5 here and the decode, several times faster than hash-wasm (measured:
// benchmarks/RESULTS.md, the page). WebCrypto takes no slices and copies its input, so
// only for up to WHOLE bytes; hash-wasm otherwise, in slices.
async function digestBytes(bytes, progress) {
  const subtle = bytes.length <= WHOLE && self.crypto && self.crypto.subtle;
  const sha256Native = subtle ? subtle.digest("SHA-256", bytes).then((d) => hex(new Uint8Array(d)), () => null) : null;
  const md5 = await createMD5(), sha256 = sha256Native ? null : await createSHA256();
  md5.init();
  if (sha256) sha256.init();
  for (let at = 0; at < bytes.length; at += SLICE) {
    const part = bytes.subarray(at, Math.min(bytes.length, at + SLICE));
    md5.update(part);
    if (sha256) sha256.update(part);
    progress("digest", at + part.length, bytes.length);
  }
  const md5Hex = md5.digest("hex");
  mark("md5");
  let sha256Hex = sha256 ? sha256.digest("hex") : await sha256Native;
  if (sha256Hex === null) {
    const again = await createSHA256(); // WebCrypto refused (it may, in some contexts)
    again.init();
    for (let at = 0; at < bytes.length; at += SLICE) again.update(bytes.subarray(at, at + SLICE));
    sha256Hex = again.digest("hex");
  }
  mark("sha256");
  return { md5: md5Hex, sha256: sha256Hex };
}

// A video's digests: its bytes streamed through in slices, never whole in memory.
async function streamDigests(file, progress) {
  const md5 = await createMD5(), sha256 = await createSHA256();
  md5.init(); sha256.init();
  for (let at = 0; at < file.size; at += SLICE) {
    const part = new Uint8Array(await file.slice(at, Math.min(file.size, at + SLICE)).arrayBuffer());
    md5.update(part); sha256.update(part);
    progress("digest", at + part.length, file.size);
  }
  return { md5: md5.digest("hex"), sha256: sha256.digest("hex") };
}

async function hashFile(file, options, progress) {
  if (!(file instanceof Blob)) throw new TypeError("hashFile takes a File or a Blob");
  if (file.size === 0) throw new Refusal("empty file");
  // a file of up to WHOLE bytes is read once, whole; a larger one first by its head
  const whole = file.size <= WHOLE ? new Uint8Array(await file.arrayBuffer()) : null;
  mark("read");
  if (whole && whole.length !== file.size) throw new Refusal("the file changed while it was read");
  const head = whole ? whole.subarray(0, HEAD) : new Uint8Array(await file.slice(0, HEAD).arrayBuffer());
  const kind = sniff(head);
  if (kind.kind === "video") {
    const { md5, sha256 } = whole ? await digestBytes(whole, progress) : await streamDigests(file, progress);
    return { kind: "video", pdq: null, quality: null, md5, sha256 };
  }
  const info = PROBES[kind.format](head);
  if (!(info.width > 0 && info.height > 0)) throw new Refusal(`image has no pixels (${info.width}x${info.height})`);
  if (info.width * info.height > MAX_PIXELS) {
    throw new Refusal(`${info.width}x${info.height} = ${info.width * info.height} pixels exceeds ` +
      `the limit of ${MAX_PIXELS} (decompression-bomb guard)`);
  }
  if (file.size > MAX_IMAGE_BYTES) {
    throw new Refusal(`an image file over ${MAX_IMAGE_BYTES >> 20} MB is too large to hash in the page`);
  }
  const bytes = whole || new Uint8Array(await file.arrayBuffer());
  if (bytes.length !== file.size) throw new Refusal("the file changed while it was read");
  let md5, sha256;
  const digests = async () => {
    mark("decoding");
    ({ md5, sha256 } = await digestBytes(bytes, progress));
  };
  // the whole file now: the headers may lie past the first slice
  const full = PROBES[kind.format](bytes);
  const decodable = withoutOrientation(bytes, full);
  const variant = options.wasm || defaultVariant();
  const { width, height } = full;
  progress("decode", 0, 1);
  let result;
  const decodedBy = await decodeRGBA(decodable, full, async (pixels) => {
    progress("hash", 0, 1);
    if (pixels.yuv) {
      result = await pdqOfYuv(variant, pixels.yuv, width, height, pixels.hsub, pixels.vsub, full.grey);
      if (result === null) throw new Refusal("this JPEG's layout cannot be converted exactly in the page");
      return;
    }
    const fillRGBA = pixels.rgba;
    if (!full.grey && !full.transparentFill) {
      // RGBA straight into the module's memory; the kernel ignores the 4th byte
      result = await pdqOf(variant, width, height, 4, fillRGBA);
      return;
    }
    const rgba = new Uint8Array(width * height * 4);
    await fillRGBA(rgba);
    if (full.transparentFill) {
      // GIF: Pillow keeps the transparent index's palette colour where a browser leaves 0
      const [r, g, b] = full.transparentFill;
      for (let i = 0; i < rgba.length; i += 4) {
        if (rgba[i + 3] === 0) { rgba[i] = r; rgba[i + 1] = g; rgba[i + 2] = b; }
      }
    }
    if (full.grey) {
      result = await pdqOf(variant, width, height, 1, (view) => {
        for (let i = 0, j = 0; j < view.length; i += 4, j++) view[j] = rgba[i];
      });
    } else {
      result = await pdqOf(variant, width, height, 4, (view) => view.set(rgba));
    }
  }, options.decoder, digests);
  progress("hash", 1, 1);
  const record = { kind: "image", pdq: result.pdq, quality: result.quality, md5, sha256 };
  if (result.pixels) record.pixels_sha256 = result.pixels;
  if (options.timings) {
    mark("total");
    record.timings = { ...marks, decoded_by: decodedBy };
    delete record.timings.start;
  }
  return record;
}

async function hashPixels(msg) {
  const { pixels, width, height, channels } = msg;
  if (![1, 3, 4].includes(channels)) throw new Refusal("channels must be 1, 3 or 4");
  if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0) ||
      pixels.length !== width * height * channels) {
    throw new Refusal("pixels must hold width x height x channels bytes");
  }
  const variant = (msg.options && msg.options.wasm) || defaultVariant();
  return pdqOf(variant, width, height, channels, (view) => view.set(pixels));
}

// ------------------------------------------------------------------ the proof of work
// The registry's challenge (src/tidehash/registry/pow.py): the first decimal nonce from 0
// such that SHA-256(challenge + ":" + nonce) starts with `difficulty` zero bits, as
// tidehash.registry.client solves it. SHA-256 here in plain JS (FIPS 180-4), the
// prefix's whole blocks compressed once and only the last one or two blocks per nonce:
// several times faster than a call into hash-wasm per nonce (measured: README).
const POW_MAX_DIFFICULTY = 32;
const POW_PROGRESS_EVERY = 1 << 15;
const K256 = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2]);
const IV256 = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c,
  0x1f83d9ab, 0x5be0cd19];

/** state (Int32Array 8) <- the compression of `blocks` 64-byte blocks of bytes from `at`. */
function sha256Compress(state, bytes, at, blocks, w) {
  for (let b = 0; b < blocks; b++, at += 64) {
    for (let i = 0; i < 16; i++) {
      const j = at + 4 * i;
      w[i] = (bytes[j] << 24) | (bytes[j + 1] << 16) | (bytes[j + 2] << 8) | bytes[j + 3];
    }
    for (let i = 16; i < 64; i++) {
      const x = w[i - 15], y = w[i - 2];
      const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
      const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
      w[i] = (w[i - 16] + s0 + w[i - 7] + s1) | 0;
    }
    let a = state[0], b2 = state[1], c = state[2], d = state[3];
    let e = state[4], f = state[5], g = state[6], h = state[7];
    for (let i = 0; i < 64; i++) {
      const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      const t1 = (h + S1 + ((e & f) ^ (~e & g)) + K256[i] + w[i]) | 0;
      const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      const t2 = (S0 + ((a & b2) ^ (a & c) ^ (b2 & c))) | 0;
      h = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b2; b2 = a; a = (t1 + t2) | 0;
    }
    state[0] = (state[0] + a) | 0; state[1] = (state[1] + b2) | 0;
    state[2] = (state[2] + c) | 0; state[3] = (state[3] + d) | 0;
    state[4] = (state[4] + e) | 0; state[5] = (state[5] + f) | 0;
    state[6] = (state[6] + g) | 0; state[7] = (state[7] + h) | 0;
  }
}

function stateHex(state) {
  let out = "";
  for (const v of state) out += (v >>> 0).toString(16).padStart(8, "0");
  return out;
}

/** The SHA-256 state after all of bytes (a check of sha256Compress against hash-wasm). */
function sha256Plain(bytes) {
  const n = bytes.length, total = Math.ceil((n + 9) / 64) * 64;
  const buf = new Uint8Array(total);
  buf.set(bytes);
  buf[n] = 0x80;
  const bits = n * 8;
  for (let i = 0; i < 8; i++) buf[total - 1 - i] = Math.floor(bits / 2 ** (8 * i)) & 0xff;
  const state = new Int32Array(IV256);
  sha256Compress(state, buf, 0, total / 64, new Int32Array(64));
  return state;
}

async function solvePow(msg, progress) {
  const { challenge, difficulty } = msg;
  if (typeof challenge !== "string" || !/^[\x21-\x7e]+$/.test(challenge)) {
    throw new Refusal("the challenge must be a string of printable ASCII");
  }
  if (!Number.isInteger(difficulty) || difficulty < 0 || difficulty > POW_MAX_DIFFICULTY) {
    throw new Refusal(`the difficulty must be an integer in 0..${POW_MAX_DIFFICULTY}`);
  }
  const prefix = new TextEncoder().encode(challenge + ":");
  const whole = prefix.length - (prefix.length % 64);
  const mid = new Int32Array(IV256);
  const w = new Int32Array(64);
  sha256Compress(mid, prefix, 0, whole / 64, w);
  // a check: this SHA-256 gives hash-wasm's digest of the first candidate
  const sha = await createSHA256();
  sha.init();
  sha.update(challenge + ":0");
  if (stateHex(sha256Plain(new TextEncoder().encode(challenge + ":0"))) !== sha.digest("hex")) {
    throw new Error("the proof of work's SHA-256 disagrees with hash-wasm");
  }
  const tail = prefix.subarray(whole);
  const buf = new Uint8Array(128);
  buf.set(tail);
  const state = new Int32Array(8);
  const expected = 2 ** difficulty;
  const shift = 32 - difficulty;
  for (let nonce = 0; ; nonce++) {
    const digits = String(nonce);
    let n = tail.length;
    for (let i = 0; i < digits.length; i++) buf[n++] = digits.charCodeAt(i);
    buf[n++] = 0x80;
    const blocks = n + 8 <= 64 ? 1 : 2;
    const end = blocks * 64;
    buf.fill(0, n, end - 4);
    const bits = (prefix.length + digits.length) * 8; // under 2**32: a short challenge
    buf[end - 4] = bits >>> 24; buf[end - 3] = (bits >>> 16) & 0xff;
    buf[end - 2] = (bits >>> 8) & 0xff; buf[end - 1] = bits & 0xff;
    state.set(mid);
    sha256Compress(state, buf, 0, blocks, w);
    const h0 = state[0] >>> 0;
    if (difficulty === 0 || (difficulty === 32 ? h0 === 0 : (h0 >>> shift) === 0)) {
      progress("pow", nonce + 1, expected);
      return { nonce: digits, tries: nonce + 1 };
    }
    if (nonce % POW_PROGRESS_EVERY === POW_PROGRESS_EVERY - 1) progress("pow", nonce + 1, expected);
  }
}

// ------------------------------------------------------------------ the message loop
let queue = Promise.resolve();

self.onmessage = (event) => {
  const msg = event.data;
  const progress = (phase, done, total) => self.postMessage({ id: msg.id, type: "progress", phase, done, total });
  queue = queue.then(async () => {
    try {
      let record;
      const options = msg.options || {};
      if (options.decoder && options.decoder !== "auto" && options.decoder !== "webgl") {
        throw new Refusal(`unknown decoder ${JSON.stringify(options.decoder)}: "auto" or "webgl"`);
      }
      if (options.wasm && options.wasm !== "scalar" && options.wasm !== "simd128") {
        throw new Refusal(`unknown wasm build ${JSON.stringify(options.wasm)}: "scalar" or "simd128"`);
      }
      if (msg.op === "ready") {
        const variant = options.wasm || defaultVariant();
        await kernel(variant);
        await createMD5(); await createSHA256();
        record = { wasm: variant };
      } else if (msg.op === "pixels") {
        record = await hashPixels(msg);
      } else if (msg.op === "pow") {
        record = await solvePow(msg, progress);
      } else {
        wantPixelsDigest = Boolean(options.pixels);
        marks = options.timings ? { start: performance.now() } : null;
        try {
          record = await hashFile(msg.file, options, progress);
        } finally {
          wantPixelsDigest = false;
          marks = null;
        }
      }
      self.postMessage({ id: msg.id, type: "result", record });
    } catch (err) {
      self.postMessage({ id: msg.id, type: "error", message: (err && err.message) || String(err) });
    }
  });
};
