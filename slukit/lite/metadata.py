"""The metadata JSON written beside an exported `.tflite` (pure Python, no TensorFlow).

`model.tflite` is accompanied by `model.json`: everything a device needs to turn
text into the model's inputs and its outputs back into labels.

Keys:
    format, format_version   `"slukit-tflite"`, 1
    model_file               the .tflite's file name (same folder)
    model_sha256             the .tflite's SHA-256 (checked when it is loaded)
    sha256                   the SHA-256 of each key that decides the predictions
                             (`DIGESTED`: signatures, inputs, outputs, rules, vocab),
                             checked when the metadata is read
    vocab_sizes              {"words", "chars", "intents", "tags": entries}, checked
                             against the lists (and the intent and tag counts against
                             the .tflite's own outputs when it is loaded)
    quantize                 `"none"`, `"float16"` or `"dynamic"`
    signatures               `[{"key": "L16", "length": 16}, ...]`, shortest first;
                             one signature per fixed length in the one .tflite
    inputs                   name -> {"dtype", "shape"}; `"L"` is the signature's length
    outputs                  name -> {"dtype", "shape", "description"}
    rules                    the text rules (`SLUPreprocessor.rules()` without `files`),
                             with the calibration temperatures and fallback rule
                             under `confidence` (`slukit.preprocess.confidence`)
    vocab                    {"words": [...] or null, "chars": [...] or null,
                              "intents": [...], "tags": [...]}: id = list position
    long_inputs              how utterances longer than the largest length are run
    gpu                      the static GPU check's findings and notes
    parity, source           how the export was checked, and where it came from

Example:
    >>> meta = {"format": "slukit-tflite", "format_version": 1, "signatures": [],
    ...         "vocab": {"words": None, "chars": ["<pad>", "<unk>", "a"],
    ...                   "intents": ["x"], "tags": ["<pad>", "O"]},
    ...         "rules": {"lowercase": True, "max_word_chars": 4}}
    >>> pre = preprocessor_from_metadata(meta)
    >>> pre.encode_chars(["aa"]).tolist()
    [[2, 2, 0, 0]]
"""

import hashlib
import json
from pathlib import Path

from slukit.errors import LiteError

FORMAT = "slukit-tflite"
FORMAT_VERSION = 1

#: How the light runtime runs utterances longer than the largest length.
LONG_INPUTS = {
    "method": "windows",
    "size": "the largest signature length",
    "overlap": "size // 2 tokens (half-overlapping windows)",
    "tags": "each token takes its tag probabilities from the window in which it is "
            "farthest from an edge",
    "intent": "mean of the windows' intent probabilities, weighted by the tokens each "
              "window tags",
}


#: The metadata keys whose content decides the predictions, each digested under `sha256`.
DIGESTED = ("signatures", "inputs", "outputs", "rules", "vocab")


def section_digests(meta):
    """`{key: SHA-256 of its canonical JSON}` for the `DIGESTED` keys of `meta`.

    Example:
        >>> d = section_digests({"vocab": {"intents": ["a"]}})
        >>> sorted(d) == sorted(DIGESTED) and len(d["vocab"]) == 64
        True
    """
    return {key: hashlib.sha256(json.dumps(meta.get(key), sort_keys=True, ensure_ascii=False,
                                           separators=(",", ":")).encode("utf-8")).hexdigest()
            for key in DIGESTED}


def vocab_sizes(meta):
    """`{words, chars, intents, tags: entries}` of the metadata's vocabularies (None: absent)."""
    return {key: len(table) if isinstance(table, list) else None
            for key, table in (meta.get("vocab") or {}).items()}


def seal_metadata(meta):
    """Records `sha256` and `vocab_sizes` in `meta` (the export's last step); returns it."""
    meta["vocab_sizes"] = vocab_sizes(meta)
    meta["sha256"] = section_digests(meta)
    return meta


def metadata_path(tflite_path):
    """The metadata file beside an exported model.

        >>> metadata_path("export/model.tflite").name
        'model.json'
    """
    return Path(tflite_path).with_suffix(".json")


