"""The generated reference pages (slukit.reference) cover the schema and the CLI, and stay light."""

import argparse
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

from slukit.cli import build_parser
from slukit.recipe.schema import SCHEMA, iter_fields
from slukit.reference import (
    cli_reference_markdown,
    field_default,
    field_type,
    recipe_reference_markdown,
    slugify,
)

ROOT = Path(__file__).resolve().parent.parent


def _sections(page: str) -> dict[str, str]:
    """`{heading: text}` of a page's `## ` sections."""
    parts = re.split(r"^## (.+)$", page, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2]))


def _row(page: str, key: str) -> list[str]:
    """The cells of the table row whose first cell is `key`."""
    for line in page.splitlines():
        if line.startswith(f"| `{key}` |"):
            return [cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]]
    raise AssertionError(f"no table row for {key}")


def test_every_schema_key_has_a_row_with_its_type_and_default():
    page = recipe_reference_markdown()
    for key, field in iter_fields():
        row = _row(page, key)
        assert row[1] == field_type(field).replace("|", "\\|")
        assert row[2] == field_default(field)
        if field.doc:
            assert " ".join(field.doc.split()).split(".")[0] in row[3]
        for choice in field.allowed():
            assert f"`{choice}`" in row[1]


def test_every_section_has_its_own_table_with_exactly_its_keys():
    sections = _sections(recipe_reference_markdown())
    top = sections.pop("Top-level keys")
    assert [r.split("`")[1] for r in top.splitlines() if r.startswith("| `")] == list(SCHEMA)
    section_keys = [key for key, field in iter_fields() if field.type == "section"]
    for key in section_keys:
        rows = [r.split("`")[1] for r in sections[key].splitlines() if r.startswith("| `")]
        field = dict(iter_fields())[key]
        assert rows == [f"{key}.{name}" for name in field.fields]


def test_recipe_reference_shows_ranges_nullability_and_requirements():
    page = recipe_reference_markdown()
    assert _row(page, "name")[2] == "**required**"
    assert _row(page, "train.learning_rate")[1] == "number, > 0"
    assert _row(page, "model.dropout")[1] == "number, ≥ 0 and < 1"
    assert _row(page, "data.builtin")[1].endswith("or `null`")
    assert _row(page, "model.embeddings")[2] == "`[word, char]`"


def test_every_default_block_is_a_valid_recipe():
    import yaml

    from slukit.recipe.load import RecipeLoader, validate

    block = recipe_reference_markdown().split("```yaml\n", 1)[1].split("```", 1)[0]
    recipe = validate(yaml.load(block, Loader=RecipeLoader))
    assert recipe["train"]["epochs"] == SCHEMA["train"].fields["epochs"].default


def test_every_subcommand_and_flag_is_in_the_cli_reference():
    parser = build_parser()
    page = cli_reference_markdown(parser)
    sections = _sections(page)
    for action in parser._actions:
        for option in action.option_strings:
            assert f"`{option}" in sections["Options of `slukit`"], option
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert subparsers.choices, "the parser has no subcommands"
    for name, sub in subparsers.choices.items():
        section = sections[f"slukit {name}"]
        assert sub.description in section
        assert " ".join(sub.format_usage().split()) in section
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            names = action.option_strings or [action.metavar or action.dest.upper()]
            for option in names:
                assert f"`{option}" in section, (name, option)
            if action.help:
                assert " ".join(action.help.split()) in section
            for choice in action.choices or ():
                assert f"`{choice}`" in section


def test_cli_reference_walks_the_parser_rather_than_a_fixed_list():
    parser = argparse.ArgumentParser(prog="tool", description="A tool.")
    commands = parser.add_subparsers(dest="command")
    frob = commands.add_parser("frobnicate", help="frobnicate things", description="Frobnicates.")
    frob.add_argument("--zap", choices=("a", "b"), default="a", help="zap level (default: %(default)s)")
    page = cli_reference_markdown(parser)
    assert "## tool frobnicate" in page and "Frobnicates." in page
    assert "`--zap {a,b}`" in page and "zap level (default: a)" in page and "default: `a`" in page


def test_anchors_match_markdown_headings():
    toc = pytest.importorskip("markdown.extensions.toc")
    for text in ("train.early_stopping", "slukit train", "Top-level keys", "Options of `slukit`"):
        assert slugify(text) == toc.slugify(text.replace("`", ""), "-")
    page = recipe_reference_markdown() + cli_reference_markdown()
    headings = {slugify(h.replace("`", "")) for h in re.findall(r"^#+ (.+)$", page, flags=re.MULTILINE)}
    for anchor in re.findall(r"\]\(#([^)]+)\)", page):
        assert anchor in headings, anchor


def test_generating_the_references_imports_no_tensorflow_keras_or_numpy():
    code = (
        "import sys\n"
        "from slukit.reference import cli_reference_markdown, recipe_reference_markdown\n"
        "assert recipe_reference_markdown() and cli_reference_markdown()\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'jax', 'numpy'))\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, cwd=ROOT, timeout=60)


@pytest.mark.skipif(importlib.util.find_spec("mkdocs") is None, reason="needs the docs extra")
def test_mkdocs_hook_adds_the_generated_pages(tmp_path):
    from mkdocs.config import load_config
    from mkdocs.structure.files import Files

    config = load_config(str(ROOT / "mkdocs.yml"), site_dir=str(tmp_path / "site"))
    files = config.plugins.on_files(Files([]), config=config)  # runs docs/hooks.py as mkdocs does
    pages = {f.src_uri: f.content_string for f in files}
    assert pages["reference/recipe.md"] == recipe_reference_markdown()
    assert pages["reference/cli.md"] == cli_reference_markdown()
    assert not (ROOT / "docs" / "reference").exists()  # virtual files: nothing is written into docs/
