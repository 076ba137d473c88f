"""The recipe schema: every setting a recipe may hold, as data.

`SCHEMA` is the one source of truth for recipes. Validation (`validate.py`),
the defaults, `--set` overrides and the generated reference docs all read it;
nothing else lists recipe keys. Each setting is a `Field`; a `section` field
holds further fields.

The names a choice may take (encoders, embeddings, formats, built-in data
sets, monitors) come from `slukit.registry`; the schema reads the growing ones
(encoders, embeddings) each time it checks a value, so `register_encoder` is
all it takes.

This module uses the standard library only, so that it imports instantly.

Example:
    >>> SCHEMA["train"].fields["epochs"].default
    30
    >>> defaults()["model"]["embeddings"]
    ['word', 'char']
    >>> [key for key, _ in iter_fields()][:3]
    ['name', 'data', 'data.builtin']
"""

from __future__ import annotations

from typing import Any, Iterator

from slukit import registry
from slukit.recipe.field import REQUIRED, TYPES, Field, _section  # noqa: F401  (TYPES: old path)
from slukit.registry import register_embedding, register_encoder  # noqa: F401  (re-exported)

OPTIMIZERS = ("adam", "adamw", "rmsprop", "sgd")
MONITORS = tuple(registry.MONITORS)
TUNERS = ("random", "bayesian", "hyperband")

_DATA = _section(
    "Where the labelled utterances come from.",
    builtin=Field(
        "choice", choices=registry.BUILTIN_DATASETS, nullable=True, default=None,
        excludes=("format", "root", "train", "valid", "test"),
        doc="A small data set shipped with slukit. When set, leave out "
            "format, root, train, valid and test: the files come from the package.",
    ),
    format=Field(
        "choice", choices=registry.FORMATS, nullable=True, default=None,
        doc="The files' format: seqin (a folder with seq.in, seq.out and label), "
            "tsv (MultiATIS++), jsonl (tokens, tags, intent) or massive (MASSIVE JSON Lines; a "
            "file mixing partitions is filtered: train, dev for valid, test). null detects it "
            "from each path.",
    ),
    root=Field(
        "path", nullable=True, default=None,
        doc="The folder that train, valid and test are relative to. null means "
            "the environment variable SLUKIT_DATA if set, else ./data "
            "(relative paths are relative to the current working directory).",
    ),
    train=Field(
        "path", nullable=True, default=None, required_unless="builtin",
        doc="The training data, relative to data.root. Required unless data.builtin is set.",
    ),
    valid=Field(
        "path", nullable=True, default=None,
        doc="Validation data, relative to data.root; used for early stopping. null: none.",
    ),
    test=Field(
        "path", nullable=True, default=None,
        doc="Test data, relative to data.root; evaluated after training. null: none.",
    ),
    train_fraction=Field(
        "float", default=1.0, min=0, max=1, exclusive_min=True,
        doc="Train on this fraction of the training data, sampled "
            "reproducibly with train.seed.",
    ),
    on_error=Field(
        "choice", choices=("fail", "skip"), default="fail",
        doc="What to do with malformed data lines: fail (list them all and "
            "stop) or skip (drop them with a warning).",
    ),
    stream=Field(
        "choice", choices=("auto", "true", "false"), default="auto",
        doc="Stream the training data from its file at every epoch instead of holding it in "
            "memory, for training sets larger than memory (any format). auto streams training "
            "data larger than 200 MB (not with code_switch), true always, false never. One "
            "pass over the file checks every line and builds the vocabularies before training "
            "starts; valid and test stay in memory.",
    ),
    shuffle_buffer=Field(
        "int", default=20000, min=1,
        doc="When the training data is streamed: the examples of each epoch are shuffled "
            "within a window of this many (more shuffles better and takes more memory); "
            "shuffle a file sorted by label once before training on it.",
    ),
    code_switch=_section(
        "Code-switching augmentation of the training data (CoSDA-ML): some words of some "
        "utterances are replaced by their translations from a bilingual dictionary, tags kept. "
        "In a transfer recipe, set it on the source data (source.data.code_switch). null: off.",
        nullable=True,
        dictionary=Field(
            "path", default=None, nullable=True, required_unless=("lexicon", "reverse_lexicon"),
            doc="A file of `source target` word pairs (`slukit embeddings dictionary` writes "
                "one), or from_target in source.data of a transfer recipe: built from the "
                "source training data paired by utterance id with the target training data "
                "(after data.train_fraction). null: only the lexicons (give lexicon or "
                "reverse_lexicon then)."),
        lexicon=Field(
            "path", default=None, nullable=True,
            doc="An installed bilingual dictionary whose headwords are source words: a FreeDict "
                "dictd file (e.g. /usr/share/dictd/freedict-eng-deu.index), a Ding file or a word-"
                "pair file. Its translations are merged with the dictionary's (docs/transfer.md)."),
        reverse_lexicon=Field(
            "path", default=None, nullable=True,
            doc="Like lexicon, for a dictionary written from the target language to the source "
                "(e.g. /usr/share/dictd/freedict-deu-eng.index or /usr/share/trans/de-en for "
                "English to German); read the other way round."),
        max_translations=Field(
            "int", default=3, min=1,
            doc="Keep at most this many translations of a word (those of the dictionary first, "
                "then those most lexicons and senses give)."),
        utterance_rate=Field("float", default=0.5, min=0, max=1,
                             doc="Share of the training utterances that are code-switched."),
        word_rate=Field("float", default=0.5, min=0, max=1,
                        doc="In a code-switched utterance, the share of words with a "
                            "translation that are replaced."),
    ),
)

