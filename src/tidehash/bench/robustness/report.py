"""The terminal report of the robustness benchmark: per-transform table, impostors,
threshold guidance, quality filter."""

from __future__ import annotations

from .analysis import target_key
from .run import HASHERS


def _pct(x) -> str:
    return "  -  " if x is None or x != x else f"{100 * x:5.1f}"


def _num(x) -> str:
    return "  -" if x is None else f"{x:3.0f}"


def _rate(x) -> str:
    return "-" if x is None else f"{x:.2g}"


def primary_target(figures: dict) -> float:
    """The smallest target FPR the pdq threshold can be shown for (else the largest)."""
    ths = figures["thresholds"]["pdq"]
    reachable = [t["target_fpr"] for t in ths if t["threshold"] is not None]
    return min(reachable) if reachable else max(t["target_fpr"] for t in ths)


def _threshold(figures: dict, hasher: str, target: float):
    for th in figures["thresholds"][hasher]:
        if th["target_fpr"] == target:
            return th["threshold"]
    return None


def format_report(figures: dict) -> str:
    out: list[str] = []
    w = out.append
    meta = figures["meta"]
    hashers = [h for h in HASHERS if h in figures["thresholds"]]
    target = primary_target(figures)
    tkey = target_key(target)
    imp = figures["impostor_pairs"]
    w("tidehash robustness benchmark: which altered copies are found, at which threshold")
    w(f"Photos     : {meta['sample']}")
    w(f"Copies     : {meta['copies']} altered copies ({meta['variants']} transform x strength, "
      f"{meta['transforms']} transforms); seed {meta['seed']}")
    w(f"Impostors  : {imp['pairs']:,} unrelated pairs ({imp['source']}; "
      f"{imp['independent_photo_pairs']:,} distinct pairs of scenes)")
    w(f"Bounds     : one-sided {100 * imp['confidence']:.0f} % Clopper-Pearson upper bounds on "
      "the false-positive rate, assuming independent pairs (they are not: optimistic)")
    w(f"Machine    : {meta['machine']['cpu_model']}, {meta['workers']} worker processes, "
      f"{meta['runtime_seconds']:.1f} s; {meta['versions_line']}")
    w("")
    thr = {h: _threshold(figures, h, target) for h in hashers}
    w(f"1. Distance to the original (bits) and recall: r31 = found at <= 31 bits, rT = found at "
      f"the threshold T that meets FPR <= {target:g} ({100 * imp['confidence']:.0f} % bound): "
      + ", ".join(f"{h} T={thr[h] if thr[h] is not None else '-'}" for h in hashers))
    head = f"{'transform':<17}{'strength':>10} | {'pdq med p90 max  r31   rT':<27}"
    head += " | pdq-dih  r31   rT | phash med max   rT | ph256 med max   rT"
    w(head)
    w("-" * len(head))
    image_rows = [r for r in figures["results"] if r["hasher"] in HASHERS]
    rows = {(r["hasher"], r["transform"], str(r["strength"])): r for r in image_rows}
    for key in dict.fromkeys((r["transform"], str(r["strength"])) for r in image_rows):
        def g(h, key=key):
            return rows.get((h,) + key)
        p, pd, ph, p2 = g("pdq"), g("pdq-dihedral"), g("phash"), g("phash-256")
        line = f"{key[0]:<17}{key[1]:>10} |"
        if p:
            d = p["distance"]
            line += (f"  {_num(d['median'])} {_num(d['p90'])} {_num(d['max'])} "
                     f"{_pct(p['recall_at']['31'])} {_pct(p['recall_at_fpr'][tkey])} |")
        if pd:
            line += f"      {_pct(pd['recall_at']['31'])} {_pct(pd['recall_at_fpr'][tkey])} |"
        if ph:
            d = ph["distance"]
            line += (f"     {_num(d['median'])} {_num(d['max'])} "
                     f"{_pct(ph['recall_at_fpr'][tkey])} |")
        if p2:
            d = p2["distance"]
            line += (f"     {_num(d['median'])} {_num(d['max'])} "
                     f"{_pct(p2['recall_at_fpr'][tkey])}")
        w(line)
    w("")
    w("2. Unrelated pairs: distance, and false positives at fixed thresholds "
      "(count / pairs, upper bound)")
    for h in hashers:
        im = figures["impostors"][h]
        d = im["distance"]
        fixed = ", ".join(
            f"<={t}: {f['false_positives']} ({_rate(f['upper_bound'])})"
            for t, f in im["fpr_at"].items() if int(t) in (31, 47, 63, 70, 8, 12, 16))
        w(f"   {h:<13} {im['pairs']:>8,} pairs, min {d['min']}, "
          f"median {d['median']:.0f}; {fixed}")
        near = "; ".join(f"{c['listed']} ~ {c['query']}"
                         + ("" if c["transform"] == "original" else
                            f" ({c['transform']} {c['strength']})") + f" {c['distance']}"
                         for c in im["closest"][:3])
        w(f"   {'':<13} closest: {near}")
    w("")
    w(format_guidance(figures))
    if figures.get("quality_filter"):
        w("")
        w("4. The quality filter (drop a pair when either PDQ hash has quality < 50; a weak "
          "copy then counts as not found)")
        for h, q in figures["quality_filter"].items():
            below = ", ".join(q["photos_below"]) or "none"
            w(f"   {h:<13} originals below 50: {below}; copies kept "
              f"{q['genuine_pairs_kept']}/{q['genuine_pairs']}, unrelated pairs kept "
              f"{q['impostor_pairs_kept']:,}/{q['impostor_pairs']:,}")
            r = q["recall_at"]["31"]
            f = q["fpr_at"]["31"]
            w(f"   {'':<13} at 31: recall {_pct(r['all']).strip()} % -> "
              f"{_pct(r['filtered']).strip()} %, false positives "
              f"{f['all']['false_positives']} -> {f['filtered']['false_positives']}; "
              "thresholds for the targets after filtering: "
              + ", ".join(f"{t['target_fpr']:g}: {t['threshold']}"
                          for t in q["thresholds_filtered"]))
    if figures.get("video"):
        w("")
        w(format_video(figures["video"]))
    return "\n".join(out)


