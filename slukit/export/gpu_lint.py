"""Static checks of a .tflite for LiteRT's GPU accelerator, without a GPU.

`lint_tflite(model)` reads the flatbuffer with the schema module that
`ai-edge-litert` ships (no TensorFlow) and flags what the accelerator
(ai-edge-litert 2.3.0, WebGPU over Vulkan, NVIDIA H100) was seen to reject or
to compute wrongly (see `shared/FACTS.md` and `shared/litert-gpu/`):

- `GATHER` whose indices are not 1-D (rejected),
- `DEQUANTIZE` (rejected; float16-quantized weights add one per weight),
- `STRIDED_SLICE` above version 2 (rejected; `keras.layers.MultiHeadAttention`),
- 4-D `TRANSPOSE` (a head split/merge: runs, but computes wrong values),
- an op that takes the same computed (non-constant) tensor twice, like
  `matmul(x, x)` (aborts the GPU delegate),
- any op that is not a TFLite builtin (custom or Flex ops).

`Analyzer(gpu_compatibility=True)` (`analyzer_report`) called "compatible"
models that the accelerator rejected, so its text is informative only. A static
check is a proxy: only a run on a GPU (`shared/litert-gpu/gpu_parity.py`)
settles it.

Example:
    >>> findings = lint_tflite("model.tflite")                      # doctest: +SKIP
    >>> [f.message for f in findings if f.kind != "dequantize"]      # doctest: +SKIP
    []
"""

import collections
import dataclasses
from pathlib import Path

import numpy as np


@dataclasses.dataclass
class Finding:
    """One problem: `kind` is a short key, `message` a complete sentence."""

    subgraph: int
    op_index: int
    op: str
    kind: str
    message: str

    def __str__(self):
        return f"subgraph {self.subgraph} op {self.op_index} {self.op}: {self.message}"


def _schema():
    from ai_edge_litert import schema_py_generated as schema

    return schema


def _read_model(model):
    """`model`: a path or the flatbuffer's bytes."""
    data = model if isinstance(model, (bytes, bytearray)) else Path(model).read_bytes()
    schema = _schema()
    return schema, schema.Model.GetRootAs(bytes(data), 0)


def _op_names(schema):
    return {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}


def _op_name(model, names, op):
    code = model.OperatorCodes(op.OpcodeIndex())
    builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
    name = names.get(builtin, f"BUILTIN_{builtin}")
    if name == "CUSTOM":
        custom = code.CustomCode()
        name = f"CUSTOM:{custom.decode() if custom else '?'}"
    return name, code.Version()


def op_counts(model):
    """`Counter` of op names (all subgraphs) of a .tflite path or bytes."""
    schema, m = _read_model(model)
    names = _op_names(schema)
    counts = collections.Counter()
    for g in range(m.SubgraphsLength()):
        sg = m.Subgraphs(g)
        for i in range(sg.OperatorsLength()):
            counts[_op_name(m, names, sg.Operators(i))[0]] += 1
    return counts


def lint_tflite(model):
    """The GPU findings of a .tflite (path or bytes), as a list of `Finding`s."""
    schema, m = _read_model(model)
    names = _op_names(schema)
    found = []
    for g in range(m.SubgraphsLength()):
        sg = m.Subgraphs(g)

        def shape(t):
            if t < 0:
                return []
            tensor = sg.Tensors(t)
            return list(tensor.ShapeAsNumpy()) if tensor.ShapeLength() else []

        def is_constant(t):
            buffer = sg.Tensors(t).Buffer()
            return buffer > 0 and (m.Buffers(buffer).DataLength() > 0
                                   or m.Buffers(buffer).Size() > 0)

        for i in range(sg.OperatorsLength()):
            op = sg.Operators(i)
            name, version = _op_name(m, names, op)
            ins = [op.Inputs(j) for j in range(op.InputsLength())]

            def add(kind, message):
                found.append(Finding(g, i, name, kind, message))

            if name.startswith("CUSTOM") or name.startswith("BUILTIN_") or name == "DELEGATE":
                add("not_builtin", "not a TFLite builtin op")
            elif name == "GATHER" and len(ins) > 1 and len(shape(ins[1])) != 1:
                add("gather_indices", f"GATHER with {len(shape(ins[1]))}-D indices "
                                      "(the GPU accelerator takes 1-D indices only)")
            elif name == "DEQUANTIZE":
                add("dequantize", "DEQUANTIZE (quantized weights expanded at run time) is not "
                                  "taken by the GPU accelerator")
            elif name == "STRIDED_SLICE" and version > 2:
                add("strided_slice_version", f"STRIDED_SLICE version {version} "
                                             "(the GPU accelerator takes version <= 2)")
            elif name == "TRANSPOSE" and ins and len(shape(ins[0])) == 4:
                perm = "?"
                if len(ins) > 1 and ins[1] >= 0:
                    data = m.Buffers(sg.Tensors(ins[1]).Buffer()).DataAsNumpy()
                    if not isinstance(data, int):
                        perm = [int(v) for v in np.frombuffer(data.tobytes(), np.int32)]
                add("transpose_4d", f"4-D TRANSPOSE perm {perm} (a 4-D head split/merge ran on "
                                    "the GPU but computed wrong values)")
            # Constant operands (shapes, slice bounds, weights) are read as attributes;
            # a computed tensor consumed twice by one op is what aborts the delegate.
            computed = [t for t in ins if t >= 0 and not is_constant(t)]
            if len(set(computed)) != len(computed):
                add("same_tensor_twice", "takes the same computed tensor as two inputs "
                                         "(aborts the GPU delegate)")
    return found


def analyzer_report(model_content):
    """The text of `tf.lite.experimental.Analyzer.analyze(..., gpu_compatibility=True)`.

    Informative only: it called "compatible" models that the GPU accelerator
    rejected (see the module docstring). Imports TensorFlow.
    """
    import contextlib
    import io

    import tensorflow as tf

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        tf.lite.experimental.Analyzer.analyze(model_content=bytes(model_content),
                                              gpu_compatibility=True)
    return buffer.getvalue()


def analyzer_verdict(text):
    """`"compatible"`, `"incompatible"` or `"unknown"` from an analyzer report."""
    if "GPU COMPATIBILITY WARNING" in text or "not supported by GPU" in text.lower():
        return "incompatible"
    if "Your model looks compatible with GPU delegate" in text:
        return "compatible"
    return "unknown"


def main(argv=None):
    """`python -m slukit.export.gpu_lint MODEL.tflite ...`: exit 1 on any finding."""
    import sys

    paths = sys.argv[1:] if argv is None else argv
    bad = 0
    for path in paths:
        findings = lint_tflite(path)
        bad += len(findings)
        print(f"{path}: {'GPU-clean' if not findings else f'{len(findings)} findings'}")
        for f in findings[:20]:
            print(f"  {f}")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
