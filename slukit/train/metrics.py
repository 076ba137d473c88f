"""Evaluation metrics of joint SLU, computed on label strings.

Gold labels that the model never saw in training simply count as errors.

- `intent_accuracy`: share of utterances with the right intent.
- `slot_f1`: seqeval's CoNLL span F1 (micro), over BIO tags.
- `sentence_accuracy`: share with the right intent and every tag right.

Example:
    >>> m = slu_metrics(["a", "b"], [["B-x", "O"], ["O"]], ["a", "a"], [["B-x", "O"], ["O"]])
    >>> m["intent_accuracy"], m["slot_f1"], m["sentence_accuracy"]
    (0.5, 1.0, 0.5)
"""

import collections


def slu_metrics(gold_intents, gold_tags, pred_intents, pred_tags):
    """The three headline metrics (fractions) plus slot precision and recall."""
    from seqeval.metrics import f1_score, precision_score, recall_score

    n = len(gold_intents)
    intent_ok = [g == p for g, p in zip(gold_intents, pred_intents)]
    tags_ok = [list(g) == list(p) for g, p in zip(gold_tags, pred_tags)]
    gold_tags = [list(t) for t in gold_tags]
    pred_tags = [list(t) for t in pred_tags]
    return {
        "intent_accuracy": sum(intent_ok) / n if n else 0.0,
        "slot_f1": float(f1_score(gold_tags, pred_tags, zero_division=0)) if n else 0.0,
        "slot_precision": float(precision_score(gold_tags, pred_tags, zero_division=0)) if n else 0.0,
        "slot_recall": float(recall_score(gold_tags, pred_tags, zero_division=0)) if n else 0.0,
        "sentence_accuracy": sum(a and b for a, b in zip(intent_ok, tags_ok)) / n if n else 0.0,
        "utterances": n,
    }


def slot_report(gold_tags, pred_tags):
    """Per slot type: precision, recall, F1 and support (seqeval)."""
    from seqeval.metrics import classification_report

    report = classification_report([list(t) for t in gold_tags], [list(t) for t in pred_tags],
                                   output_dict=True, zero_division=0)
    return {name: {"precision": float(r["precision"]), "recall": float(r["recall"]),
                   "f1": float(r["f1-score"]), "support": int(r["support"])}
            for name, r in report.items()}


def confused_intents(gold_intents, pred_intents, top=10):
    """The most frequent `(gold, predicted, count)` intent errors."""
    errors = collections.Counter((g, p) for g, p in zip(gold_intents, pred_intents) if g != p)
    return [{"gold": g, "predicted": p, "count": c} for (g, p), c in errors.most_common(top)]


def word_level_tags(tags):
    """BIO tags as MASSIVE's evaluation sees them: each word keeps only its slot
    type, and a run of words with the same type becomes one span again.

    MASSIVE's models predict one slot type per word (`Other` outside slots), and
    its scorer turns those back into BIO by merging equal neighbours before
    seqeval. Two adjacent slots of the same type therefore count as one span.

    Example:
        >>> word_level_tags(["B-date", "B-date", "O", "I-time"])
        ['B-date', 'I-date', 'O', 'B-time']
    """
    out, previous = [], None
    for tag in tags:
        kind = tag.partition("-")[2] if tag != "O" else None
        if kind is None:
            out.append("O")
        elif kind == previous:
            out.append("I-" + kind)
        else:
            out.append("B-" + kind)
        previous = kind
    return out


def massive_metrics(gold_intents, gold_tags, pred_intents, pred_tags):
    """Slot F1 and exact match computed as MASSIVE's published scorer does
    (word-level slot types merged into spans, then seqeval micro F1), next to
    `slu_metrics`'s BIO span F1 on the same predictions.

    Example:
        >>> m = massive_metrics(["a"], [["B-date", "B-date"]], ["a"], [["B-date", "I-date"]])
        >>> m["slot_f1"], m["exact_match"]
        (1.0, 1.0)
    """
    from seqeval.metrics import f1_score

    gold = [word_level_tags(t) for t in gold_tags]
    pred = [word_level_tags(t) for t in pred_tags]
    n = len(gold)
    exact = sum(gi == pi and g == p
                for gi, pi, g, p in zip(gold_intents, pred_intents, gold, pred))
    return {"slot_f1": float(f1_score(gold, pred, zero_division=0)) if n else 0.0,
            "exact_match": exact / n if n else 0.0}
