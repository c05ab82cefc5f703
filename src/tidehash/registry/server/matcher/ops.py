"""The operator's view of a matcher: ``GET /`` (a small HTML page: the banks, their sync
state and last error, entry counts, lookup rates, the feedback queue; no script, no
third-party asset, a Content-Security-Policy that allows none) and ``GET /metrics``
(Prometheus' text exposition format, written by hand: a dozen gauges and counters do
not need a client library)."""

from __future__ import annotations

import base64
import hashlib
import html
import time

from starlette.responses import HTMLResponse

STYLE = ("body{font:15px/1.4 system-ui,sans-serif;margin:2rem}table{border-collapse:collapse}"
         "td,th{border:1px solid #999;padding:.3rem .6rem;text-align:left}")
#: only this page's own style block (by its hash): no script, no other origin, no framing
CSP = ("default-src 'none'; style-src 'sha256-"
       + base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
       + "'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")


def bank_rows(m) -> list[dict]:
    out = []
    for b in m.banks:
        out.append({
            "name": b.name, "source": b.config.kind, "enabled": b.config.enabled,
            "ready": b.settled.is_set(), "healthy": b.healthy, "entries": len(b),
            "last_sync": b.last_sync, "last_error": b.last_error, "pulls": b.pulls,
            "pages": b.pages, "changes": b.changes_written, "refused": b.refused,
            "lookups": b.lookups, "matches": b.matches, "rate": b.rate(),
            "pdq_radius": b.config.pdq_radius, "min_quality": b.config.min_quality,
            "seq": b.seq})
    return out


def _when(t) -> str:
    if not t:
        return "never"
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(t))


def page(m) -> HTMLResponse:
    rows = []
    for r in bank_rows(m):
        state = "disabled" if not r["enabled"] else "loading" if not r["ready"] else \
            "healthy" if r["healthy"] else "unhealthy"
        rows.append(
            "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in (
                r["name"], r["source"], state, r["entries"], _when(r["last_sync"]),
                r["last_error"] or "", f"{r['rate']:.1f}", r["lookups"], r["matches"],
                r["refused"])) + "</tr>")
    queue = m.feedback.counts()
    body = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tidehash matcher</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>{STYLE}</style></head>
<body><h1>tidehash matcher</h1>
<p>Ready: {"yes" if m.bankset.ready else "no (loading)"}. Up since {_when(m.started)}.</p>
<table><caption>Banks</caption><thead><tr><th scope="col">Bank</th><th scope="col">Source</th>
<th scope="col">State</th><th scope="col">Entries</th><th scope="col">Last sync</th>
<th scope="col">Last error</th><th scope="col">Lookups/s (1 min)</th>
<th scope="col">Lookups</th><th scope="col">Matches</th><th scope="col">Refused</th></tr></thead>
<tbody>{"".join(rows)}</tbody></table>
<p>Feedback: {queue["queued"]} queued, {queue["sent"]} sent, {queue["failed"]} failed.</p>
<p><a href="/metrics">Metrics</a></p></body></html>"""
    return HTMLResponse(body, headers={"Content-Security-Policy": CSP,
                                       "X-Content-Type-Options": "nosniff",
                                       "Referrer-Policy": "no-referrer",
                                       "Cache-Control": "no-store"})


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n")


def metrics_text(m) -> str:
    rows = bank_rows(m)
    lines = []

    def family(name: str, kind: str, help_text: str, samples):
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            text = ",".join(f'{k}="{_label(str(v))}"' for k, v in labels.items())
            lines.append(f"{name}{{{text}}} {value}" if text else f"{name} {value}")

    def per_bank(key, cast=int):
        return [({"bank": r["name"]}, cast(r[key])) for r in rows]

    family("tidehash_matcher_ready", "gauge", "1 once every enabled bank is loaded",
           [({}, int(m.bankset.ready))])
    family("tidehash_matcher_bank_entries", "gauge", "entries a bank matches",
           per_bank("entries"))
    family("tidehash_matcher_bank_healthy", "gauge", "1 unless the last pull failed",
           per_bank("healthy"))
    family("tidehash_matcher_bank_ready", "gauge", "1 once the bank is loaded",
           per_bank("ready"))
    family("tidehash_matcher_bank_last_sync_seconds", "gauge",
           "unix time of the last pull that ended well (0: none yet)",
           [({"bank": r["name"]}, int(r["last_sync"] or 0)) for r in rows])
    family("tidehash_matcher_bank_pulls_total", "counter", "pulls of the source",
           per_bank("pulls"))
    family("tidehash_matcher_bank_changes_total", "counter",
           "entry changes written from the source", per_bank("changes"))
    family("tidehash_matcher_bank_refused_total", "counter",
           "entries the source sent that were refused", per_bank("refused"))
    family("tidehash_matcher_bank_lookups_total", "counter", "queries searched in the bank",
           per_bank("lookups"))
    family("tidehash_matcher_bank_matches_total", "counter", "matches found in the bank",
           per_bank("matches"))
    family("tidehash_matcher_requests_total", "counter", "requests by route",
           [({"route": k}, v) for k, v in sorted(m.requests.items())])
    queue = m.feedback.counts()
    family("tidehash_matcher_feedback", "gauge", "feedback rows by state",
           [({"state": k}, v) for k, v in sorted(queue.items())])
    family("tidehash_matcher_feedback_retries_total", "counter",
           "feedback deliveries that failed and were queued again",
           [({}, m.feedback.retried)])
    return "\n".join(lines) + "\n"
