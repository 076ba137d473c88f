"""Every tutorial block marked `<!-- runnable -->` runs, in order, as a user would.

Shell blocks run with bash in a scratch folder holding a copy of `recipes/`;
`pip install` lines are skipped (the package is installed already) and every
`slukit train` or `slukit curve` gets `--set train.epochs=1` so the suite stays
fast. The ATIS tutorial runs on the demo data written in ATIS's layout. Python
blocks run with this interpreter in the same folder. A tutorial whose commands
stop working fails here.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = sorted((ROOT / "tutorials").glob("*.md"))
BLOCK = re.compile(r"<!-- runnable -->\s*\n```(bash|python)\n(.*?)```", re.S)


def runnable_blocks(path):
    return [(lang, code) for lang, code in BLOCK.findall(path.read_text(encoding="utf-8"))]


def shorten(command):
    command = "\n".join(line for line in command.splitlines() if not line.strip().startswith("pip install"))
    return re.sub(r"(slukit (?:train|curve) \S+)", r"\1 --set train.epochs=1", command)


def test_tutorials_have_runnable_blocks():
    assert TUTORIALS and all(runnable_blocks(t) for t in TUTORIALS)


def write_atis_standin(folder):
    """ATIS is not shipped: the ATIS tutorial runs on the demo data written in
    ATIS's layout (`seq.in`, `seq.out`, `label` per split)."""
    from slukit.data.sources import builtin_path
    from slukit.data.readers import read_examples

    for split in ("train", "valid", "test"):
        examples = read_examples(builtin_path("demo-en", split), format="jsonl")
        out = folder / split
        out.mkdir(parents=True)
        for name, column in (("seq.in", lambda e: " ".join(e.tokens)),
                             ("seq.out", lambda e: " ".join(e.tags)), ("label", lambda e: e.intent)):
            (out / name).write_text("".join(column(e) + "\n" for e in examples), encoding="utf-8")


@pytest.mark.parametrize("tutorial", TUTORIALS, ids=lambda p: p.stem)
def test_tutorial_runs(tutorial, tmp_path):
    shutil.copytree(ROOT / "recipes", tmp_path / "recipes")
    write_atis_standin(tmp_path / "data" / "atis")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "SLUKIT_DATA": str(tmp_path / "data")}
    for lang, code in runnable_blocks(tutorial):
        if lang == "bash":
            cmd = ["bash", "-euo", "pipefail", "-c", shorten(code)]
        else:
            cmd = [sys.executable, "-c", code]
        done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"{tutorial.name}: {code}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"


#: Recipe paths the docs name on purpose although they do not exist (error examples).
MISSING_ON_PURPOSE = {"recipes/none.yaml", "recipes/x.yaml"}


def test_the_docs_name_only_recipes_that_exist():
    """docs/scaling.md once used `recipes/atis.yaml`, which does not exist."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md")), *TUTORIALS]
    named = {(page.relative_to(ROOT).as_posix(), path) for page in pages
             for path in re.findall(r"recipes/[\w./-]+?\.yaml", page.read_text(encoding="utf-8"))}
    assert len(named) > 10
    missing = sorted((page, path) for page, path in named
                     if path not in MISSING_ON_PURPOSE and not (ROOT / path).is_file())
    assert missing == []
