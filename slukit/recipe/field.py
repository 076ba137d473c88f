"""`Field`: one recipe setting as data (its type, default, choices, bounds, relations).

`slukit.recipe.schema.SCHEMA` is built from these; validation, defaults, `--set`
and the reference docs read them.

Example:
    >>> Field("int", default=3, min=1).required, Field("str", default=REQUIRED).required
    (False, True)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable


TYPES = ("str", "int", "float", "bool", "path", "list_of_path", "choice", "list_of_choice", "section",
         "search_space")


class _Required:
    """The default of a field that a recipe must give."""

    def __repr__(self):
        return "REQUIRED"


REQUIRED = _Required()


@dataclass(frozen=True)
class Field:
    """One recipe setting.

    Args:
        type: one of `TYPES`. `path` is a string naming a file or folder;
            `list_of_path` is a non-empty list of paths; `choice` is one string out of `choices`; `list_of_choice` is a
            non-empty list of distinct strings out of `choices`; `section` is
            a mapping whose keys are `fields`; `search_space` maps dotted
            `model.`/`train.` keys to search specs (`tune.space`).
        default: the value used when the recipe leaves the key out, or
            `REQUIRED`. Lists are given as tuples (fields are immutable).
        doc: one or two sentences for the reference docs and error messages.
        choices: the allowed strings, or a function returning them (so that a
            registry such as `ENCODERS` can grow); read them with `allowed()`.
        min, max: bounds for `int` and `float` fields.
        exclusive_min, exclusive_max: whether the bound itself is excluded.
        nullable: whether `null` is a valid value.
        fields: the keys of a `section`.
        required_unless: the name of a sibling key (or a tuple of names); this
            field must have a value unless that sibling (one of them) has one.
        excludes: names of sibling keys that must be left out (or null)
            when this field has a value.
        many: a `section` that may also be given as a list of such sections
            (`source.data`: several data sets).

    Example:
        >>> Field("int", default=2, min=1, doc="Number of layers.").required
        False
    """

    type: str
    default: Any = None
    doc: str = ""
    choices: tuple | Callable[[], tuple] = ()
    min: float | None = None
    max: float | None = None
    exclusive_min: bool = False
    exclusive_max: bool = False
    nullable: bool = False
    fields: dict[str, "Field"] | None = None
    required_unless: str | tuple | None = None
    excludes: tuple = ()
    many: bool = False

    def __post_init__(self):
        if self.type not in TYPES:
            raise ValueError(f"unknown field type {self.type!r}; expected one of {TYPES}")
        if (self.type == "section") != (self.fields is not None):
            raise ValueError("a section (and only a section) has fields")

    @property
    def required(self) -> bool:
        """Whether a recipe must give this key (`required_unless` aside)."""
        return self.default is REQUIRED

    def allowed(self) -> tuple:
        """The allowed strings of a `choice` or `list_of_choice` field.

        Example:
            >>> from slukit.recipe.schema import SCHEMA
            >>> SCHEMA["model"].fields["encoder"].allowed()[:2]
            ('bilstm', 'gru')
        """
        return tuple(self.choices() if callable(self.choices) else self.choices)


def _section(doc: str, nullable: bool = False, **fields: Field) -> Field:
    """A section; a nullable one is None unless the recipe gives it."""
    return Field("section", doc=doc, fields=fields, nullable=nullable)
