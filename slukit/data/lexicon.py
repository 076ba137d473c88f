"""Offline bilingual lexicons: word translations read from dictionaries installed on this machine.

Nothing is downloaded and nothing is bundled: the user installs a dictionary
with the system's package manager and names its file. Three formats are read:

- **dictd** (FreeDict, `apt-get install dict-freedict-eng-deu`, files under
  `/usr/share/dictd/`): a `NAME.index` of `headword<TAB>offset<TAB>length`
  lines (offset and length in dictd's base-64 digits) and a `NAME.dict` or
  gzip'ed `NAME.dict.dz` that holds the entries. Give the `.index`, the
  `.dict`/`.dict.dz` or the common stem. An entry's first line is the
  headword; its translations are the lines that follow, up to the examples
  (indented, in quotes), notes, synonyms and cross-references.
- **Ding** (`apt-get install trans-de-en`, `/usr/share/trans/de-en`): one
  entry a line, `left side :: right side`; `|` separates senses (the same
  count on both sides) and `;` synonyms within a sense. English verbs are
  written `to go`; the `to ` is dropped.
- **Word pairs**, `source target` a line (what `slukit embeddings
  dictionary` writes).

Annotations in `{}`, `[]`, `<>` and `()` are removed. Only one-word headwords
and one-word translations are kept, because code-switching replaces one token
by one token (so every slot tag stays on its token). A lexicon maps its
headwords (dictd) or its left side (Ding, pairs) to translations; `reverse`
reads it the other way, so `freedict-deu-eng` or Ding's `de-en` serve an
English-to-German transfer as well.

Example:
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "de-en").write_text(
    ...     "Flug {m} [aviat.] | Flüge {pl} :: flight | flights\\n"
    ...     "buchen {vt} :: to book\\n", encoding="utf-8")
    >>> read_lexicon(folder / "de-en", reverse=True)
    {'flight': ['flug'], 'flights': ['flüge'], 'book': ['buchen']}
    >>> rank_tables({"flight": ["flucht", "flug"]}, {"flight": ["flug"]})
    {'flight': ['flug', 'flucht']}
"""

import gzip
import re
from pathlib import Path

from slukit.errors import DataError

B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_BRACKETS = re.compile(r"\{[^}]*\}|\[[^\]]*\]|<[^>]*>|\([^)]*\)|/[^/\s][^/]*/")
_SENSE_NUMBER = re.compile(r"^\s*\d+\.\s*")
_STOP = ("Note:", "Synonym", "see:", "Syn:", "Antonym", "Example", "Usage")


def b64_number(digits):
    """A dictd base-64 number: `b64_number("FVrr")` is 350955."""
    n = 0
    for ch in digits:
        n = n * 64 + B64.index(ch)
    return n


def format_of(path):
    """`dictd`, `ding` or `pairs` for a lexicon file (dictd: any of its files or their stem)."""
    path = Path(path)
    if path.suffix in (".index", ".dz") or path.name.endswith(".dict") or dictd_files(path):
        return "dictd"
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.strip() and not line.startswith("#"):
                return "ding" if " :: " in line else "pairs"
    return "pairs"