_MODEL = _section(
    "The network: token embeddings, the encoder and their sizes.",
    embeddings=Field(
        "list_of_choice", choices=lambda: registry.EMBEDDINGS, default=("word", "char"),
        doc="Which token embeddings to concatenate: word (a lookup table) "
            "and/or char (a character CNN).",
    ),
    word_dim=Field("int", default=100, min=1,
                   doc="Size of the word embeddings (with `word_vectors`: their dimension)."),
    word_vectors=Field("path", default=None, nullable=True,
                       doc="Pretrained word vectors (.vec text format: fastText, word2vec, aligned "
                           "bilingual MUSE vectors) that initialise the word embeddings; the path "
                           "is relative to the current directory. Words without a vector start random."),
    freeze_word_vectors=Field("bool", default=False,
                              doc="Keep the pretrained word vectors fixed during training."),
    char_dim=Field("int", default=32, min=1, doc="Size of the character embeddings."),
    char_filters=Field("int", default=64, min=1,
                       doc="Number of character-CNN filters (its output size)."),
    char_kernel=Field("int", default=3, min=1, doc="Width of the character-CNN kernel."),
    max_word_chars=Field("int", default=20, min=1,
                         doc="Words are cut to this many characters for the character CNN."),
    lowercase=Field("bool", default=True, doc="Lowercase words before looking them up."),
    min_word_count=Field("int", default=1, min=1,
                         doc="Words seen fewer times in the training data become UNK."),
    encoder=Field("choice", choices=lambda: tuple(registry.ENCODERS), default="bilstm",
                  doc="The context encoder: bilstm (stacked BiLSTMs), gru (stacked BiGRUs), "
                      "highway_lstm (BiLSTMs with highway gates between layers), mha "
                      "(transformer self-attention blocks), biattention (DiSAN-style forward "
                      "and backward directional self-attention)."),
    layers=Field("int", default=2, min=1, doc="Number of encoder layers (or attention blocks)."),
    units=Field("int", default=128, min=1,
                doc="Units per direction for recurrent encoders; model size for attention encoders."),
    heads=Field("int", default=4, min=1,
                doc="Attention heads (mha, biattention); must divide `units`."),
    intent_to_slot=Field("bool", default=False,
                         doc="Give the slot head the pooled utterance vector (the intent head's "
                             "input) beside each token's vector, as slot-gated models do."),
    intent_distribution_to_slot=Field(
        "bool", default=False,
        doc="Give the slot head the intent head's probabilities beside each token's vector, so "
            "the slot loss also trains the intent head (Stack-Propagation's intent-to-slot link)."),
    slot_decoder=Field(
        "choice", choices=("softmax", "crf"), default="softmax",
        doc="How the slot head is trained and read: softmax (per-token cross-entropy) or crf (a "
            "linear-chain CRF learns transition scores between tags; the Viterbi decoder of "
            "Python, the SavedModel and the light runtime uses them; the exported graph still "
            "outputs per-token probabilities)."),
    slot_decoding=Field("choice", choices=("argmax", "bio"), default="bio",
                        doc="How tags are read from the slot head: argmax (best tag per token) or "
                            "bio (best sequence in which every I-x follows B-x or I-x)."),
    dropout=Field("float", default=0.3, min=0, max=1, exclusive_max=True,
                  doc="Dropout rate between layers."),
)

