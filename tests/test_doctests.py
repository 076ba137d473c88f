"""Runs every `>>>` example in slukit's docstrings (keras-hub's docstring test, in pytest).

One test a module that holds an example, so a failure names the module. An example that
cannot run fast (it trains, or needs an exported model) says so with `# doctest: +SKIP`
on its own line; nothing is skipped here without being listed.
"""

import doctest
import importlib
import pkgutil
from pathlib import Path

import pytest

import slukit

ROOT = Path(slukit.__file__).parent


def _modules_with_examples():
    names = []
    for info in pkgutil.walk_packages([str(ROOT)], prefix="slukit."):
        path = ROOT.joinpath(*info.name.split(".")[1:])
        source = path / "__init__.py" if info.ispkg else path.with_suffix(".py")
        if ">>>" in source.read_text(encoding="utf-8"):
            names.append(info.name)
    return sorted(names)


MODULES = _modules_with_examples()

#: Modules whose every example is `+SKIP`, and why it cannot run fast; the list must be exact.
ONLY_SKIPPED = {
    "slukit.export.gpu_lint": "needs an exported .tflite model",
    "slukit.export.saved_model": "converts a trained model with TensorFlow",
    "slukit.predict": "needs a trained model directory",
    "slukit.serve": "starts a server that runs until it is stopped",
    "slukit.tune": "runs a search (trains many models)",
}


def test_the_examples_are_found():
    assert len(MODULES) >= 40, MODULES
    assert "slukit.errors" in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name, monkeypatch):
    monkeypatch.delenv("SLUKIT_DATA", raising=False)
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
                             report=False, verbose=False)
    if name in ONLY_SKIPPED:
        assert result.attempted == 0, f"{name}: runs examples now; take it off ONLY_SKIPPED"
        return
    assert result.attempted > 0, f"{name}: every example is skipped; make one run, or list " \
                                 "the module in ONLY_SKIPPED with the reason"
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} examples failed " \
                               f"(run `python -m doctest -v {name.replace('.', '/')}.py`)"
