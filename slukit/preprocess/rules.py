"""The text rules of `preprocessor.json` (and of a `.tflite`'s metadata), checked.

A model directory's rules are read back by every loader; a value this slukit
does not implement (another tokenizer, another Unicode normalisation) would
otherwise be ignored silently and the model fed ids it was not trained on.
`rule_problems` lists every problem, each naming the key; the loaders raise
them as one `ModelDirError`.

Example:
    >>> rule_problems({"tokenizer": "bpe", "unicode_normalization": "NFKC", "lowercase": True,
    ...                "max_word_chars": 20}, files=False)
    ["tokenizer: 'bpe' is not one this slukit implements ('whitespace')"]
    >>> rule_problems({"lowercase": "yes", "max_word_chars": 8, "colour": 1}, files=False)
    ['lowercase: expected true or false, got "yes"', 'colour: unknown setting (known: confidence, files, lowercase, max_word_chars, pad_id, slot_decoding, slot_transitions, tag_pad_id, tokenizer, unicode_normalization, unk_id)']
"""

import json
from pathlib import PurePosixPath

#: key -> the values this slukit implements (a tuple), or a type check.
CHOICES = {
    "tokenizer": ("whitespace",),
    "unicode_normalization": ("NFKC",),
    "slot_decoding": ("argmax", "bio"),
}
FIXED = {"pad_id": 0, "unk_id": 1, "tag_pad_id": 0}
REQUIRED = ("lowercase", "max_word_chars")
FILE_KEYS = ("words", "chars", "intents", "tags")
#: Tables that other modules check: `confidence` (slukit.preprocess.confidence) and
#: `slot_transitions` (the CRF's learned scores, `model.slot_decoder: crf`).
TABLES = ("confidence", "slot_transitions")
KNOWN = sorted({*CHOICES, *FIXED, *REQUIRED, *TABLES, "files"})


def rule_problems(rules, files=True):
    """Problems of a rules dict (`files`: the `files` table must be there and be valid)."""
    if not isinstance(rules, dict):
        return [f"expected a JSON object, got {type(rules).__name__}"]
    problems = []
    for key in REQUIRED:
        if key not in rules:
            problems.append(f"{key}: missing")
    for key, allowed in CHOICES.items():
        if key in rules and rules[key] not in allowed:
            problems.append(f"{key}: {rules[key]!r} is not one this slukit implements "
                            f"({', '.join(repr(a) for a in allowed)})")
    if "lowercase" in rules and not isinstance(rules["lowercase"], bool):
        problems.append(f"lowercase: expected true or false, got {json.dumps(rules['lowercase'])}")
    chars = rules.get("max_word_chars")
    if "max_word_chars" in rules and (not isinstance(chars, int) or isinstance(chars, bool)
                                      or not 1 <= chars <= 1000):
        problems.append(f"max_word_chars: expected a whole number from 1 to 1000, "
                        f"got {json.dumps(chars)}")
    for key, value in FIXED.items():
        if key in rules and rules[key] != value:
            problems.append(f"{key}: must be {value}, got {json.dumps(rules[key])}")
    for key in TABLES:
        if rules.get(key) is not None and not isinstance(rules[key], dict):
            problems.append(f"{key}: expected a table, got {json.dumps(rules[key])}")
    for key in rules:
        if key not in KNOWN:
            problems.append(f"{key}: unknown setting (known: {', '.join(KNOWN)})")
    if files:
        problems += file_problems(rules.get("files"))
    return problems


def file_problems(files):
    """Problems of the `files` table: each entry a relative path inside the directory."""
    if not isinstance(files, dict):
        return ["files: missing, or not a table of vocabulary files"]
    problems = []
    for key in files:
        if key not in FILE_KEYS:
            problems.append(f"files.{key}: unknown vocabulary (known: {', '.join(FILE_KEYS)})")
    for key in ("intents", "tags"):
        if not files.get(key):
            problems.append(f"files.{key}: missing")
    for key, value in files.items():
        if value is None:
            continue
        if not isinstance(value, str) or not value:
            problems.append(f"files.{key}: expected a file path, got {json.dumps(value)}")
            continue
        path = PurePosixPath(value)
        if path.is_absolute() or ".." in path.parts or "\\" in value or ":" in value:
            problems.append(f"files.{key}: {value!r} points outside the model directory "
                            "(paths must be relative and stay inside it)")
    if not files.get("words") and not files.get("chars"):
        problems.append("files: neither words nor chars is given")
    return problems
