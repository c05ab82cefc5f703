"""Running the search benchmark: timing each engine, the run over sizes and datasets,
and its command line (see the package docstring for what is measured)."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time

import numpy as np

from .. import args as bench_args
from ..machine import loadavg_values, mem_available, peak_rss_bytes, release_memory, rss_bytes
from .checks import check_block, merge_knn, merge_range
from .data import FAMILY_MAX_FLIPS, FAMILY_SIZE, QUERY_FLIPS, make_data, make_queries
from .engines import FAISS_MH_KNN_NFLIP, engines_for, import_faiss
from .report import (
    fmt_ms,
    fmt_n,
    fmt_rate,
    header,
    hits_per_query,
    machine_info,
    op_label,
    shout,
    table,
)

MIN_SINGLE = 10           # single-query latency is over at least this many queries

DEFAULT_N = (1_000_000, 10_000_000)
QUICK_N = (100_000,)
MAX_N = 10**9            # 32 GB of hashes: beyond that a value is a typo
MAX_THREADS = 1024
MAX_BUDGET_S = 3600.0


def time_single(call, queries, max_n: int, budget: float):
    """Latency of one-query calls over queries[:n], n <= max_n, stopping once the time
    budget is spent (after at least MIN_SINGLE queries). Returns (seconds list, outputs)."""
    call(queries[:1])  # warm-up
    times, outs = [], []
    spent = 0.0
    for i in range(min(max_n, queries.shape[0])):
        t0 = time.perf_counter()
        out = call(queries[i:i + 1])
        dt = time.perf_counter() - t0
        times.append(dt)
        outs.append(out)
        spent += dt
        if spent > budget and i + 1 >= MIN_SINGLE:
            break
    return times, outs


def time_batch(call, queries, max_n: int, budget: float, start: int = 16):
    """Throughput of one call on queries[:n]: n grows from a probe of ``start`` queries to
    max_n or until one call takes about budget / 2. Returns (n, best seconds, runs, output)."""
    max_n = min(max_n, queries.shape[0])
    n = max(1, min(max_n, start))
    while True:
        t0 = time.perf_counter()
        out = call(queries[:n])
        dt = time.perf_counter() - t0
        if n >= max_n or dt >= budget / 4:
            break
        per_query = max(dt, 1e-7) / n
        n = min(max_n, max(2 * n, int(budget / 2 / per_query)))
    best, runs, spent = dt, 1, dt
    while runs < 3 and spent + best < budget / 2 and best < budget / 8:
        t0 = time.perf_counter()
        out = call(queries[:n])
        dt = time.perf_counter() - t0
        best, runs, spent = min(best, dt), runs + 1, spent + dt
    return n, best, runs, out


def measure_engine(engine, threads, ops, queries, limits, progress, tag):
    """All operations of one engine at one thread count; returns {op: record}."""
    records = {}
    for op in ops:
        kind, param = op
        call = (lambda q, r=param: engine.range(q, r)) if kind == "range" else \
            (lambda q, k=param: engine.knn(q, k))
        max_single, max_batch = limits["single"], limits["batch"]
        if engine.family == "numpy":
            max_single, max_batch = min(max_single, limits["numpy"]), min(max_batch,
                                                                          limits["numpy"])
        t_start = time.perf_counter()
        times, outs = time_single(call, queries, max_single, limits["budget"] / 2)
        # the first batch takes about budget / 4 at the single-query rate (16 at most)
        start = int(min(16, max(1, limits["budget"] / 4 / max(float(np.median(times)), 1e-9))))
        nb, best, runs, out = time_batch(call, queries, max_batch, limits["budget"], start)
        norm = engine.norm_range if kind == "range" else engine.norm_knn
        merge = merge_range if kind == "range" else merge_knn
        single = merge([norm(o) for o in outs])
        batch = norm(out)
        lat = np.asarray(times)
        records[op] = {
            "single": single, "batch": batch,
            "n_single": len(times), "n_batch": nb,
            "p50_s": float(np.median(lat)), "p99_s": float(np.percentile(lat, 99)),
            "mean_s": float(lat.mean()), "min_s": float(lat.min()),
            "batch_s": best, "batch_runs": runs, "qps": nb / best,
            "single_target": max_single, "batch_target": max_batch,
        }
        print(f"  [{tag} t={threads}] {engine.name:<14} {op_label(op):<11} "
              f"p50 {fmt_ms(records[op]['p50_s'])} ms  {fmt_rate(nb / best)} q/s "
              f"(n={len(times)}/{nb}, {time.perf_counter() - t_start:.1f} s)",
              file=progress, flush=True)
    return records


def run(ns=DEFAULT_N, datasets=("random", "clustered"), threads=(1, 2), radii=(16, 31, 52),
        ks=(1, 10), batch_queries=10_000, single_queries=200, numpy_queries=20,
        budget=10.0, seed=0, use_faiss=True, use_numpy=True, numpy_max_n=1_000_000,
        out=None, progress=None) -> dict:
    """Run the benchmark; prints tables to ``out`` and returns the report (JSON-able)."""
    out = sys.stdout if out is None else out
    progress = sys.stderr if progress is None else progress
    faiss = import_faiss() if use_faiss else None
    started = time.time()
    meta = machine_info(faiss)
    meta.update({
        "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "loadavg_start": loadavg_values(),
        "settings": {
            "n": list(ns), "datasets": list(datasets), "threads": list(threads),
            "radii": list(radii), "k": list(ks), "batch_queries": batch_queries,
            "single_queries": single_queries, "numpy_queries": numpy_queries,
            "budget_s": budget, "seed": seed, "numpy_max_n": numpy_max_n,
            "family_size": FAMILY_SIZE, "family_max_flips": FAMILY_MAX_FLIPS,
            "query_flips": list(QUERY_FLIPS), "faiss_mh_knn_nflip": FAISS_MH_KNN_NFLIP,
            "faiss_range_radius": "r + 1 (faiss keeps distance < radius)",
        },
    })
    limits = {"single": single_queries, "batch": batch_queries, "numpy": numpy_queries,
              "budget": budget}
    ops = [("range", r) for r in radii] + [("knn", k) for k in ks]
    report = {"meta": meta, "blocks": [], "builds": [], "results": [], "ratios": [],
              "disagreements": []}

    print(header(meta), file=out, flush=True)
    for n in ns:
        for kind in datasets:
            tag = f"{kind} N={fmt_n(n)}"
            block = {"n": n, "dataset": kind, "loadavg_start": loadavg_values()}
            t0 = time.perf_counter()
            data = make_data(kind, n, seed)
            queries = make_queries(data, max(batch_queries, single_queries), seed)
            ids = np.arange(n, dtype=np.int64)
            block["data_s"] = time.perf_counter() - t0
            print(f"[{tag}] data ready in {block['data_s']:.1f} s", file=progress, flush=True)
            results, builds = {}, {}
            engines = engines_for(faiss, n, numpy_max_n, use_numpy)
            exact = {(e.name, "knn"): e.exact_knn for e in engines}
            for engine in engines:
                ths = [t for t in threads if engine.max_threads is None
                       or t <= engine.max_threads]
                if not ths:
                    continue
                release_memory()
                need, avail = engine.estimate_bytes(n), mem_available()
                if avail is not None and need > 0.8 * avail:
                    note = (f"{engine.name} skipped: needs ~{need / 2**30:.2f} GiB, "
                            f"{avail / 2**30:.2f} GiB available")
                    print(f"  [{tag}] {note}", file=progress, flush=True)
                    block.setdefault("skipped", []).append(note)
                    continue
                groups = [[t] for t in ths] if engine.rebuild_per_thread else [ths]
                for group in groups:
                    release_memory()
                    rss0 = rss_bytes()
                    b = engine.build(data, ids, group[0])
                    release_memory()
                    rss1 = rss_bytes()
                    b["rss_delta"] = rss1 - rss0 if rss0 is not None and rss1 is not None \
                        else None
                    if "bytes" not in b:
                        b["bytes"], b["bytes_source"] = b["rss_delta"], "rss delta"
                    b["detail"] = engine.detail
                    builds[(engine.name, group[0])] = b
                    report["builds"].append({
                        "n": n, "dataset": kind, "engine": engine.name, "threads": group[0],
                        **b, "bytes_per_hash": b["bytes"] / n if b["bytes"] else None})
                    print(f"  [{tag}] built {engine.name} {engine.detail} in "
                          f"{b['add_s'] + (b['mih_s'] or 0):.2f} s", file=progress, flush=True)
                    for t in group:
                        engine.set_threads(t)
                        recs = measure_engine(engine, t, ops, queries, limits, progress, tag)
                        for op, rec in recs.items():
                            results[(engine.name, t, op)] = rec
                    engine.close()
                    release_memory()
            status, recall, problems = check_block(results, queries, data, ops, exact)
            if problems:
                shout(out, [f"DISAGREEMENT in {tag} (a bug in one of the engines):"]
                      + problems)
                report["disagreements"] += [f"{tag}: {p}" for p in problems]
            block["loadavg_end"] = loadavg_values()
            block["seconds"] = time.perf_counter() - t0
            block["peak_rss_bytes"] = peak_rss_bytes()
            report["blocks"].append(block)
            print(table(tag, n, engines, ops, threads, results, builds, status, limits,
                         report, kind, block), file=out, flush=True)
            for (name, t, op), rec in results.items():
                report["results"].append({
                    "n": n, "dataset": kind, "engine": name, "threads": t,
                    "op": op[0], "param": op[1], "agree": status.get((name, op)),
                    "exact_fraction": recall.get((name, op)),
                    **{k: v for k, v in rec.items() if k not in ("single", "batch")},
                    "hits_per_query": hits_per_query(rec) if op[0] == "range" else None})
            del data, queries, ids, results, engines
            release_memory()
    meta["loadavg_end"] = loadavg_values()
    meta["duration_s"] = time.time() - started
    meta["peak_rss_bytes"] = peak_rss_bytes()
    if report["disagreements"]:
        shout(out, [f"{len(report['disagreements'])} DISAGREEMENTS between engines; "
                    "see above and 'disagreements' in the JSON"])
    else:
        print("All engines agree exactly on every configuration (range: same (query, id, "
              "distance) sets; k-NN: same distances; every hit checked against the data).",
              file=out, flush=True)
    return report


def _names(text: str) -> tuple:
    values = tuple(v.strip() for v in text.split(",") if v.strip())
    bad = [v for v in values if v not in ("random", "clustered")]
    if bad or not values:
        raise argparse.ArgumentTypeError(f"datasets are random and clustered, got {text!r}")
    return values


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m tidehash.bench search",
        description="Exact Hamming search over 256-bit hashes: tidehash (flat, MIH, auto) vs "
                    "faiss (IndexBinaryFlat, IndexBinaryMultiHash; if installed) vs NumPy. "
                    "Prints tables and writes every figure to a JSON file.")
    p.add_argument("--n", type=bench_args.int_list(1, MAX_N), default=None,
                   help="list sizes, comma-separated (default 1000000,10000000; "
                        "--quick: 100000)")
    p.add_argument("--quick", action="store_true",
                   help="small smoke run for CI (N=100k, few queries; under a minute)")
    p.add_argument("--threads", type=bench_args.int_list(1, MAX_THREADS), default=(1, 2),
                   help="thread counts, comma-separated (default 1,2)")
    p.add_argument("--datasets", type=_names, default=("random", "clustered"),
                   help="random and/or clustered (default both)")
    p.add_argument("--radii", type=bench_args.int_list(0, 256), default=(16, 31, 52),
                   help="default 16,31,52")
    p.add_argument("--k", type=bench_args.int_list(1, MAX_N), default=(1, 10),
                   help="k-NN sizes (default 1,10)")
    p.add_argument("--queries", type=bench_args.int_in(1, MAX_N), default=None,
                   help="batch size for throughput (default 10000; --quick 500)")
    p.add_argument("--single", type=bench_args.int_in(1, MAX_N), default=None,
                   help="queries timed one at a time (default 200; --quick 30)")
    p.add_argument("--budget", type=bench_args.positive_float(MAX_BUDGET_S), default=None,
                   help="seconds per measurement before a slow configuration gets fewer "
                        "queries (default 10; --quick 0.5)")
    p.add_argument("--seed", type=bench_args.seed, default=0)
    p.add_argument("--no-faiss", action="store_true", help="skip faiss even if installed")
    p.add_argument("--no-numpy", action="store_true", help="skip the NumPy baseline")
    p.add_argument("--numpy-max-n", type=bench_args.int_in(0, MAX_N), default=1_000_000,
                   help="largest N for the NumPy baseline (default 1000000)")
    p.add_argument("--json", default="bench_search.json", metavar="OUT",
                   help="write the report here (default bench_search.json; '-' for stdout)")
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    quick = args.quick
    ns = args.n or (QUICK_N if quick else DEFAULT_N)
    if min(ns) < max(args.k):
        parser().error("every N must be at least the largest k")
    batch = args.queries if args.queries is not None else (500 if quick else 10_000)
    single = args.single if args.single is not None else (30 if quick else 200)
    budget = args.budget if args.budget is not None else (0.5 if quick else 10.0)
    report = run(ns=ns, datasets=args.datasets, threads=args.threads, radii=args.radii,
                 ks=args.k, batch_queries=max(1, batch), single_queries=max(1, single),
                 numpy_queries=10 if quick else 20, budget=budget, seed=args.seed,
                 use_faiss=not args.no_faiss, use_numpy=not args.no_numpy,
                 numpy_max_n=args.numpy_max_n)
    report["meta"]["argv"] = list(sys.argv[1:] if argv is None else argv)
    report["meta"]["quick"] = quick
    text = json.dumps(report, indent=1, default=_json_default)
    if args.json == "-":
        print(text)
    elif args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            f.write(text + "\n")
        print(f"JSON report: {os.path.abspath(args.json)}", file=sys.stderr)
    return 1 if report["disagreements"] else 0


def _json_default(o):
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


if __name__ == "__main__":
    sys.exit(main())