_EARLY_STOPPING = _section(
    "Stop when the validation score has not improved for a while.",
    patience=Field("int", default=5, min=0,
                   doc="Epochs without improvement before stopping; 0 turns early stopping off."),
    monitor=Field(
        "choice", choices=MONITORS, default="joint",
        doc="The validation score to watch; joint is the mean of intent "
            "accuracy and slot F1.",
    ),
)

_TRAIN = _section(
    "How the model is trained.",
    epochs=Field("int", default=30, min=1, doc="Maximum number of passes over the training data."),
    batch_size=Field("int", default=32, min=1,
                     doc="Utterances per training step: the global batch, shared out among "
                         "the replicas when train.distribute spreads training."),
    optimizer=Field("choice", choices=OPTIMIZERS, default="adam", doc="The optimizer."),
    learning_rate=Field("float", default=0.001, min=0, exclusive_min=True,
                        doc="The optimizer's learning rate."),
    lr_schedule=Field(
        "choice", choices=lambda: registry.LR_SCHEDULES, default="constant",
        doc="The learning rate over the run: constant (train.learning_rate throughout), or "
            "cosine (from train.learning_rate down to 1% of it along half a cosine by the last "
            "epoch). Either starts with train.warmup_epochs of linear warm-up."),
    warmup_epochs=Field("int", default=0, min=0,
                        doc="Epochs of linear learning-rate warm-up from near 0 to "
                            "train.learning_rate (0: none)."),
    ema=Field("float", default=0.0, min=0, max=1, exclusive_max=True,
              doc="Keep an exponential moving average of the weights with this momentum per "
                  "step (for example 0.99; 0: off). Validation, the chosen epoch and the saved "
                  "model use the averaged weights."),
    early_stopping=_EARLY_STOPPING,
    seed=Field("int", default=0, min=0,
               doc="Random seed for initialisation, shuffling and data sampling."),
    intent_loss_weight=Field("float", default=1.0, min=0,
                             doc="Weight of the intent loss in the total loss."),
    slot_loss_weight=Field("float", default=1.0, min=0,
                           doc="Weight of the slot-tagging loss in the total loss."),
    min_steps_per_epoch=Field(
        "int", default=0, min=0,
        doc="Repeat the training data within an epoch until it has at least this many batches "
            "(0: one pass). Keeps small training sets (a 1% fraction on a learning curve) training "
            "for a sensible number of steps between validations and early-stopping checks."),
    max_steps_per_epoch=Field(
        "int", default=0, min=0,
        doc="Cut each epoch to at most this many batches (0: no cap); the next epoch goes on "
            "where this one stopped, so the data is still seen in full over several epochs. "
            "Validation and checkpoints come more often on large training sets."),
    word_dropout=Field("float", default=0.0, min=0, max=1, exclusive_max=True,
                       doc="Probability of replacing a word by UNK during training."),
    label_smoothing=Field(
        "float", default=0.0, min=0, max=1, exclusive_max=True,
        doc="Label smoothing of both losses: the target keeps 1 - e on the true intent or tag "
            "and spreads e over all of them (0: plain cross-entropy)."),
    jit_compile=Field(
        "bool", default=False,
        doc="Compile training steps with XLA. On CPUs with bucketed batches XLA compiles one "
            "program per bucket length and was slower here. On JAX, XLA is always used: without it "
            "Keras runs JAX's training step op by op, many times slower.",
    ),
    distribute=Field(
        "choice", choices=registry.DISTRIBUTIONS, default="default",
        doc="Where training runs (TensorFlow backend only for mirrored and multi_worker): default "
            "(one device); mirrored (tf.distribute.MirroredStrategy: every GPU of this machine, "
            "or its CPU); multi_worker (tf.distribute.MultiWorkerMirroredStrategy: the machines "
            "named in the TF_CONFIG environment variable, each with its GPUs; start the same "
            "command on each). train.batch_size stays the global batch, split evenly over the "
            "replicas (it must be a multiple of their number). Only the chief (TF_CONFIG's chief, "
            "else worker 0) writes the model directory and checkpoints. See docs/scaling.md.",
    ),
)

