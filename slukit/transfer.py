"""Cross-lingual transfer: train (or load) a source-language model, carry its
weights to a target-language model, and fine-tune on the target data.

The rules for what carries over (`transfer` in the recipe):

- **Word embeddings**: the target keeps its own word vocabulary (built from
  the target training data). With `transfer.embeddings`, rows of words that
  both vocabularies hold are copied (names, numbers, shared loanwords; every
  word when both sides use aligned bilingual vectors).
- **Characters** are merged by name: the target's character vocabulary is the
  source's followed by the target's new characters; the character CNN and the
  rows of shared characters are copied, new characters start fresh.
- **Labels** are merged by name: the target's intents and tags are the
  source's followed by the target's new ones. A target `B-toloc.city_name`
  reuses the source's row of the slot head; labels only one side has get
  fresh rows (source-only labels stay predictable, which helps when the
  target data is small).
- **Encoder** weights are copied as they are; the encoder must have the same
  type and sizes.
- `transfer.freeze_epochs` keeps parts frozen for their first epochs, and
  `transfer.learning_rate` sets the fine-tuning rate.
- `source.data.code_switch` trains the source model on code-switched source
  utterances (`slukit.data.code_switch`); with `dictionary: from_target` the
  dictionary comes from the parallel source and target training data, and the
  source model is written to `<source output>-cs-<hash>`, one per dictionary.

The run itself (source model, then fine-tuning) is `slukit.workflows.transfer`; this
module holds what it carries over: `source_recipe` (the source model's recipe),
`merged_preprocessor` and `transfer_weights`.

Example:
    >>> merge_vocab(Vocabulary(["<pad>", "a", "b"]), Vocabulary(["<pad>", "b", "c"])).tokens
    ['<pad>', 'a', 'b', 'c']
"""

import copy

import numpy as np

from slukit.data.code_switch import FROM_TARGET
from slukit.errors import RecipeError
from slukit.preprocess.vocab import UNK, Vocabulary

#: Recipe part name -> the JointSLU layer that holds it.
PART_LAYERS = {
    "embeddings": "word_embedding",
    "char_embeddings": "char_embedding",
    "encoder": "encoder",
    "intent_head": "intent",
    "slot_head": "slots",
}

#: The model settings that shape each part's weights (besides vocabulary and label counts).
PART_SETTINGS = {
    "embeddings": ("word_dim",),
    "char_embeddings": ("char_dim", "char_filters", "char_kernel"),
    "encoder": ("encoder", "encoder_config", "word_dim", "char_filters", "embeddings"),
    "intent_head": ("encoder", "encoder_config"),
    "slot_head": ("encoder", "encoder_config", "intent_to_slot"),
}


def source_recipe(recipe):
    """The monolingual recipe that trains the source model of a transfer recipe."""
    source = recipe["source"]
    derived = copy.deepcopy({k: recipe[k] for k in ("model", "train")})
    derived["name"] = f"{recipe['name']}-source"
    derived["data"] = copy.deepcopy(source["data"])
    derived["model"]["word_vectors"] = source.get("word_vectors")
    if source.get("epochs"):
        derived["train"]["epochs"] = source["epochs"]
    if source.get("max_steps_per_epoch") is not None:
        derived["train"]["max_steps_per_epoch"] = source["max_steps_per_epoch"]
    derived["source"] = None
    derived["transfer"] = copy.deepcopy(recipe["transfer"])
    derived["output"] = source.get("output") or f"runs/{recipe['name']}-source"
    digests = []
    datasets = derived["data"] if isinstance(derived["data"], list) else [derived["data"]]
    for data in datasets:  # several source data sets: a from_target dictionary each
        switch = data.get("code_switch")
        if switch and switch.get("dictionary") == FROM_TARGET:
            from slukit.data.code_switch import dictionary_from_target

            path, digest, _ = dictionary_from_target({**derived, "data": data}, recipe,
                                                     derived["output"])
            switch["dictionary"] = str(path)
            digests.append(digest)
    if digests:
        derived["output"] = f"{derived['output']}-cs-{'-'.join(digests)}"
    return derived


def same_source_settings(a, b):
    """Whether two resolved source recipes would train the same model.

    Both are filled with the schema's defaults first, so a source model saved
    before a new recipe key existed is still reused when the key's default
    trains the same model; `train.distribute` is not compared.
    """
    from slukit.recipe.validate import training_settings

    sections = ("data", "model", "train")
    return training_settings(a, sections) == training_settings(b, sections)