def format_video(v: dict) -> str:
    out = []
    w = out.append
    names = ", ".join(f"{x['label']} ({x['frames']} frames, {x['fps']:g} fps)" for x in v["videos"])
    w(f"5. vPDQ on videos ({len(v['videos'])}: {names}; the first {v['seconds_used']:g} s): a copy "
      "matches when >= 80 % of its frames are within the frame threshold of the original's")
    w(f"   {'transform':<12}{'strength':>10}  q% median  min   found at  31    47    63    70")
    for r in v["results"]:
        q = r["query_match_percent"] or {}
        rec = r["recall_at"]
        w(f"   {r['transform']:<12}{str(r['strength']):>10}  {q.get('median', 0):9.0f} "
          f"{q.get('min', 0):4.0f}           " + " ".join(_pct(rec[t]) for t in rec))
    imp = v["impostors"]
    w(f"   unrelated: {imp['pairs']} pairs ({imp['independent_video_pairs']} distinct pairs of "
      f"videos), false matches at 31/47/63/70: "
      + ", ".join(str(k) for k in imp["false_matches_at"].values())
      + f"; the most frames matched at 31: {imp['max_query_match_percent_at_31']:.0f} %")
    return "\n".join(out)


def format_guidance(figures: dict) -> str:
    """For each target false-positive rate, the threshold and the recall per transform
    family it buys."""
    hashers = [h for h in HASHERS if h in figures["guidance"]]
    families = list(next(iter(figures["families"].values())))
    out = []
    w = out.append
    conf = 100 * figures["impostor_pairs"]["confidence"]
    w(f"3. Threshold guidance: for a target false-positive rate (met with {conf:.0f} % "
      "confidence), the threshold and the recall per family (%)")
    head = f"   {'hasher':<13}{'FPR <=':>7}{'T':>5}{'FP':>4}{'bound':>9} {'all':>5}"
    head += "".join(f" {f[:8]:>8}" for f in families)
    w(head)
    for h in hashers:
        for g in figures["guidance"][h]:
            if g["threshold"] is None:
                w(f"   {h:<13}{g['target_fpr']:>7g}    -  needs >= {g['pairs_needed']:,} "
                  f"unrelated pairs (have {g['pairs']:,}); observed threshold "
                  f"{g['observed_threshold']}")
                continue
            line = (f"   {h:<13}{g['target_fpr']:>7g}{g['threshold']:>5}"
                    f"{g['false_positives']:>4}{g['upper_bound']:>9.2g} {_pct(g['recall_all'])}")
            line += "".join(f"    {_pct(g['recall_by_family'].get(f))}" for f in families)
            w(line)
    return "\n".join(out)