TRANSFER_PARTS = ("embeddings", "char_embeddings", "encoder", "intent_head", "slot_head")
TRANSFER_MODES = registry.TRANSFER_MODES

_SOURCE = _section(
    "Cross-lingual transfer: the source-language model that the target model starts from. "
    "Give either model_dir (an already trained model directory) or data (the source data: "
    "the source model is trained first, with this recipe's model and train settings).",
    nullable=True,
    model_dir=Field("path", nullable=True, default=None,
                    excludes=("data", "epochs", "word_vectors", "max_steps_per_epoch"),
                    doc="A finished model directory to transfer from."),
    data=Field("section", nullable=True, default=None, fields=dict(_DATA.fields),
               required_unless="model_dir", many=True,
               doc="The source-language data (same keys as `data`), or a list of such data sets "
                   "(several source languages), trained as one source: their labels merged by "
                   "name, each read with its own format, root, fraction and code_switch. In the "
                   "joint modes each data set is a part of its own (language-balanced batches)."),
    epochs=Field("int", nullable=True, default=None, min=1,
                 doc="Training epochs of the source model. null: train.epochs."),
    max_steps_per_epoch=Field(
        "int", nullable=True, default=None, min=0,
        doc="train.max_steps_per_epoch of the source model (sequential mode): a large source "
            "(several languages) then validates and checkpoints every so many batches. "
            "null: train.max_steps_per_epoch."),
    word_vectors=Field("path", nullable=True, default=None,
                       doc="Source-language word vectors (for aligned bilingual vectors, the "
                           "source side; model.word_vectors is the target side)."),
    output=Field("path", nullable=True, default=None,
                 doc="Where the source model directory is written and, if it exists and was "
                     "trained from the same source settings, reused. null: runs/<name>-source."),
)

_TRANSFER = _section(
    "Which parts of the source model carry over to the target model, and how they are fine-tuned. "
    "Used when `source` is set.",
    **{part: Field("bool", default=True, doc=doc) for part, doc in (
        ("embeddings", "Copy the word-embedding rows of words that both vocabularies hold "
                       "(names, numbers; every word when both sides use aligned bilingual vectors)."),
        ("char_embeddings", "Copy the character CNN; characters are merged by name."),
        ("encoder", "Copy the context encoder (it must have the same type and sizes)."),
        ("intent_head", "Copy the intent head; intents are merged by name, new ones start fresh."),
        ("slot_head", "Copy the slot head; tags are merged by name (a B-toloc.city_name in the "
                      "target reuses the source's row), new ones start fresh."),
    )},
    freeze_epochs=_section(
        "How many epochs each transferred part stays frozen at the start of fine-tuning (0: never).",
        **{part: Field("int", default=0, min=0, doc=f"Epochs that {part} stays frozen.")
           for part in TRANSFER_PARTS},
    ),
    learning_rate=Field("float", nullable=True, default=None, min=0, exclusive_min=True,
                        doc="Fine-tuning learning rate. null: train.learning_rate."),
    mode=Field(
        "choice", choices=TRANSFER_MODES, default="sequential",
        doc="How source and target data are used. sequential: train the source model, copy its "
            "parts (the keys above) into the target model and fine-tune on the target data. "
            "joint: one model trained on source and target data together from the start "
            "(vocabularies and labels merged by name; transfer.target_share sets the mix). "
            "joint_then_finetune: joint, then a fine-tuning stage on the target data only "
            "(transfer.learning_rate, transfer.finetune_epochs). The per-part keys and "
            "freeze_epochs apply to sequential only."),
    target_share=Field(
        "float", nullable=True, default=None, min=0, max=1, exclusive_min=True,
        doc="joint modes: the share of training batches drawn from the target data (0.5: as "
            "many target as source batches, however small the target data). An epoch then has "
            "as many batches as it takes to see the target data once. null: batches in "
            "proportion to the data sizes (one pass over both)."),
    code_switch_words=Field(
        "float", default=0.0, min=0, max=1,
        doc="joint modes: code-switch every source batch afresh, replacing this share of its "
            "words that have a translation, with the dictionary and lexicons of "
            "source.data.code_switch (which must be set; its one-off draw is then not made). "
            "0: off."),
    finetune_epochs=Field("int", nullable=True, default=None, min=1,
                          doc="joint_then_finetune: epochs of the target-only stage. "
                              "null: train.epochs."),
)

