"""A bilingual word dictionary from parallel labelled utterances.

MultiATIS++ and MASSIVE translate the same utterances into many languages and
keep their `id`, so an English and a German file can be paired utterance by
utterance (`pair_by_id`). From those pairs `build_dictionary` learns word
translations, in the "source target" format `slukit embeddings align
--dictionary` reads (`write_dictionary`, `slukit.preprocess.vectors.read_dictionary`).

The method (counts are over utterance pairs; words are lowercased by default,
tokens without a letter or digit are ignored, each word counts once per utterance):

1. Co-occurrence. `c(s)` and `c(t)` count the pairs whose source / target side
   holds `s` / `t`, `c(s,t)` the pairs holding both. Only word pairs with
   `c(s,t) >= min_count` are candidates; their Dice coefficient is
   `D = 2 c(s,t) / (c(s) + c(t))`.
2. Slot links. For each slot type that occurs exactly once on each side of a
   pair, the two span texts are translations: spans of equal length are linked
   word by word (position i to position i; one-word spans are the common
   case), spans of unequal length link each source word to each target word of
   the other span with half a vote. `a(s,t)` sums these votes (at most one per
   pair), so `L = min(1, a(s,t) / c(s,t))` is the share of the co-occurrences
   that the slot labels confirm.
3. Score. `score = D + (1 - D) * L`: the Dice coefficient, with the slot links
   closing the gap to 1 in proportion to how often they confirm the pair. A
   pair without slot evidence keeps its Dice score; one always linked scores 1.
4. Frequent source words. A source word found in more than
   `STOPWORD_SHARE` (30%) of the utterances co-occurs with nearly everything,
   so its pairs need strong evidence: `score >= STRONG_SCORE` (0.5) and the
   target word's own best source word must be that word (mutual best).
5. Selection. Pairs scoring below `min_score` are dropped; each source word
   keeps its `max_per_word` best targets. Identical strings (names such as
   `boston boston`) are kept unless `skip_identical=True`. Equal scores are
   settled by the link rate `L`, then alphabetically. The output is sorted by
   score (descending), then source word, then target word.

Example:
    >>> from slukit.data.example import Example
    >>> en = [Example(["flights", "to", "boston"], ["O", "O", "B-city"], "flight", id="1"),
    ...       Example(["flights", "to", "denver"], ["O", "O", "B-city"], "flight", id="2"),
    ...       Example(["fares", "to", "boston"], ["O", "O", "B-city"], "fare", id="3")]
    >>> de = [Example(["flüge", "nach", "boston"], ["O", "O", "B-city"], "flight", id="1"),
    ...       Example(["flüge", "nach", "denver"], ["O", "O", "B-city"], "flight", id="2"),
    ...       Example(["preise", "nach", "boston"], ["O", "O", "B-city"], "fare", id="3")]
    >>> pairs = pair_by_id(en, de)
    >>> [(s, t) for s, t, _ in build_dictionary(pairs, min_count=2)]
    [('boston', 'boston'), ('flights', 'flüge'), ('to', 'nach')]

Use `dictionary_from_files("en/train.tsv", "de/train.tsv")` to go from files
to entries in one call, and `write_dictionary(entries, "en-de.txt")` to save them.
"""

from collections import Counter, defaultdict
from pathlib import Path

from slukit.data.readers import read_examples
from slukit.errors import DataError

STOPWORD_SHARE = 0.3   # a source word in more than this share of utterances is "frequent"
STRONG_SCORE = 0.5     # the least score a frequent source word's pair needs
UNEQUAL_SPAN_VOTE = 0.5  # the vote of a word pair inside unequal-length aligned spans


def pair_by_id(source_examples, target_examples, report=None):
    """Pair source and target examples that share a non-empty `id`.

    Args:
        source_examples, target_examples: lists of `Example`.
        report: callable(str) told how many examples found no partner (only
            when some did not); None says nothing.

    Returns:
        A list of `(source Example, target Example)`, in source order. An id
        repeated on one side pairs with the first example of that id.

    Example:
        >>> from slukit.data.example import Example
        >>> en = [Example(["hi"], ["O"], "greet", id="1"), Example(["bye"], ["O"], "bye", id="2")]
        >>> de = [Example(["hallo"], ["O"], "greet", id="1")]
        >>> [(s.tokens, t.tokens) for s, t in pair_by_id(en, de)]
        [(('hi',), ('hallo',))]
    """
    source_examples, target_examples = list(source_examples), list(target_examples)
    targets = {}
    for example in target_examples:
        if example.id and example.id not in targets:
            targets[example.id] = example
    pairs, used = [], set()
    for example in source_examples:
        target = targets.get(example.id) if example.id else None
        if target is not None and example.id not in used:
            pairs.append((example, target))
            used.add(example.id)
    unmatched_source = len(source_examples) - len(pairs)
    unmatched_target = len(target_examples) - len(pairs)
    if report is not None and (unmatched_source or unmatched_target):
        report(f"paired {len(pairs)} utterances by id; {unmatched_source} source and "
               f"{unmatched_target} target example(s) had no partner (or no id)")
    return pairs


