"""From the distance matrices to every figure the report and the JSON hold.

Genuine pairs: each photo's listed hash against each altered copy of that photo.
Impostor pairs: each photo's listed hash against every file that is not a copy of it.
With ``--distractors`` those are the distractor files (against every listed photo);
otherwise they are the *other* photos and every altered copy of them: a copy of photo
B is as unrelated to photo A as B is, and it is what an upload of B would look like.
Copies whose pixels are exactly their original's (``identity``, ``format bmp``) are
left out there, as their pairs would only repeat the original's. The pairs are not
independent (one photo appears in many), so the confidence bounds, which assume they
are, are optimistic: the sample has only ``independent_photo_pairs`` distinct pairs
of scenes.
"""

from __future__ import annotations

import numpy as np

from . import metrics
from . import transforms as tf
from .run import HASHERS, MIN_QUALITY, Corpus

#: thresholds (bits) every result gives recall at: Meta's 31 and the wider ones
#: platforms use; for 64-bit pHash the usual small ones too
THRESHOLDS = (31, 47, 63, 70)
EXTRA_THRESHOLDS = {"phash": (4, 8, 12, 16)}
FPR_TARGETS = (1e-2, 1e-3, 1e-4)


def target_key(t) -> str:
    return f"{t:g}" if isinstance(t, float) else str(t)


def thresholds_of(hasher: str) -> tuple[int, ...]:
    return tuple(sorted(set(EXTRA_THRESHOLDS.get(hasher, ()) + THRESHOLDS)))


def impostor_mask(corpus: Corpus) -> np.ndarray:
    """(queries, photos) bool: which pairs are impostor pairs."""
    n = len(corpus.listed)
    photo = np.array([q.photo for q in corpus.queries])
    if corpus.distractor_files:
        usable = photo == -1
        return np.repeat(usable[:, None], n, axis=1)
    lossless = np.array([q.transform in tf.TRANSFORMS
                         and q.strength in tf.TRANSFORMS[q.transform].lossless
                         for q in corpus.queries])
    mask = (photo[:, None] != np.arange(n)[None, :]) & (photo[:, None] >= 0)
    mask &= ~lossless[:, None]
    return mask


def quality_mask(corpus: Corpus) -> np.ndarray:
    """(queries, photos) bool: both hashes of the pair have PDQ quality >= MIN_QUALITY."""
    q = np.array([x.hashes.quality for x in corpus.queries]) >= MIN_QUALITY
    listed = np.array([h.quality for h in corpus.listed]) >= MIN_QUALITY
    return q[:, None] & listed[None, :]


def _closest(corpus: Corpus, matrix: np.ndarray, imp: np.ndarray, n: int = 8) -> list[dict]:
    """The n closest impostor pairs: what sets the threshold on a small sample."""
    rows, cols = np.nonzero(imp)
    d = matrix[rows, cols]
    order = np.lexsort((cols, rows, d))[:n]
    out = []
    for k in order:
        q = corpus.queries[rows[k]]
        query = (corpus.distractor_files[rows[k] - (len(corpus.queries)
                                                     - len(corpus.distractor_files))]
                 if q.photo < 0 else corpus.photos[q.photo].name)
        out.append({"distance": int(d[k]), "listed": corpus.photos[cols[k]].name,
                    "query": query, "transform": q.transform, "strength": q.strength})
    return out


def _recalls(d: np.ndarray, hasher: str) -> dict:
    return {str(t): metrics.recall_at(d, t) for t in thresholds_of(hasher)}