_TUNE = _section(
    "Hyper-parameter search with `slukit tune`: the recipe keys to search over, the tuner and the "
    "score it maximises. The rest of the recipe is the starting point; `slukit train` ignores "
    "this section.",
    nullable=True,
    tuner=Field("choice", choices=TUNERS, default="random",
                doc="The keras-tuner search: random (independent samples), bayesian (a Gaussian "
                    "process proposes each trial from the scores so far; needs scikit-learn) or "
                    "hyperband (many short trials, the best continued for longer)."),
    objective=Field(
        "choice", choices=MONITORS, default="joint",
        doc="The validation score that trials are ranked by, at each trial's best epoch (early "
            "stopping watches it too). joint is the plain mean of intent accuracy and slot F1, "
            "so the two goals are combined into one number before any tuner sees them."),
    max_trials=Field("int", default=20, min=1,
                     doc="Trials in all, those of earlier runs into the same output included: "
                         "rerun with a larger value to extend a finished search. Hyperband may "
                         "stop sooner, when its brackets are done."),
    max_epochs=Field("int", nullable=True, default=None, min=1,
                     doc="Epochs per trial (early stopping may end a trial sooner); for "
                         "hyperband, the most epochs one configuration trains. null: train.epochs."),
    factor=Field("int", default=3, min=2,
                 doc="Hyperband's reduction factor: each round keeps about 1/factor of the "
                     "configurations and trains them factor times longer."),
    initial_trials=Field("int", nullable=True, default=None, min=1,
                         doc="Bayesian: the random trials before the Gaussian process proposes "
                             "any. null: keras-tuner's 3 per searched key (so with fewer trials "
                             "in all, the search stays random)."),
    executions_per_trial=Field("int", default=1, min=1,
                               doc="Trainings per configuration (seeds train.seed, +1, ...); the "
                                   "trial's score is their mean. More is steadier and slower."),
    seed=Field("int", nullable=True, default=None, min=0,
               doc="Seed of the tuner's sampling. null: train.seed."),
    space=Field(
        "search_space", default=REQUIRED,
        doc="What to search: a mapping from dotted model. or train. keys to a spec, "
            "{choice: [v1, v2, ...]} (each value as the key itself takes), {int: [lo, hi]} with "
            "an optional step, or {float: [lo, hi]} with an optional step or log: true (sample "
            "evenly on a log scale). Bounds are included. Keys left out keep the recipe's value; "
            "a key set to null is not searched.",
    ),
)

_PREDICT = _section(
    "What the trained model reports (`slukit predict`, `slukit serve`, the exports): stored with "
    "the model in preprocessor.json. Confidences are calibrated by temperature scaling on the "
    "validation set at the end of training.",
    fallback_threshold=Field(
        "float", nullable=True, default=None, min=0, max=1,
        doc="An intent whose calibrated confidence is below this becomes fallback_intent (the "
            "intent ranking is kept, and the prediction says fallback: true), so an application "
            "can ask again or hand over. null: no fallback. --fallback-threshold overrides it."),
    fallback_intent=Field("str", default="nlu_fallback",
                          doc="The intent reported below fallback_threshold."),
    ranking_size=Field("int", default=5, min=1,
                       doc="How many intents intent_ranking lists, best first."),
)

