"""The search benchmark's report: machine description, number formats, the tables."""

from __future__ import annotations

import os
import platform
import sys

import numpy as np

import tidehash

from ..machine import cpu_model, git_commit
from .engines import FAISS_MH_KNN_NFLIP, results_exact


def machine_info(faiss) -> dict:
    info = tidehash.cpu_info()
    try:
        affinity = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        affinity = None
    meta = {
        "cpu_model": cpu_model(),
        "machine": platform.machine(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": affinity,
        "tidehash_version": tidehash.__version__,
        "tidehash_path": os.path.dirname(os.path.abspath(tidehash.__file__)),
        "tidehash_git": git_commit(),
        "cpu_info": info,
        "active_isa": info.get("active_isa"),
        "python": platform.python_version(),
        "numpy_version": np.__version__,
        "numpy_bitwise_count": hasattr(np, "bitwise_count"),
        "faiss_version": getattr(faiss, "__version__", None) if faiss else None,
        "faiss_compile_options": None,
        "faiss_max_threads": None,
    }
    if faiss is not None:
        try:
            meta["faiss_compile_options"] = faiss.get_compile_options().strip()
        except Exception:
            pass
        try:
            meta["faiss_max_threads"] = faiss.omp_get_max_threads()
        except Exception:
            pass
    try:
        import psutil
        meta["psutil_version"] = psutil.__version__
    except Exception:
        meta["psutil_version"] = None
    return meta


def fmt_ms(seconds) -> str:
    if seconds is None:
        return "-"
    v = seconds * 1e3
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    if v >= 1:
        return f"{v:.2f}"
    if v >= 0.01:
        return f"{v:.3f}"
    return f"{v:.4f}"


def fmt_rate(v) -> str:
    if v is None:
        return "-"
    suffix = ""
    for scale, name in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if v >= scale:
            v, suffix = v / scale, name
            break
    return (f"{v:.0f}" if v >= 100 else f"{v:.1f}" if v >= 10 else f"{v:.2f}") + suffix


def fmt_ratio(v) -> str:
    return "-" if v is None else f"{v:.2f}x" if v < 10 else f"{v:.1f}x"


def fmt_n(n: int) -> str:
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n >= 1000 and n % 1000 == 0:
        return f"{n // 1000}k"
    return str(n)


def op_label(op) -> str:
    kind, param = op
    return f"range r={param}" if kind == "range" else f"{param}-NN" if param == 1 else \
        f"kNN k={param}"


LOUD = "!" * 100


def shout(out, lines) -> None:
    text = "\n".join([LOUD] + [f"!!! {line}" for line in lines] + [LOUD])
    print(text, file=out, flush=True)
    if out is not sys.stderr:
        print(text, file=sys.stderr, flush=True)


def _ratio(records, better):
    """(tidehash best, faiss best, speed-up) for one metric; better='low' or 'high'."""
    def best(family):
        items = [(v, name) for name, fam, v in records if fam == family and v is not None]
        if not items:
            return None
        return min(items) if better == "low" else max(items)
    th, other = best("tidehash"), best("faiss")
    if th is None or other is None:
        return th, other, None
    speedup = other[0] / th[0] if better == "low" else th[0] / other[0]
    return th, other, speedup


def hits_per_query(rec):
    lims = rec["batch"][0]
    return float(lims[-1] - lims[0]) / max(1, lims.shape[0] - 1)


def header(meta) -> str:
    faiss = (f"faiss {meta['faiss_version']} ({meta['faiss_compile_options']})"
             if meta["faiss_version"] else "faiss not installed (tidehash and NumPy only)")
    s = meta["settings"]
    return "\n".join([
        f"tidehash {meta['tidehash_version']} search benchmark",
        f"CPU: {meta['cpu_model']} ({meta['cpu_count']} logical CPUs, "
        f"{meta['cpus_usable']} usable); tidehash ISA: {meta['active_isa']}; "
        f"load average at start: {meta['loadavg_start']}",
        f"Python {meta['python']}, NumPy {meta['numpy_version']}, {faiss}",
        f"256-bit hashes; queries: half near-duplicates of listed hashes "
        f"({s['query_flips'][0]}-{s['query_flips'][1]} bit flips), half random; "
        f"clustered data: families of {s['family_size']} at 0-{s['family_max_flips']} flips",
        f"latency: one query per call, median (p50) and p99 over up to {s['single_queries']} "
        f"queries; throughput: one call on a batch of up to {s['batch_queries']} queries; "
        f"time budget {s['budget_s']:g} s per measurement",
    ])


def table(tag, n, engines, ops, threads, results, builds, status, limits, report,
           kind, block) -> str:
    load = block["loadavg_end"]
    title = f"=== {tag} ({block['seconds']:.0f} s" + (
        f", load average {load[0]:.2f}" if load else "") + ") "
    lines = ["", title + "=" * max(0, 100 - len(title))]
    # builds
    lines.append(f"{'build':<16} {'threads':>7} {'add s':>8} {'MIH s':>8} {'B/hash':>8}  "
                 f"{'(memory from)':<14} layout")
    for (name, t), b in builds.items():
        per = f"{b['bytes'] / n:.1f}" if b.get("bytes") is not None else "-"
        mih = f"{b['mih_s']:.3f}" if b["mih_s"] is not None else "-"
        lines.append(f"{name:<16} {t:>7} {b['add_s']:>8.3f} {mih:>8} {per:>8}  "
                     f"{b['bytes_source']:<14} {b['detail']}")
    lines += [f"!! {note}" for note in block.get("skipped", [])]
    # search
    names = [e.name for e in engines if any((e.name, t) in builds for t in threads)]
    fam = {e.name: e.family for e in engines}
    group_w = 37
    head1 = f"{'':<12} {'engine':<15} {'agree':>6} "
    head2 = f"{'':<12} {'':<15} {'':>6} "
    for t in threads:
        title = f" {t} thread{'s' if t > 1 else ''} "
        head1 += "|" + title.center(group_w, "-")
        head2 += f"|{'p50 ms':>8} {'p99 ms':>8} {'q/s':>7} {'nq':>11}"
    lines += ["", head1, head2]
    short = False
    for op in ops:
        hits = [hits_per_query(results[(nm, t, op)]) for nm in names for t in threads
                if (nm, t, op) in results] if op[0] == "range" else []
        label = op_label(op) + (f"  ({hits[0]:.2f} hits/query)" if hits else "")
        lines.append(label)
        for name in names:
            if not any((name, t, op) in results for t in threads):
                continue
            row = f"{'':<12} {name:<15} {status.get((name, op), '-'):>6} "
            for t in threads:
                rec = results.get((name, t, op))
                if rec is None:
                    row += f"|{'-':>8} {'-':>8} {'-':>7} {'-':>11}"
                    continue
                mark = ""
                if rec["n_single"] < rec["single_target"] or rec["n_batch"] < rec["batch_target"]:
                    mark, short = "*", True
                nq = f"{rec['n_single']}/{rec['n_batch']}{mark}"
                row += (f"|{fmt_ms(rec['p50_s']):>8} {fmt_ms(rec['p99_s']):>8} "
                        f"{fmt_rate(rec['qps']):>7} {nq:>11}")
            lines.append(row)
        if any(f == "faiss" for f in fam.values()):
            row = f"{'':<12} {'tidehash/faiss':<15} {'':>6} "
            for t in threads:
                metrics = {}
                for key, better in (("p50_s", "low"), ("p99_s", "low"), ("qps", "high")):
                    recs = [(nm, fam[nm], results[(nm, t, op)][key]) for nm in names
                            if (nm, t, op) in results
                            and (op[0] == "range" or results_exact(nm, engines))]
                    metrics[key] = _ratio(recs, better)
                report["ratios"].append({
                    "n": n, "dataset": kind, "threads": t, "op": op[0], "param": op[1],
                    **{f"{key}_speedup": m[2] for key, m in metrics.items()},
                    **{f"{key}_tidehash": m[0][1] if m[0] else None
                       for key, m in metrics.items()},
                    **{f"{key}_faiss": m[1][1] if m[1] else None
                       for key, m in metrics.items()}})
                row += (f"|{fmt_ratio(metrics['p50_s'][2]):>8} {fmt_ratio(metrics['p99_s'][2]):>8} "
                        f"{fmt_ratio(metrics['qps'][2]):>7} {'':>11}")
            lines.append(row)
    lines.append("")
    numpy_targets = (f", NumPy {limits['numpy']}/{limits['numpy']}" if "numpy" in names
                     else "")
    lines.append("nq: queries timed one at a time / in the batched call (targets "
                 f"{limits['single']}/{limits['batch']}{numpy_targets})"
                 + ("; * fewer: slow configuration, time budget "
                    f"{limits['budget']:g} s" if short else ""))
    if any(f == "faiss" for f in fam.values()):
        lines.append("tidehash/faiss: best tidehash strategy vs best exact faiss index, as a "
                     "speed-up (> 1: tidehash faster)")
    if "faiss-mh" in names and any(op[0] == "knn" for op in ops):
        lines.append(f"faiss-mh k-NN is approximate (buckets within nflip={FAISS_MH_KNN_NFLIP}); "
                     "agree ~x% = queries with exactly the true distances; not in the ratios")
    return "\n".join(lines)
