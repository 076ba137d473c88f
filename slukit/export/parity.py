"""Parity of an exported `.tflite` with the Keras model it came from.

`check_parity` runs a sample of utterances (`parity_sample`: the model's own data,
else random words; `joined_pairs`: two utterances joined, for long inputs;
`past_longest`: utterances joined until longer than the longest signature, so the
windows are checked too) through
both the Keras model and the light runtime, as a device would, and compares
intents, tags and probabilities; an fp32 export that differs by more than
`FP32_TOLERANCE` fails.
"""

import random
import time

import numpy as np


#: fp32 exports whose probabilities differ from Keras by more than this fail.
FP32_TOLERANCE = 1e-3


def parity_sample(bundle, texts=None, limit=200, seed=0):
    """Token lists to compare on: `texts`, else the recipe's test (or valid, train) split,
    else random vocabulary words. Returns `(token lists, source)`."""
    if texts is not None:
        return [[s[0] for s in bundle.preprocessor.tokenize(t)] for t in texts], "given texts"
    try:
        from itertools import islice

        from slukit.data.load import load_splits

        splits = load_splits(bundle.recipe, stream=True)  # a large train file is not loaded
        for split in ("test", "valid", "train"):
            if splits.get(split):
                return [list(ex.tokens) for ex in islice(splits[split], limit)], f"{split} split"
    except Exception:  # data moved or unreadable: fall back to random words
        pass
    pre = bundle.preprocessor
    table = pre.words.tokens[2:] if pre.words is not None else pre.chars.tokens[2:]
    rng = random.Random(seed)
    return [[rng.choice(table) for _ in range(rng.randint(1, 12))] for _ in range(limit)], \
        "random vocabulary words"


def joined_pairs(token_lists, limit=100):
    """Long inputs for the parity check: consecutive utterances joined in pairs.

    Example:
        >>> joined_pairs([["a"], ["b", "c"], ["d"]])
        [['a', 'b', 'c']]
    """
    pairs = [a + b for a, b in zip(token_lists[0::2], token_lists[1::2])]
    return pairs[:limit]


def past_longest(token_lists, longest, limit=20):
    """Inputs longer than the longest signature (`longest` tokens), which the light runtime
    runs in windows: consecutive utterances joined until each is longer than it.

    Example:
        >>> past_longest([["a", "b"], ["c"], ["d", "e"], ["f"], ["g"]], 2)
        [['a', 'b', 'c'], ['d', 'e', 'f']]
    """
    joined, current = [], []
    for tokens in token_lists:
        current = current + list(tokens)
        if len(current) > longest:
            joined.append(current)
            current = []
            if len(joined) == limit:
                break
    return joined


def check_parity(bundle, lite, token_lists):
    """Keras (the whole utterance in one pass) vs the .tflite (one signature, or windows of
    the longest one for an utterance longer than it) on each token list.

    Agreements and probability differences are those of the utterances that fit a
    signature; the windowed ones (`windowed`) are counted and their agreement is reported
    apart (`windowed_agreement`), since a window sees only part of the utterance.
    """
    from slukit.data.batching import EncodedData
    from slukit.data.example import Example
    from slukit.train.inference import predict_probs

    pre = bundle.preprocessor
    token_lists = [list(t) for t in token_lists]
    if not token_lists:
        return {"utterances": 0, "windowed": 0}
    data = EncodedData(pre, [Example(t, [], "") for t in token_lists], labels=False)
    ref_intents, ref_tags = predict_probs(bundle.model, data)
    counts = {False: [0, 0, 0, 0], True: [0, 0, 0, 0]}  # windowed -> n, intent, tags, decoded
    intent_diffs, slot_diffs = [0.0], [0.0]
    times = []
    for tokens, encoded, ri, rt in zip(token_lists, data.inputs, ref_intents, ref_tags):
        windowed = len(tokens) > lite.max_length
        start = time.perf_counter()
        li, lt = lite.run_encoded(encoded)
        if not windowed:
            times.append(time.perf_counter() - start)
        c = counts[windowed]
        c[0] += 1
        c[1] += int(np.argmax(li) == np.argmax(ri))
        if len(rt):
            c[2] += int(np.array_equal(np.argmax(lt[:, 1:], -1), np.argmax(rt[:, 1:], -1)))
            c[3] += int(pre.decode_tags(lt) == pre.decode_tags(rt))
        else:
            c[2] += 1
            c[3] += 1
        if not windowed:
            intent_diffs.append(float(np.max(np.abs(li - ri))))  # NaN propagates
            if len(rt):
                slot_diffs.append(float(np.max(np.abs(lt - rt))))
    fit = counts[False]
    report = {
        "utterances": len(token_lists),
        "windowed": counts[True][0],
        "longest_signature": lite.max_length,
        # agreement where the .tflite sees the whole utterance, as Keras does
        "intent_agreement": fit[1] / fit[0] if fit[0] else None,
        "tag_agreement": fit[2] / fit[0] if fit[0] else None,
        "decoded_tag_agreement": fit[3] / fit[0] if fit[0] else None,
        "max_abs_diff_intent": float(np.max(intent_diffs)),
        "max_abs_diff_slots": float(np.max(slot_diffs)),
    }
    if counts[True][0]:
        w = counts[True]
        report["windowed_agreement"] = {"utterances": w[0], "intent": w[1] / w[0],
                                        "tags": w[2] / w[0], "decoded_tags": w[3] / w[0]}
    if times:
        report["median_ms_per_utterance"] = round(1e3 * float(np.median(times)), 4)
    return report