_DISTILL = _section(
    "Distillation into one model (`slukit distill`; `slukit train` does the same on a recipe with "
    "this section): several teachers, trained from this recipe with other seeds or given as model "
    "directories, and one student of this recipe's model, trained on the gold labels and on the "
    "teachers' averaged intent and tag probabilities. The student's model directory is a normal "
    "one; its metadata.json records the teachers and the teacher ensemble's own metrics. Costs "
    "the teachers' trainings plus one. Not with source (transfer), streamed training data, "
    "train.distribute or slukit tune. See docs/models.md.",
    nullable=True,
    teachers=Field(
        "int", nullable=True, default=None, min=1, required_unless="teacher_dirs",
        excludes=("teacher_dirs",),
        doc="Train this many teachers from this recipe (without its distill section), with seeds "
            "train.seed+1 ... train.seed+N, each a model directory teachers_output/seed<k>. A "
            "finished teacher directory there is reused, so a stopped run can be started again."),
    teacher_dirs=Field(
        "list_of_path", nullable=True, default=None,
        doc="Existing model directories used as teachers, as they are (relative paths are "
            "relative to the current directory, like source.model_dir). Any encoder or size; "
            "their labels are matched to this recipe's by name, and their data section must name "
            "the same train, valid and test files."),
    teachers_output=Field(
        "path", nullable=True, default=None,
        doc="Where the teachers of distill.teachers are written. null: <output>.teachers "
            "beside the student's model directory."),
    weight=Field(
        "float", default=0.5, min=0, max=1,
        doc="The loss is (1 - weight) x the usual loss on the gold labels (with "
            "train.label_smoothing, or the CRF's) + weight x the cross-entropy against the "
            "teachers' averaged probabilities, for the intent and for each slot tag (padding "
            "excluded). 0: the gold labels only; 1: the teachers only."),
    temperature=Field(
        "float", default=1.0, min=0, exclusive_min=True,
        doc="Softens the teachers' and the student's distributions in the soft term "
            "(probabilities raised to 1/temperature and renormalised; the term is scaled by "
            "temperature squared). 1: as they are."),
)

SCHEMA: dict[str, Field] = {
    "name": Field("str", default=REQUIRED, doc="The run's name; outputs go to runs/<name> by default."),
    "data": _DATA,
    "model": _MODEL,
    "train": _TRAIN,
    "source": _SOURCE,
    "transfer": _TRANSFER,
    "tune": _TUNE,
    "predict": _PREDICT,
    "distill": _DISTILL,
    "output": Field("path", nullable=True, default=None,
                    doc="Where the trained model and reports are written. null: runs/<name>."),
}


def iter_fields(schema: dict[str, Field] = SCHEMA, prefix: str = "") -> Iterator[tuple[str, Field]]:
    """Yield `(dotted_key, field)` for every field, sections before their keys.

    Example:
        >>> dict(iter_fields())["train.early_stopping.patience"].default
        5
    """
    for name, field in schema.items():
        key = prefix + name
        yield key, field
        if field.type == "section":
            yield from iter_fields(field.fields, key + ".")


def get_field(dotted_key: str, schema: dict[str, Field] = SCHEMA) -> Field | None:
    """The field at `dotted_key`, or None when the schema has no such key.

    Example:
        >>> get_field("model.units").default
        128
        >>> get_field("model.unit") is None
        True
    """
    field = None
    for name in dotted_key.split("."):
        if schema is None or name not in schema:
            return None
        field = schema[name]
        schema = field.fields
    return field


def default_value(field: Field) -> Any:
    """A field's default as a fresh plain value (tuples become lists).

    Example:
        >>> default_value(SCHEMA["model"].fields["embeddings"])
        ['word', 'char']
    """
    if field.type == "section":
        return None if field.nullable else defaults(field.fields)
    if isinstance(field.default, tuple):
        return list(field.default)
    return field.default


def defaults(schema: dict[str, Field] = SCHEMA) -> dict:
    """The nested dict of default values; required keys are left out.

    Example:
        >>> defaults()["train"]["early_stopping"]
        {'patience': 5, 'monitor': 'joint'}
    """
    return {name: default_value(field) for name, field in schema.items() if not field.required}
