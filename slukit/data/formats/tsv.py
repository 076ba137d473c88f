"""The `tsv` format: a MultiATIS++ file with the header
`id<TAB>utterance<TAB>slot_labels<TAB>intent` (columns in any order).
"""

from slukit.data.formats.lines import _bad, _iter_lines, _need_file, _row
from slukit.errors import DataError


TSV_HEADER = ("id", "utterance", "slot_labels", "intent")


TSV_REQUIRED = ("utterance", "slot_labels", "intent")


def _read_tsv(path):
    """Read a MultiATIS++ TSV file, e.g. (with tabs between the columns)::

        id  utterance           slot_labels          intent
        1   fly to boston now   O O B-city O         atis_flight
    """
    _need_file(path, "tsv")
    return _tsv_rows(path)


def _tsv_rows(path):
    lines = _iter_lines(path)
    expected = "<TAB>".join(TSV_HEADER)
    _, first = next(lines, (None, None))
    if first is None:
        raise DataError(f"{path}: empty file; expected the header line {expected}")
    header = [name.strip() for name in first.split("\t")]
    missing = [name for name in TSV_REQUIRED if name not in header]
    if missing:
        raise DataError(
            f"{path}:1: the header has no column {', '.join(missing)}; expected the "
            f"header {expected} (any order, id optional), found {first!r}")
    column = {name: header.index(name) for name in TSV_HEADER if name in header}
    blame = dict.fromkeys(("tokens", "tags", "intent"), path)

    for line_no, line in lines:
        fields = line.split("\t")
        if not line.strip():
            yield _bad(path, line_no, "blank line")
        elif len(fields) != len(header):
            yield _bad(path, line_no, f"expected {len(header)} tab-separated fields "
                                      f"({', '.join(header)}), found {len(fields)}")
        else:
            record = {name: fields[i] for name, i in column.items()}
            yield _row(record["utterance"].split(), record["slot_labels"].split(),
                       record["intent"].strip(), blame, line_no, id=record.get("id", "").strip())
