"""One module a data format, each turning its files into rows of checked examples.

| format | module | what it reads |
|---|---|---|
| `seqin` | `formats/seqin.py` | a folder of `seq.in`, `seq.out`, `label` |
| `tsv` | `formats/tsv.py` | MultiATIS++ `.tsv` |
| `jsonl` | `formats/jsonl.py` | one `{"tokens", "tags", "intent"}` object a line |
| `massive` | `formats/massive.py` | Amazon MASSIVE records (`utt`, `annot_utt`) |

`formats/lines.py` holds what they share. `slukit.data.readers` picks the reader
(`detect_format`), applies `on_error` and is the public entry point.
"""
