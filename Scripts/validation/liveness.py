"""Liveness ground truth of the validation suite (the checkpoints where a run is dead), shared by make_runs.py (PyTorch) and
make_keras_runs.py (Keras): whether a checkpoint's model still uses its input, from its eval-mode logits on the
run's held-out images — independent of saliency.

A checkpoint is *dead* when val_acc is at most DEAD_MAX_ACC (5 classes: chance 0.2) and either one class takes at
least DEAD_TOP_SHARE of the held-out predictions or the output hardly depends on the input: pred_spread (the mean
total-variation distance between an image's softmax and the mean softmax; 0 when the output does not depend on the
input) at most DEAD_MAX_SPREAD (the second catches a collapsed output whose top two classes are tied, so that the
argmax still flips between them). Also recorded: logit_std (the largest over classes of the logits' standard
deviation across images). NumPy only.
"""

import numpy as np

DEAD_TOP_SHARE = 0.95
DEAD_MAX_ACC = 0.30
DEAD_MAX_SPREAD = 0.01


def liveness_of(logits, labels):
    """Per-checkpoint liveness facts from eval-mode logits [N, K] on held-out images (numpy): val_acc, the share
    and index of the most predicted class, pred_spread = mean over images of the total-variation distance between
    the image's softmax and the mean softmax (0 when the output does not depend on the input), logit_std = the
    largest over classes of the logits' standard deviation across images, finite, dead."""
    z = np.asarray(logits, dtype=np.float64)
    finite = bool(np.isfinite(z).all())
    if not finite:
        return {"val_acc": None, "top_share": None, "top_class": None, "pred_spread": None, "logit_std": None,
                "finite": False, "dead": None}
    pred = z.argmax(1)
    counts = np.bincount(pred, minlength=z.shape[1])
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    spread = float(0.5 * np.abs(p - p.mean(0)).sum(1).mean())
    acc = float((pred == np.asarray(labels)).mean())
    top = float(counts.max() / len(pred))
    return {"val_acc": round(acc, 4), "top_share": round(top, 4), "top_class": int(counts.argmax()),
            "pred_spread": round(spread, 6), "logit_std": round(float(z.std(0).max()), 6), "finite": True,
            "dead": bool(acc <= DEAD_MAX_ACC and (top >= DEAD_TOP_SHARE or spread <= DEAD_MAX_SPREAD))}


def dead_spans(dead):
    """(dies_at, recovers_at, spans) from per-checkpoint dead flags (1-based): spans are [first, last] runs of dead
    checkpoints; dies_at the first span's first checkpoint; recovers_at the checkpoint after the first span when
    the run is alive again from there to its end (else None)."""
    spans, start = [], None
    for i, d in enumerate(dead + [False], 1):
        if d and start is None:
            start = i
        elif not d and start is not None:
            spans.append([start, i - 1])
            start = None
    dies = spans[0][0] if spans else None
    recovers = None
    if spans and spans[0][1] < len(dead) and len(spans) == 1:
        recovers = spans[0][1] + 1
    return dies, recovers, spans