def merge_vocab(source, target, unk=None):
    """`source`'s tokens, then `target`'s tokens that `source` lacks."""
    if source is None or target is None:
        return target
    extra = [t for t in target.tokens if t not in source.index]
    return Vocabulary(source.tokens + extra, unk=unk)


def merged_preprocessor(source_pre, target_pre):
    """The target preprocessor with characters and labels merged by name (see module doc)."""
    target_pre.chars = merge_vocab(source_pre.chars, target_pre.chars, unk=UNK)
    target_pre.intents = merge_vocab(source_pre.intents, target_pre.intents)
    target_pre.tags = merge_vocab(source_pre.tags, target_pre.tags)
    return target_pre


def check_compatible(source_model, target_model, parts):
    """Raises a `RecipeError` naming each requested part the source cannot give."""
    src, tgt = source_model.get_config(), target_model.get_config()
    problems = []
    for part in parts:
        layer = PART_LAYERS[part]
        if not _has_layer(source_model, layer) or not _has_layer(target_model, layer):
            side = "source" if not _has_layer(source_model, layer) else "target"
            problems.append(f"transfer.{part}: the {side} model has no {layer.replace('_', ' ')} "
                            f"(model.embeddings: {src['embeddings'] if side == 'source' else tgt['embeddings']}); "
                            f"set transfer.{part}: false")
            continue
        differ = [k for k in PART_SETTINGS[part] if src.get(k) != tgt.get(k)]
        shapes_ok = _shapes_match(source_model.get_layer(layer), target_model.get_layer(layer), part)
        if differ or not shapes_ok:
            detail = ", ".join(f"{k}: source {src.get(k)!r}, target {tgt.get(k)!r}" for k in differ)
            problems.append(f"transfer.{part}: the source and target {part.replace('_', ' ')} differ "
                            f"({detail or 'weight shapes differ'}); use the source's model settings "
                            f"or set transfer.{part}: false")
    if problems:
        raise RecipeError(problems, header="the source model cannot carry over as the recipe asks:")


def _has_layer(model, name):
    return any(layer.name == name for layer in model.layers)


def _shapes_match(src_layer, tgt_layer, part):
    a, b = src_layer.get_weights(), tgt_layer.get_weights()
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if part in ("embeddings", "char_embeddings") and x.ndim == 2 and x is a[0]:
            x, y = x[:0], y[:0]  # vocabulary rows may differ
        if part in ("intent_head", "slot_head"):
            x, y = x[..., :0], y[..., :0]  # label columns may differ
        if x.shape != y.shape:
            return False
    return True


def _copy_by_name(target, source, target_vocab, source_vocab, axis):
    """`target` with the rows (axis 0) or columns (axis -1) of tokens that both
    vocabularies hold taken from `source`."""
    out = np.moveaxis(target.copy(), axis, 0)
    src = np.moveaxis(source, axis, 0)
    for i, token in enumerate(target_vocab.tokens):
        j = source_vocab.index.get(token)
        if j is not None:
            out[i] = src[j]
    return np.moveaxis(out, 0, axis)


def transfer_weights(source, target_model, target_pre, parts):
    """Copies the requested parts from the source bundle into `target_model`.

    Returns `{part: what was copied}` for the report.
    """
    src_model, src_pre = source.model, source.preprocessor
    report = {}
    for part in parts:
        name = PART_LAYERS[part]
        s_layer, t_layer = src_model.get_layer(name), target_model.get_layer(name)
        s_weights, t_weights = s_layer.get_weights(), t_layer.get_weights()
        if part == "embeddings":
            table = _copy_by_name(t_weights[0], s_weights[0], target_pre.words, src_pre.words, 0)
            shared = sum(1 for t in target_pre.words.tokens[2:] if t in src_pre.words.index)
            t_layer.set_weights([table])
            report[part] = f"{shared} of {len(target_pre.words) - 2} target words shared"
        elif part == "char_embeddings":
            table = _copy_by_name(t_weights[0], s_weights[0], target_pre.chars, src_pre.chars, 0)
            t_layer.set_weights([table] + s_weights[1:])
            report[part] = f"CNN and {len(src_pre.chars)} character rows"
        elif part == "encoder":
            t_layer.set_weights(s_weights)
            report[part] = "all weights"
        else:
            labels_t = target_pre.intents if part == "intent_head" else target_pre.tags
            labels_s = src_pre.intents if part == "intent_head" else src_pre.tags
            t_layer.set_weights([_copy_by_name(t, s, labels_t, labels_s, -1)
                                 for t, s in zip(t_weights, s_weights)])
            shared = sum(1 for t in labels_t.tokens if t in labels_s.index)
            report[part] = f"{shared} of {len(labels_t)} labels shared"
    return report