def build_dictionary(pairs, lowercase=True, min_count=2, max_per_word=1,
                     skip_identical=False, min_score=0.3):
    """Learn word translations from parallel labelled utterances.

    Args:
        pairs: `(source Example, target Example)` pairs, e.g. from `pair_by_id`.
        lowercase: compare words lowercased.
        min_count: the fewest utterance pairs a word pair must co-occur in.
        max_per_word: how many targets each source word keeps (best first).
        skip_identical: drop pairs whose two words are the same string.
        min_score: the least score an entry needs (see the module docstring).

    Returns:
        A list of `(source word, target word, score)`, by score descending,
        then source word, then target word.
    """
    pairs = list(pairs)
    if not pairs:
        raise DataError("no parallel utterance pairs to build a dictionary from")
    if max_per_word < 1:
        raise DataError(f"max_per_word must be at least 1, not {max_per_word}")
    norm = str.lower if lowercase else (lambda word: word)

    c_src, c_tgt, c_pair = Counter(), Counter(), Counter()
    links = Counter()
    for source, target in pairs:
        src_words = {norm(w) for w in source.tokens if _is_word(w)}
        tgt_words = {norm(w) for w in target.tokens if _is_word(w)}
        c_src.update(src_words)
        c_tgt.update(tgt_words)
        c_pair.update((s, t) for s in src_words for t in tgt_words)
        for (s, t), vote in _slot_links(source, target, norm).items():
            links[s, t] += vote

    n = len(pairs)
    scores = {}
    for (s, t), together in c_pair.items():
        if together < min_count or (skip_identical and s == t):
            continue
        dice = 2 * together / (c_src[s] + c_tgt[t])
        linked = min(1.0, links.get((s, t), 0) / together)
        scores[s, t] = (dice + (1 - dice) * linked, linked)  # ties go to the better linked

    best_source = {}  # target word -> (score, link rate, source word) of its best source word
    for (s, t), (score, linked) in scores.items():
        key = (score, linked, _neg(s))
        if t not in best_source or key > best_source[t][0]:
            best_source[t] = (key, s)

    by_source = defaultdict(list)
    for (s, t), (score, linked) in scores.items():
        if score < min_score:
            continue
        if c_src[s] > STOPWORD_SHARE * n and (score < STRONG_SCORE or best_source[t][1] != s):
            continue
        by_source[s].append((-score, -linked, t))

    entries = []
    for s, candidates in by_source.items():
        candidates.sort()
        entries.extend((s, t, round(-score, 6)) for score, _, t in candidates[:max_per_word])
    entries.sort(key=lambda e: (-e[2], e[0], e[1]))
    return entries


def write_dictionary(entries, path):
    """Write entries as `source target` lines (what `read_dictionary` reads).

    Words holding whitespace cannot be written in that format and are skipped.
    Returns the number of lines written.
    """
    lines = [f"{s} {t}\n" for s, t, *_ in entries if len(s.split()) == 1 and len(t.split()) == 1]
    from slukit.atomic import atomic_open

    with atomic_open(path, "w", encoding="utf-8", newline="") as handle:  # whole or not at all
        handle.writelines(lines)
    return len(lines)


def dictionary_from_files(source_path, target_path, source_format=None, target_format=None,
                          split="train", report=None, **kw):
    """Read two parallel data files, pair them by id and build the dictionary.

    `split` chooses the partition of a MASSIVE file that mixes them (see
    `read_examples`); `report` is passed to `pair_by_id`; other keyword
    arguments go to `build_dictionary`.

    Example:
        >>> dictionary_from_files("multiatis/en/train.tsv",
        ...                       "multiatis/de/train.tsv")  # doctest: +SKIP
        [('boston', 'boston', 1.0), ...]
    """
    source = read_examples(source_path, format=source_format, split=split)
    target = read_examples(target_path, format=target_format, split=split)
    pairs = pair_by_id(source, target, report=report)
    if not pairs:
        raise DataError(f"{source_path} and {target_path} share no utterance id; "
                        f"are they translations of the same data set?")
    return build_dictionary(pairs, **kw)


# ---------------------------------------------------------------- helpers


def _is_word(token):
    """True when the token holds a letter or digit (punctuation is skipped)."""
    return any(ch.isalnum() for ch in token)


def _neg(word):
    """A key that orders words in reverse, so ties go to the alphabetically first."""
    return tuple(-ord(ch) for ch in word)


def _spans(example):
    """{slot type: [span words, ...]} read from the BIO tags (a stray I- starts a span)."""
    spans = defaultdict(list)
    current = None
    for token, tag in zip(example.tokens, example.tags):
        if tag.startswith("B-") or (tag.startswith("I-") and current != tag[2:]):
            current = tag[2:]
            spans[current].append([token])
        elif tag.startswith("I-"):
            spans[current][-1].append(token)
        else:
            current = None
    return spans


def _slot_links(source, target, norm):
    """{(s, t): vote} for one pair: the word links of its aligned slot spans."""
    src_spans, tgt_spans = _spans(source), _spans(target)
    votes = {}
    for slot, src_list in src_spans.items():
        tgt_list = tgt_spans.get(slot, [])
        if len(src_list) != 1 or len(tgt_list) != 1:
            continue
        src_words = [norm(w) for w in src_list[0] if _is_word(w)]
        tgt_words = [norm(w) for w in tgt_list[0] if _is_word(w)]
        if len(src_words) == len(tgt_words):
            links = {(s, t): 1.0 for s, t in zip(src_words, tgt_words)}
        else:
            links = {(s, t): UNEQUAL_SPAN_VOTE for s in src_words for t in tgt_words}
        for key, vote in links.items():
            votes[key] = max(votes.get(key, 0.0), vote)
    return votes


def read_dictionary(path):
    """Word pairs `source target`, one per line (MUSE's format; tab or space separated)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: dictionary file not found")
    pairs, problems = [], []
    for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2:
            problems.append(f"{path}:{line_no}: expected two words (source target), got {len(parts)}")
            continue
        pairs.append((parts[0], parts[1]))
    if problems:
        raise DataError(problems[:20], header=f"{path}: {len(problems)} malformed line(s):")
    if not pairs:
        raise DataError(f"{path}: no word pairs")
    return pairs