def analyse(corpus: Corpus, chosen, matrices: dict[str, np.ndarray],
            targets=FPR_TARGETS, confidence: float = metrics.CONFIDENCE) -> dict:
    n_photos = len(corpus.listed)
    imp = impostor_mask(corpus)
    good = quality_mask(corpus)
    q_photo = np.array([q.photo for q in corpus.queries])
    owner_cols = np.clip(q_photo, 0, None)
    key_of = [(q.transform, q.strength) for q in corpus.queries]
    out = {"results": [], "impostors": {}, "thresholds": {}, "families": {}, "guidance": {},
           "quality_filter": {}}
    for hasher, matrix in matrices.items():
        bits = HASHERS[hasher][0]
        uses_quality = hasher.startswith("pdq")
        impostors = matrix[imp]
        thresholds = [metrics.threshold_for_fpr(impostors, t, bits, confidence)
                      for t in targets]
        out["thresholds"][hasher] = thresholds
        genuine_all = matrix[np.arange(len(corpus.queries)), owner_cols]
        genuine_ok = good[np.arange(len(corpus.queries)), owner_cols]
        by_variant: dict = {}
        for qi, key in enumerate(key_of):
            if q_photo[qi] >= 0 and key[0] in tf.TRANSFORMS:
                by_variant.setdefault(key, []).append(qi)

        def at_targets(d: np.ndarray, thresholds=thresholds) -> dict:
            return {target_key(th["target_fpr"]): (None if th["threshold"] is None else
                                             metrics.recall_at(d, th["threshold"]))
                    for th in thresholds}

        for name, strength in chosen:
            rows = np.array(by_variant.get((name, strength), []), dtype=np.int64)
            d = genuine_all[rows]
            row = {"hasher": hasher, "transform": name, "family": tf.TRANSFORMS[name].family,
                   "strength": strength, "unit": tf.TRANSFORMS[name].unit,
                   "pairs": int(d.size), "distance": metrics.summary(d),
                   "recall_at": _recalls(d, hasher), "recall_at_fpr": at_targets(d)}
            if uses_quality:
                kept = genuine_ok[rows]
                # a weak pair left out is a copy not found
                row["quality_filter"] = {
                    "min_quality": MIN_QUALITY, "pairs_kept": int(kept.sum()),
                    "recall_at": {str(t): float(np.mean(kept & (d <= t))) if d.size else None
                                  for t in thresholds_of(hasher)}}
            out["results"].append(row)

        families = {}
        for family in tf.FAMILIES:
            rows = [qi for key, qis in by_variant.items() if key[0] != "identity"
                    and tf.TRANSFORMS[key[0]].family == family for qi in qis]
            if not rows:
                continue
            d = genuine_all[np.array(rows, dtype=np.int64)]
            families[family] = {"pairs": int(d.size), "recall_at": _recalls(d, hasher),
                                "recall_at_fpr": at_targets(d),
                                "curve": [round(float(x), 6)
                                          for x in metrics.recall_curve(d, bits)]}
        out["families"][hasher] = families
        all_rows = [qi for key, qis in by_variant.items() if key[0] != "identity" for qi in qis]
        all_genuine = genuine_all[np.array(all_rows, dtype=np.int64)]
        out["guidance"][hasher] = [
            {"target_fpr": th["target_fpr"], "threshold": th["threshold"],
             "observed_threshold": th["observed_threshold"],
             "false_positives": th.get("false_positives"), "pairs": th["pairs"],
             "upper_bound": th.get("upper_bound"), "pairs_needed": th["pairs_needed"],
             "recall_all": (None if th["threshold"] is None
                            else metrics.recall_at(all_genuine, th["threshold"])),
             "recall_by_family": {f: v["recall_at_fpr"][target_key(th["target_fpr"])]
                                  for f, v in families.items()}}
            for th in thresholds]
        fixed = sorted(set(thresholds_of(hasher)) | {th["threshold"] for th in thresholds
                                                    if th["threshold"] is not None})
        out["impostors"][hasher] = {
            "pairs": int(impostors.size),
            "distance": metrics.summary(impostors),
            "histogram": np.bincount(impostors, minlength=bits + 1).tolist(),
            "genuine_histogram": np.bincount(all_genuine, minlength=bits + 1).tolist(),
            "fpr_at": {str(t): metrics.fpr_figures(impostors, t, confidence) for t in fixed},
            "closest": _closest(corpus, matrix, imp),
        }
        if uses_quality:
            imp_ok = matrix[imp & good]
            th_ok = [metrics.threshold_for_fpr(imp_ok, t, bits, confidence) for t in targets]
            kept = genuine_ok[np.array(all_rows, dtype=np.int64)]
            out["quality_filter"][hasher] = {
                "min_quality": MIN_QUALITY,
                "photos_below": [corpus.photos[i].name for i, h in enumerate(corpus.listed)
                                 if h.quality < MIN_QUALITY],
                "genuine_pairs": int(kept.size), "genuine_pairs_kept": int(kept.sum()),
                "impostor_pairs": int(impostors.size), "impostor_pairs_kept": int(imp_ok.size),
                "recall_at": {str(t): {"all": metrics.recall_at(all_genuine, t),
                                       "filtered": (float(np.mean(kept & (all_genuine <= t)))
                                                    if kept.size else None)}
                              for t in thresholds_of(hasher)},
                "fpr_at": {str(t): {"all": metrics.fpr_figures(impostors, t, confidence),
                                    "filtered": metrics.fpr_figures(imp_ok, t, confidence)}
                           for t in fixed},
                "thresholds_filtered": th_ok,
            }
    photos_in_pairs = len({int(p) for p in q_photo[imp.any(axis=1)]})
    out["impostor_pairs"] = {
        "definition": " ".join(__doc__.split("\n\n")[1].split()).replace("``", ""),
        "source": "distractor files" if corpus.distractor_files
                  else "the other photos and their altered copies",
        "pairs": int(imp.sum()),
        "independent_photo_pairs": (n_photos * len(corpus.distractor_files)
                                    if corpus.distractor_files
                                    else photos_in_pairs * (photos_in_pairs - 1) // 2),
        "confidence": confidence,
    }
    return out