def read_metadata(tflite_path):
    """The metadata dict of an exported `.tflite`; a clear `LiteError` otherwise."""
    tflite_path = Path(tflite_path)
    path = metadata_path(tflite_path)
    if not tflite_path.is_file():
        raise LiteError(f"{tflite_path}: no such .tflite file")
    if not path.is_file():
        raise LiteError(f"{tflite_path}: its metadata {path.name} is missing; "
                        "export the model with `slukit.export.export_tflite`")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise LiteError(f"{path}: unreadable metadata ({err})") from None
    check_metadata(meta, path)
    recorded = meta.get("model_sha256")
    if recorded is not None:
        if hashlib.sha256(tflite_path.read_bytes()).hexdigest() != recorded:
            raise LiteError(f"{tflite_path}: its content is not the one {path.name} records "
                            "(SHA-256 differs): the file is damaged or belongs to another "
                            "export; export the model again")
    return meta


def check_metadata(meta, where="metadata"):
    """A clear `LiteError` for metadata this runtime cannot use: another format, a newer
    version, missing keys, text rules it does not implement, malformed signatures or
    vocabularies."""
    if not isinstance(meta, dict):
        raise LiteError(f"{where}: expected a JSON object")
    if meta.get("format") != FORMAT:
        raise LiteError(f"{where}: not slukit TFLite metadata (format {meta.get('format')!r})")
    if int(meta.get("format_version", 0)) > FORMAT_VERSION:
        raise LiteError(f"{where}: format_version {meta['format_version']} is newer than this "
                        f"slukit understands ({FORMAT_VERSION}); upgrade slukit")
    for key in ("signatures", "vocab", "rules"):
        if key not in meta:
            raise LiteError(f"{where}: key {key!r} is missing")
    from slukit.preprocess.rules import rule_problems

    problems = rule_problems(meta["rules"], files=False)
    if problems:
        raise LiteError(problems, header=f"{where}: rules this runtime cannot use:")
    signatures = meta["signatures"]
    if not isinstance(signatures, list) or not all(
            isinstance(s, dict) and isinstance(s.get("key"), str)
            and isinstance(s.get("length"), int) and s["length"] > 0 for s in signatures):
        raise LiteError(f"{where}: signatures must be a list of {{key, length > 0}}")
    vocab = meta["vocab"]
    if not isinstance(vocab, dict):
        raise LiteError(f"{where}: vocab must be a table")
    for key in ("words", "chars", "intents", "tags"):
        table = vocab.get(key)
        if table is None and key in ("words", "chars"):
            continue
        if not isinstance(table, list) or not table or not all(isinstance(t, str) for t in table):
            raise LiteError(f"{where}: vocab.{key} must be a non-empty list of strings")
        if len(set(table)) != len(table):
            raise LiteError(f"{where}: vocab.{key} repeats an entry")
    check_recorded(meta, where)


def check_recorded(meta, where="metadata"):
    """The recorded digests and vocabulary sizes (`seal_metadata`) still match: a clear
    `LiteError` naming the key otherwise. Metadata written before they were recorded gets
    every other check."""
    sizes = meta.get("vocab_sizes")
    if sizes is not None:
        if not isinstance(sizes, dict):
            raise LiteError(f"{where}: vocab_sizes is not a table")
        for key, size in vocab_sizes(meta).items():
            if key in sizes and sizes[key] != size:
                raise LiteError(f"{where}: vocab.{key} has {size} entries where vocab_sizes "
                                f"records {sizes[key]}; the metadata is damaged or was edited "
                                "(export the model again)")
    recorded = meta.get("sha256")
    if recorded is None:
        return
    if not isinstance(recorded, dict):
        raise LiteError(f"{where}: sha256 is not a table")
    for key, digest in section_digests(meta).items():
        if key in recorded and recorded[key] != digest:
            raise LiteError(f"{where}: {key} changed since the export (its SHA-256 is not the "
                            "one recorded under sha256); the metadata is damaged or was edited "
                            "(export the model again)")


def preprocessor_from_metadata(meta):
    """The `SLUPreprocessor` (numpy-only) described by the metadata."""
    from slukit.preprocess.confidence import Confidence
    from slukit.preprocess.preprocessor import SLUPreprocessor
    from slukit.preprocess.vocab import UNK, Vocabulary

    vocab, rules = meta["vocab"], meta["rules"]

    def table(key, unk):
        tokens = vocab.get(key)
        return Vocabulary(tokens, unk=unk if unk in tokens else None) if tokens else None

    return SLUPreprocessor(table("words", UNK), table("chars", UNK), table("intents", None),
                           table("tags", None), lowercase=rules.get("lowercase", True),
                           max_word_chars=rules.get("max_word_chars", 20),
                           slot_decoding=rules.get("slot_decoding", "argmax"),
                           slot_transitions=rules.get("slot_transitions"),
                           confidence=Confidence.from_dict(rules.get("confidence")))
