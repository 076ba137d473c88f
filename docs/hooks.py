"""Build-time helpers for the documentation (mkdocs hooks and one griffe extension).

- `on_files` (an mkdocs hook, `hooks:` in mkdocs.yml) adds the reference pages
  generated from the code: `reference/recipe.md` from
  `slukit.recipe.schema.SCHEMA` and `reference/cli.md` from
  `slukit.cli.build_parser()` (see `slukit.reference`). They are virtual
  files: nothing is written into docs/, so they cannot go stale. Neither
  imports Keras or TensorFlow.
- `ExampleSections` (a griffe extension, `extensions:` of the mkdocstrings
  python handler) reads slukit's `Example:` docstring sections as Google-style
  `Examples:` sections, so that their `>>>` lines render as code.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parent.parent


def _pages() -> dict[str, str]:
    if str(ROOT) not in sys.path:  # document this checkout, installed or not (mkdocs resets
        sys.path.insert(0, str(ROOT))  # sys.path after loading a hook, so not at import)
    from slukit.reference import cli_reference_markdown, recipe_reference_markdown

    return {
        "reference/recipe.md": recipe_reference_markdown(),
        "reference/cli.md": cli_reference_markdown(),
    }


def on_files(files: Files, config) -> Files:
    for path, content in _pages().items():
        stale = files.get_file_from_path(path)
        if stale is not None:  # a hand-written copy would drift: the generated page wins
            files.remove(stale)
        files.append(File.generated(config, path, content=content))
    return files


try:
    from griffe import Extension
except ImportError:  # mkdocstrings-python not installed: only the hook above is used
    Extension = object

_EXAMPLE_HEADING = re.compile(r"^(\s*)Example:[ \t]*$", re.MULTILINE)


class ExampleSections(Extension):
    """Griffe extension: an `Example:` section heading becomes `Examples:`.

    Griffe's Google parser knows only the plural; the singular would be read as
    an admonition whose `>>>` lines render as nested block quotes.
    """

    def on_object(self, *, obj, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = _EXAMPLE_HEADING.sub(r"\1Examples:", obj.docstring.value)
