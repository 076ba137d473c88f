"""Text -> ids: vocabularies, label maps and the text rules (see `SLUPreprocessor`)."""

from slukit.preprocess.preprocessor import ExampleCounts, SLUPreprocessor
from slukit.preprocess.vocab import PAD, UNK, Vocabulary

__all__ = ["SLUPreprocessor", "ExampleCounts", "Vocabulary", "PAD", "UNK"]