def dictd_files(path):
    """`(index, dict)` paths of a dictd lexicon named by either file or their stem; None if absent."""
    path = Path(path)
    name = path.name
    for suffix in (".index", ".dict.dz", ".dict"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    stem = path.with_name(name)
    index = stem.with_name(name + ".index")
    body = next((p for p in (stem.with_name(name + ".dict.dz"), stem.with_name(name + ".dict"))
                 if p.is_file()), None)
    return (index, body) if index.is_file() and body is not None else None


def _words(text):
    """The one-word translations in one line or sense of a dictionary."""
    text = _BRACKETS.sub(" ", _SENSE_NUMBER.sub("", text))
    out = []
    for item in re.split(r"[,;]", text):
        item = item.strip().strip(".!?")
        if item.startswith("to ") and len(item.split()) == 2:  # Ding's and FreeDict's English verbs
            item = item[3:]
        if item and len(item.split()) == 1 and any(ch.isalpha() for ch in item):
            out.append(item)
    return out


def dictd_pairs(path):
    """`(headword, translation)` pairs of a dictd lexicon, in file order."""
    files = dictd_files(path)
    if files is None:
        raise DataError(f"{path}: not a dictd dictionary (needs NAME.index beside NAME.dict or "
                        "NAME.dict.dz); install one with e.g. `apt-get install dict-freedict-eng-deu`")
    index, body = files
    opener = gzip.open if body.name.endswith(".dz") else open
    with opener(body, "rb") as f:
        data = f.read()
    pairs = []
    with open(index, encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            fields = line.rstrip("\n").split("\t")
            if len(fields) < 3:
                raise DataError(f"{index}:{line_no}: expected headword<TAB>offset<TAB>length, "
                                f"got {line.strip()!r}")
            head = fields[0].strip()
            if head.startswith("00") or len(head.split()) != 1:
                continue  # dictd's own entries (00-database-info), and phrases
            try:
                start, size = b64_number(fields[1]), b64_number(fields[2])
            except ValueError:
                raise DataError(f"{index}:{line_no}: offset and length must be dictd base-64 "
                                f"numbers, got {fields[1]!r} and {fields[2]!r}") from None
            entry = data[start:start + size].decode("utf-8", errors="replace").splitlines()
            for text in entry[1:]:
                stripped = text.strip()
                if not stripped:
                    continue
                if stripped.startswith(('"', "{")) or stripped.startswith(_STOP):
                    if stripped.startswith(("see:", "Synonym")):
                        break
                    continue
                if text.startswith("      "):  # an indented example or note
                    continue
                pairs.extend((head, word) for word in _words(stripped))
    return pairs


def ding_pairs(path):
    """`(left, right)` pairs of a Ding file (`left :: right`, senses `|`, synonyms `;`)."""
    pairs = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.startswith("#") or " :: " not in line:
                continue
            left, right = line.rstrip("\n").split(" :: ", 1)
            lefts, rights = left.split(" | "), right.split(" | ")
            if len(lefts) != len(rights):
                continue
            for l_sense, r_sense in zip(lefts, rights):
                l_words, r_words = _words(l_sense.replace(",", ";")), _words(r_sense.replace(",", ";"))
                pairs.extend((a, b) for a in l_words for b in r_words)
    return pairs


def pair_file_pairs(path):
    from slukit.data.parallel import read_dictionary

    return read_dictionary(path)


def lexicon_pairs(path, reverse=False):
    """The `(source, target)` word pairs of a lexicon file of any format (see module doc)."""
    path = Path(path)
    if not path.exists() and dictd_files(path) is None:
        raise DataError(f"{path}: lexicon not found (FreeDict dictionaries are under "
                        "/usr/share/dictd/ once installed, Ding's under /usr/share/trans/)")
    fmt = format_of(path)
    pairs = {"dictd": dictd_pairs, "ding": ding_pairs, "pairs": pair_file_pairs}[fmt](path)
    if not pairs:
        raise DataError(f"{path}: no one-word translations found (read as {fmt})")
    return [(b, a) for a, b in pairs] if reverse else pairs


def read_lexicon(path, reverse=False, max_translations=None, lowercase=True):
    """`{source word: [target words]}` from a lexicon, first translations first.

    Args:
        path: a dictd, Ding or word-pair file (see module doc).
        reverse: read the lexicon from its translations to its headwords.
        max_translations: keep at most this many translations per word (None: all).
        lowercase: lowercase both sides (as `model.lowercase` does).
    """
    counts, used = {}, {}
    for source, target in lexicon_pairs(path, reverse):
        if lowercase:
            source, target = source.lower(), target.lower()
        if target != source:
            votes = counts.setdefault(source, {})
            votes[target] = votes.get(target, 0) + 1
            used.setdefault(target, set()).add(source)
    # The translation that most entries and senses of the word give first; then the most
    # specific one, which translates the fewest other words (`flight` -> `flug` before
    # `schwarm`, which also translates `swarm` and `flock`); then file order.
    return {word: sorted(votes, key=lambda t: (-votes[t], len(used[t])))[:max_translations]
            for word, votes in counts.items()}


def rank_tables(*tables):
    """One `{word: [translations]}` from several lexicons: a translation that more
    lexicons give, and give earlier, comes first (each adds 1 / its rank)."""
    scores = {}
    for table in tables:
        for word, choices in table.items():
            votes = scores.setdefault(word, {})
            for rank, choice in enumerate(choices):
                votes[choice] = votes.get(choice, 0.0) + 1.0 / (rank + 1)
    return {word: sorted(votes, key=lambda t: -votes[t]) for word, votes in scores.items()}


def merge_tables(*tables, max_translations=None):
    """One `{word: [translations]}` from several, earlier tables' translations first."""
    out = {}
    for table in tables:
        for word, choices in table.items():
            merged = out.setdefault(word, [])
            for choice in choices:
                if choice not in merged and (max_translations is None
                                             or len(merged) < max_translations):
                    merged.append(choice)
    return out


def lexicon_entries(lexicons=(), reverse_lexicons=(), max_translations=3, known=(), lowercase=True):
    """`(source, target, score)` entries (as `slukit.data.parallel.build_dictionary`
    gives) from lexicon files, ranked by `rank_tables`, at most `max_translations`
    a word; words in `known` (already translated, e.g. mined from parallel data)
    are left out. The score is the translation's rank: 1, 1/2, 1/3, ..."""
    tables = [read_lexicon(p, reverse=False, lowercase=lowercase) for p in lexicons]
    tables += [read_lexicon(p, reverse=True, lowercase=lowercase) for p in reverse_lexicons]
    known = set(known)
    entries = []
    for word, choices in sorted(rank_tables(*tables).items()):
        if word in known:
            continue
        entries.extend((word, t, 1.0 / (i + 1)) for i, t in enumerate(choices[:max_translations]))
    return entries
