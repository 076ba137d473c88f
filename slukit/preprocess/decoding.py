"""From per-token tag scores to tags and slots: BIO rules, the Viterbi path, slot spans.

`SLUPreprocessor.decoder` builds the scores (`bio_transitions` under
`slot_decoding: bio`, plus a CRF's learned transitions) that `viterbi` decodes;
`slots_from_tags` reads the slots out of a tag sequence. Python, the SavedModel
and the light runtime decode alike.
"""

import numpy as np



def slots_from_tags(text, spans, tags, confidences=None):
    """Groups BIO tags into slots with their text and character offsets.

    An `I-x` that does not continue an `x` slot starts a new one (as seqeval does).
    With `confidences` (one per token), each slot gets a `confidence`: the
    lowest of its tokens'.

    Example:
        >>> from slukit.preprocess.preprocessor import whitespace_tokens
        >>> t = "fly to new york"
        >>> slots_from_tags(t, whitespace_tokens(t), ["O", "O", "B-city", "I-city"])
        [{'slot': 'city', 'value': 'new york', 'start': 7, 'end': 15}]
        >>> slots_from_tags(t, whitespace_tokens(t), ["O", "O", "B-city", "I-city"],
        ...                 [0.9, 0.9, 0.8, 0.6])[0]["confidence"]
        0.6
    """
    slots, current = [], None
    for i, ((token, start, end), tag) in enumerate(zip(spans, tags)):
        conf = confidences[i] if confidences else None
        prefix, _, kind = tag.partition("-")
        if prefix == "I" and current is not None and current["slot"] == kind:
            current["end"] = end
            if conf is not None:
                current["confidence"] = min(current["confidence"], conf)
            continue
        if current is not None:
            slots.append(current)
            current = None
        if prefix in ("B", "I") and kind:
            current = {"slot": kind, "start": start, "end": end, "confidence": conf}
    if current is not None:
        slots.append(current)
    out = []
    for s in slots:
        slot = {"slot": s["slot"], "value": text[s["start"]:s["end"]],
                "start": s["start"], "end": s["end"]}
        if s["confidence"] is not None:
            slot["confidence"] = round(float(s["confidence"]), 6)
        out.append(slot)
    return out


def bio_transitions(tags):
    """Allowed-transition masks for BIO tags: `(start [K], step [K, K])`, bool.

    `I-x` may only start after `B-x` or `I-x`, and never at the first token.

    Example:
        >>> start, step = bio_transitions(["O", "B-a", "I-a"])
        >>> start.tolist(), step[:, 2].tolist()
        ([True, True, False], [False, True, True])
    """
    kinds = [t.partition("-") for t in tags]
    start = np.array([p != "I" for p, _, _ in kinds])
    step = np.ones((len(tags), len(tags)), dtype=bool)
    for j, (pj, _, kj) in enumerate(kinds):
        if pj == "I":
            step[:, j] = [pi in ("B", "I") and ki == kj for pi, _, ki in kinds]
    return start, step


def viterbi(log_probs, start, step, end=None):
    """The best path through `[T, K]` log probabilities plus transition scores.

    Args:
        log_probs: `[T, K]` per-token log probabilities.
        start, step, end: `[K]`, `[K, K]` (from, to) and `[K]` scores added
            for the first tag, each move and the last tag; boolean masks (as
            from `bio_transitions`) mean 0 where True and `NEG_SCORE` where False.

    When every score is at most 0 and the per-token argmax scores 0 (an
    allowed path under pure constraints), it is the best path and is returned
    without the dynamic programme: the common case for BIO decoding, which
    keeps on-device decoding cheap.

        >>> import numpy as np
        >>> lp = np.log([[0.6, 0.4], [0.7, 0.3]])   # greedy [0, 0]; the move 0 -> 0 costs 5
        >>> viterbi(lp, np.zeros(2), np.array([[-5.0, 0.0], [0.0, 0.0]]))
        [1, 0]
    """
    start, step = _scores(start), _scores(step)
    end = np.zeros(log_probs.shape[-1]) if end is None else _scores(end)
    greedy = np.argmax(log_probs, axis=-1)
    if max(start.max(), step.max(), end.max()) <= 0:
        extra = start[greedy[0]] + step[greedy[:-1], greedy[1:]].sum() + end[greedy[-1]]
        if extra == 0:
            return greedy.tolist()
    score = start + log_probs[0]
    back = np.zeros(log_probs.shape, dtype=np.int64)
    for t in range(1, len(log_probs)):
        total = score[:, None] + step
        back[t] = np.argmax(total, axis=0)
        score = total[back[t], np.arange(total.shape[1])] + log_probs[t]
    path = [int(np.argmax(score + end))]
    for t in range(len(log_probs) - 1, 0, -1):
        path.append(int(back[t, path[-1]]))
    return path[::-1]


#: The score of a move the BIO rule forbids (finite, so scores can be summed in float64).
NEG_SCORE = -1e9


def _scores(x):
    x = np.asarray(x)
    return np.where(x, 0.0, NEG_SCORE) if x.dtype == bool else x.astype(np.float64)
