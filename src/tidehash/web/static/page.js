// The registry's page for now: pick files, see their hashes (hashed in this browser).
// The person's flow (consent, submission, case id and secret) builds on this.
import { hashFile, ready } from "/tidehash.js";

const input = document.getElementById("files");
const status = document.getElementById("status");
const results = document.getElementById("results");

ready().catch((err) => { status.textContent = err.message; });

input.addEventListener("change", async () => {
  for (const file of input.files) {
    const item = document.createElement("li");
    item.textContent = `${file.name}: hashing…`;
    results.append(item);
    try {
      const r = await hashFile(file, {
        onProgress: (p) => { status.textContent = `${file.name}: ${p.phase} ${p.done} / ${p.total}`; },
      });
      item.textContent = `${file.name}: ${r.kind}` +
        (r.pdq ? `, PDQ ${r.pdq} (quality ${r.quality})` : "") + `, MD5 ${r.md5}, SHA-256 ${r.sha256}`;
    } catch (err) {
      item.textContent = `${file.name}: not hashed: ${err.message}`;
    }
  }
  status.textContent = "Done.";
});
