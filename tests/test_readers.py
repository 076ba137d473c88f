"""Tests for slukit.data.readers: the seqin, tsv and jsonl readers (massive: test_massive.py)."""

import json
from pathlib import Path

import pytest

from slukit.data.example import Example
from slukit.data.readers import FORMATS, detect_format, read_examples
from slukit.errors import DataError

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
TSV_HEADER = "id\tutterance\tslot_labels\tintent\n"


# ---------------------------------------------------------------- helpers


def write_seqin(folder, seq_in, seq_out, label):
    """Write a seqin folder from three lists of lines (or raw strings)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, lines in (("seq.in", seq_in), ("seq.out", seq_out), ("label", label)):
        text = lines if isinstance(lines, str) else "".join(line + "\n" for line in lines)
        (folder / name).write_text(text, encoding="utf-8", newline="")
    return folder


def write_tsv(path, rows, header=TSV_HEADER):
    path.write_text(header + "".join("\t".join(row) + "\n" for row in rows),
                    encoding="utf-8", newline="")
    return path


def write_jsonl(path, objects):
    lines = [obj if isinstance(obj, str) else json.dumps(obj) for obj in objects]
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8", newline="")
    return path


def problems_of(excinfo):
    return "\n".join(excinfo.value.problems)


def good_seqin(tmp_path, n=3):
    return write_seqin(tmp_path / "train",
                       ["fly to boston"] * n, ["O O B-city"] * n, ["atis_flight"] * n)


# ---------------------------------------------------------------- reading each format


def test_formats_constant():
    assert FORMATS == ("seqin", "tsv", "jsonl", "massive")


def test_seqin_reads_with_whitespace_quirks_and_joint_intent(tmp_path):
    folder = write_seqin(
        tmp_path / "train",
        ["fly to  new york ", "  play jazz"],
        ["O O B-city I-city", "O B-genre  "],
        ["atis_flight#atis_airfare", " PlayMusic "],
    )
    examples = read_examples(folder)
    assert examples == [
        Example(("fly", "to", "new", "york"), ("O", "O", "B-city", "I-city"),
                "atis_flight#atis_airfare", source=f"{folder / 'seq.in'}:1"),
        Example(("play", "jazz"), ("O", "B-genre"), "PlayMusic",
                source=f"{folder / 'seq.in'}:2"),
    ]


def test_seqin_tolerates_crlf_bom_and_trailing_blank_lines(tmp_path):
    folder = write_seqin(tmp_path / "train",
                         "\ufefffly to boston\r\nplay jazz\r\n",
                         "O O B-city\r\nO B-genre\r\n\r\n",
                         "atis_flight\r\nPlayMusic\n\n  \n")
    examples = read_examples(folder, format="seqin")
    assert [e.tokens for e in examples] == [("fly", "to", "boston"), ("play", "jazz")]
    assert [e.intent for e in examples] == ["atis_flight", "PlayMusic"]


def test_seqin_accepts_i_tag_without_b(tmp_path):
    folder = write_seqin(tmp_path / "d", ["to boston"], ["O I-city"], ["atis_flight"])
    assert read_examples(folder)[0].tags == ("O", "I-city")


def test_tsv_reads(tmp_path):
    path = write_tsv(tmp_path / "train.tsv", [
        ("1", "Flüge nach  San Francisco", "O O B-city I-city", "atis_flight#atis_airfare"),
        ("2", "hallo", "O", "greet"),
    ])
    examples = read_examples(path)
    assert examples[0] == Example(("Flüge", "nach", "San", "Francisco"),
                                  ("O", "O", "B-city", "I-city"), "atis_flight#atis_airfare",
                                  source=f"{path}:2", id="1")
    assert examples[1].source == f"{path}:3"
    assert examples[1].id == "2"


def test_tsv_columns_in_any_order_and_crlf(tmp_path):
    path = tmp_path / "train.tsv"
    path.write_bytes(b"\xef\xbb\xbfintent\tslot_labels\tid\tutterance\r\n"
                     b"PlayMusic\tO B-genre\t7\tplay jazz\r\n")
    [example] = read_examples(path)
    assert example == Example(("play", "jazz"), ("O", "B-genre"), "PlayMusic",
                              source=f"{path}:2", id="7")


def test_jsonl_reads(tmp_path):
    path = write_jsonl(tmp_path / "train.jsonl", [
        {"tokens": ["play", "jazz"], "tags": ["O", "B-genre"], "intent": "PlayMusic", "id": "a1"},
        {"tokens": ["fly"], "tags": ["O"], "intent": "atis_flight#atis_airfare"},
        "", "  ",  # blank lines at the end are fine
    ])
    examples = read_examples(path)
    assert examples == [
        Example(("play", "jazz"), ("O", "B-genre"), "PlayMusic", source=f"{path}:1", id="a1"),
        Example(("fly",), ("O",), "atis_flight#atis_airfare", source=f"{path}:2"),
    ]


# ---------------------------------------------------------------- detect_format


def test_detect_format(tmp_path):
    assert detect_format(good_seqin(tmp_path)) == "seqin"
    for name, expected in [("a.tsv", "tsv"), ("a.TSV", "tsv"), ("a.jsonl", "jsonl"),
                           ("a.json", "jsonl")]:
        (tmp_path / name).write_text("")
        assert detect_format(tmp_path / name) == expected
        assert detect_format(str(tmp_path / name)) == expected


def test_detect_format_unknown_names_the_formats(tmp_path):
    (tmp_path / "train.csv").write_text("x")
    (tmp_path / "empty").mkdir()
    for path in (tmp_path / "train.csv", tmp_path / "empty"):
        with pytest.raises(DataError) as excinfo:
            detect_format(path)
        message = str(excinfo.value)
        assert str(path) in message
        assert all(fmt in message for fmt in FORMATS)
        assert "format" in message


def test_detect_format_missing_path(tmp_path):
    with pytest.raises(DataError, match="no such file or folder"):
        detect_format(tmp_path / "nope")


def test_unknown_format_and_on_error_values(tmp_path):
    folder = good_seqin(tmp_path)
    with pytest.raises(DataError, match="unknown data format 'csv'"):
        read_examples(folder, format="csv")
    with pytest.raises(DataError, match="on_error"):
        read_examples(folder, on_error="ignore")


# ---------------------------------------------------------------- line-level problems


@pytest.mark.parametrize("seq_in, seq_out, label, file, message", [
    ("fly to boston", "O O", "atis_flight", "seq.out", "3 tokens but 2 tags"),
    ("   ", "O O", "atis_flight", "seq.in", "empty utterance"),
    ("", "", "atis_flight", "seq.in", "empty utterance"),
    ("fly to boston", "O O B-city", "  ", "label", "empty intent"),
    ("fly to boston", "O O X-city", "atis_flight", "seq.out", "tag 3 'X-city'"),
    ("fly to boston", "O O B-", "atis_flight", "seq.out", "tag 3 'B-'"),
    ("fly to boston", "O O city", "atis_flight", "seq.out", "tag 3 'city'"),
])
def test_seqin_line_problems(tmp_path, seq_in, seq_out, label, file, message):
    folder = write_seqin(tmp_path / "d",
                         ["play jazz", seq_in, "play rock"],
                         ["O B-genre", seq_out, "O B-genre"],
                         ["PlayMusic", label, "PlayMusic"])
    with pytest.raises(DataError) as excinfo:
        read_examples(folder)
    assert excinfo.value.problems[0].startswith(f"{folder / file}:2: ")
    assert message in excinfo.value.problems[0]
    assert excinfo.value.header.startswith(f"1 of 3 lines in {folder} is malformed")
    assert "on_error: skip" in excinfo.value.header


def test_seqin_blames_each_file(tmp_path):
    folder = write_seqin(tmp_path / "d", ["play jazz", "play rock"],
                         ["O Z", "O B-genre"], ["PlayMusic", ""])
    with pytest.raises(DataError) as excinfo:
        read_examples(folder)
    assert excinfo.value.problems == [
        f"{folder / 'seq.out'}:1: tag 2 'Z' is not O, B-type or I-type",
        f"{folder / 'label'}:2: empty intent",
    ]
    assert excinfo.value.header.startswith("2 of 2 lines")


@pytest.mark.parametrize("row, message", [
    ("1\tfly to boston\tO O\tatis_flight", "3 tokens but 2 tags"),
    ("1\t \t\tatis_flight", "empty utterance"),
    ("1\tfly to boston\tO O B-city\t", "empty intent"),
    ("1\tfly to boston\tO O Q-city\tatis_flight", "tag 3 'Q-city'"),
    ("1\tfly to boston\tO O B-city", "expected 4 tab-separated fields"),
    ("1\tfly to boston\tO O B-city\tatis_flight\textra", "found 5"),
    ("", "blank line"),
])
def test_tsv_line_problems(tmp_path, row, message):
    path = tmp_path / "train.tsv"
    path.write_text(TSV_HEADER + "1\tplay jazz\tO B-genre\tPlayMusic\n" + row + "\n"
                    + "3\tplay rock\tO B-genre\tPlayMusic\n", encoding="utf-8")
    with pytest.raises(DataError) as excinfo:
        read_examples(path)
    [problem] = excinfo.value.problems
    assert problem.startswith(f"{path}:3: ")
    assert message in problem


def test_tsv_missing_column_names_file_and_header(tmp_path):
    path = write_tsv(tmp_path / "train.tsv", [("1", "hi", "O")],
                     header="id\tutterance\tslot_labels\n")
    with pytest.raises(DataError) as excinfo:
        read_examples(path)
    message = str(excinfo.value)
    assert str(path) in message
    assert "intent" in message
    assert "id<TAB>utterance<TAB>slot_labels<TAB>intent" in message


def test_tsv_without_rows_is_an_error(tmp_path):
    path = write_tsv(tmp_path / "train.tsv", [])
    with pytest.raises(DataError, match="no examples"):
        read_examples(path, on_error="skip")
    (tmp_path / "empty.tsv").write_text("")
    with pytest.raises(DataError, match="empty file"):
        read_examples(tmp_path / "empty.tsv")


GOOD_JSON = {"tokens": ["play", "jazz"], "tags": ["O", "B-genre"], "intent": "PlayMusic"}


@pytest.mark.parametrize("line, message", [
    ('{"tokens": ["a"], "tags": ["O"], "intent": "x"', "invalid JSON: Expecting ',' delimiter"),
    ("not json", "invalid JSON: Expecting value"),
    ('["a", "b"]', "expected a JSON object, found a list"),
    ('{"tokens": ["a"], "intent": "x"}', 'missing key "tags"'),
    ('{"tokens": ["a"]}', 'missing keys "tags", "intent"'),
    ('{"tokens": "a b", "tags": ["O", "O"], "intent": "x"}', '"tokens" must be a list of strings'),
    ('{"tokens": ["a", 3], "tags": ["O", "O"], "intent": "x"}', "item 2 is a number"),
    ('{"tokens": ["a"], "tags": [null], "intent": "x"}', '"tags" must be a list of strings'),
    ('{"tokens": ["a"], "tags": ["O"], "intent": 5}', '"intent" must be a string'),
    ('{"tokens": ["a"], "tags": ["O"], "intent": "x", "id": [1]}', '"id" must be'),
    ('{"tokens": [], "tags": [], "intent": "x"}', "empty utterance"),
    ('{"tokens": ["a", "b"], "tags": ["O"], "intent": "x"}', "2 tokens but 1 tags"),
    ('{"tokens": ["a"], "tags": ["O"], "intent": " "}', "empty intent"),
    ('{"tokens": ["a"], "tags": ["b-x"], "intent": "x"}', "tag 1 'b-x'"),
    ("", "blank line"),
])
def test_jsonl_line_problems(tmp_path, line, message):
    path = write_jsonl(tmp_path / "train.jsonl", [GOOD_JSON, line, GOOD_JSON])
    with pytest.raises(DataError) as excinfo:
        read_examples(path)
    assert excinfo.value.problems[0].startswith(f"{path}:2: ")
    assert message in problems_of(excinfo)


def test_all_problems_are_collected_and_capped(tmp_path):
    n = 30
    path = write_jsonl(tmp_path / "train.jsonl",
                       [GOOD_JSON] + [{"tokens": ["a"], "tags": [], "intent": "x"}] * n)
    with pytest.raises(DataError) as excinfo:
        read_examples(path)
    error = excinfo.value
    assert error.header == (f"{n} of {n + 1} lines in {path} are malformed "
                            f"(set data.on_error: skip to drop them):")
    assert len(error.problems) == 21
    assert error.problems[0] == f"{path}:2: 1 tokens but 0 tags"
    assert error.problems[19].startswith(f"{path}:21: ")
    assert error.problems[20] == "... and 10 more"


# ---------------------------------------------------------------- skip mode


def test_skip_drops_exactly_the_bad_lines_and_reports_them(tmp_path):
    path = write_tsv(tmp_path / "train.tsv", [
        ("1", "play jazz", "O B-genre", "PlayMusic"),
        ("2", "play", "O B-genre", "PlayMusic"),
        ("3", "play rock", "O B-genre", "PlayMusic"),
        ("4", "play pop", "O B-genre", ""),
        ("5", "play soul", "O B-genre", "PlayMusic"),
    ])
    warnings = []
    examples = read_examples(path, on_error="skip", warn=warnings.append)
    assert [e.id for e in examples] == ["1", "3", "5"]
    [message] = warnings
    assert message.startswith(f"skipped 2 malformed of 5 lines in {path}:")
    assert f"{path}:3: 1 tokens but 2 tags" in message
    assert f"{path}:5: empty intent" in message


def test_skip_without_problems_does_not_warn(tmp_path):
    warnings = []
    assert len(read_examples(good_seqin(tmp_path), on_error="skip", warn=warnings.append)) == 3
    assert warnings == []


def test_skip_warns_on_stderr_by_default(tmp_path, capsys):
    folder = write_seqin(tmp_path / "d", ["a b", "a"], ["O O", "O O"], ["x", "x"])
    assert len(read_examples(folder, on_error="skip")) == 1
    assert f"{folder / 'seq.out'}:2: 1 tokens but 2 tags" in capsys.readouterr().err


def test_skip_caps_the_report(tmp_path):
    path = write_jsonl(tmp_path / "t.jsonl", [GOOD_JSON] + ["{bad"] * 25)
    warnings = []
    assert len(read_examples(path, on_error="skip", warn=warnings.append)) == 1
    assert "skipped 25 malformed of 26 lines" in warnings[0]
    assert "... and 5 more" in warnings[0]
    assert f"{path}:21:" in warnings[0] and f"{path}:22:" not in warnings[0]


def test_skip_with_every_line_bad_still_fails(tmp_path):
    path = write_jsonl(tmp_path / "t.jsonl", ["{bad", "[]"])
    with pytest.raises(DataError) as excinfo:
        read_examples(path, on_error="skip", warn=pytest.fail)
    assert excinfo.value.header.startswith(f"2 of 2 lines in {path} are malformed")
    assert len(excinfo.value.problems) == 2


def test_empty_file_fails_even_with_skip(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text("\n\n")
    with pytest.raises(DataError, match="no examples"):
        read_examples(path, on_error="skip")


# ---------------------------------------------------------------- file-level problems


def test_bad_utf8_reports_line_and_offset(tmp_path):
    path = tmp_path / "train.tsv"
    path.write_bytes(TSV_HEADER.encode() + b"1\tplay jazz\tO B-genre\tPlayMusic\n"
                     + b"2\tcaf\xe9 au lait\tO O O\tOrder\n")
    with pytest.raises(DataError) as excinfo:
        read_examples(path, on_error="skip")
    message = str(excinfo.value)
    offset = len(TSV_HEADER) + len("1\tplay jazz\tO B-genre\tPlayMusic\n") + len("2\tcaf")
    assert message.startswith(f"{path}:3: not valid UTF-8")
    assert "0xe9" in message
    assert f"offset {offset} " in message
    assert "(5 in this line)" in message
    assert "re-save the file as UTF-8" in message


def test_bad_utf8_in_seqin_names_the_file(tmp_path):
    folder = good_seqin(tmp_path)
    (folder / "label").write_bytes(b"\xef\xbb\xbfatis_flight\nbad\xff\natis_flight\n")
    with pytest.raises(DataError) as excinfo:
        read_examples(folder)
    assert str(excinfo.value).startswith(f"{folder / 'label'}:2: not valid UTF-8")
    # The BOM counts in the file offset: 3 + len("atis_flight\nbad").
    assert "offset 18 " in str(excinfo.value)


def test_utf16_file_is_reported(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_bytes(json.dumps(GOOD_JSON).encode("utf-16"))
    with pytest.raises(DataError, match=r":1: not valid UTF-8 \(it looks like UTF-16\)"):
        read_examples(path)


def test_seqin_line_counts_differ(tmp_path):
    folder = write_seqin(tmp_path / "d", ["a", "b", "c"], ["O", "O"], ["x", "x", "x", "x"])
    with pytest.raises(DataError) as excinfo:
        read_examples(folder)
    assert str(folder) in excinfo.value.header
    assert excinfo.value.problems == [f"{folder / 'seq.in'}: 3 lines",
                                      f"{folder / 'seq.out'}: 2 lines",
                                      f"{folder / 'label'}: 4 lines"]


def test_seqin_missing_files(tmp_path):
    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "seq.in").write_text("a\n")
    with pytest.raises(DataError) as excinfo:
        read_examples(folder)  # detected as seqin because seq.in is there
    message = str(excinfo.value)
    assert str(folder) in message
    assert "missing seq.out, label" in message


def test_seqin_missing_folder(tmp_path):
    with pytest.raises(DataError) as excinfo:
        read_examples(tmp_path / "nope", format="seqin")
    message = str(excinfo.value)
    assert f"{tmp_path / 'nope'}: folder not found" in message
    assert "seq.in, seq.out and label" in message


def test_seqin_format_on_a_file(tmp_path):
    (tmp_path / "x.tsv").write_text(TSV_HEADER)
    with pytest.raises(DataError, match="needs a folder"):
        read_examples(tmp_path / "x.tsv", format="seqin")


@pytest.mark.parametrize("fmt, name", [("tsv", "train.tsv"), ("jsonl", "train.jsonl")])
def test_missing_file(tmp_path, fmt, name):
    with pytest.raises(DataError, match=f"{name}: file not found"):
        read_examples(tmp_path / name, format=fmt)
    with pytest.raises(DataError, match=f"{name}: no such file or folder"):
        read_examples(tmp_path / name)


def test_file_format_on_a_folder(tmp_path):
    with pytest.raises(DataError, match="is a folder"):
        read_examples(good_seqin(tmp_path), format="jsonl")


# ---------------------------------------------------------------- real data


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason=f"{SHARED_DATA} is absent")
@pytest.mark.parametrize("relative, count", [
    ("atis/train", 4478),
    ("snips/train", 13084),
    ("multiatis/de/train.tsv", 4488),
])
def test_real_datasets(relative, count):
    examples = read_examples(SHARED_DATA / relative)
    assert len(examples) == count
    assert all(len(e.tokens) == len(e.tags) > 0 and e.intent for e in examples)
