"""Text -> ids: vocabularies, label maps and the text rules (see `SLUPreprocessor`)."""

from slukit.preprocess.preprocessor import SLUPreprocessor
from slukit.preprocess.vocab import PAD, UNK, Vocabulary

__all__ = ["SLUPreprocessor", "Vocabulary", "PAD", "UNK"]
