"""The GPU verdict of an exported `.tflite`: the static lint's findings as errors and
warnings, and the TFLite analyzer's text (informative only; see `slukit.export.gpu_lint`).
"""


FLOAT16_NOTE = ("float16 weights are stored as fp16 and expanded by DEQUANTIZE ops, which "
                "LiteRT's GPU accelerator (ai-edge-litert 2.3.0) rejects: this file runs on "
                "the CPU, or with HardwareAccelerator.GPU | CPU split between the two. An fp32 "
                "export already computes in fp16 on that GPU (relative error 2e-4). Android's "
                "OpenCL GPU delegate is documented to take float16-weight models; not run here.")


STATIC_NOTE = ("Static checks only: builtin ops, 1-D GATHER indices, no DEQUANTIZE, STRIDED_SLICE "
               "<= v2, no 4-D TRANSPOSE, no op taking one computed tensor twice. "
               "Analyzer(gpu_compatibility=True) called models compatible that the accelerator "
               "rejected; whether the GPU takes the whole graph, its fp16 error and its speed are "
               "settled only by a run on a GPU (shared/litert-gpu/gpu_parity.py).")


def summarize_findings(findings, examples=3):
    """One line per kind of finding: count, op, message and where the first ones are."""
    groups = {}
    for f in findings:
        groups.setdefault((f.kind, f.op, f.message), []).append(f)
    lines = []
    for (_, op, message), group in groups.items():
        where = ", ".join(f"subgraph {f.subgraph} op {f.op_index}" for f in group[:examples])
        more = ", ..." if len(group) > examples else ""
        lines.append(f"{len(group)} x {op}: {message} (at {where}{more})")
    return lines


def gpu_check(content, quantize, analyzer=True):
    """Lint findings split into errors and warnings, plus the analyzer's text."""
    from slukit.export.gpu_lint import analyzer_report, analyzer_verdict, lint_tflite

    findings = lint_tflite(content)
    errors = summarize_findings([f for f in findings
                                 if not (f.kind == "dequantize" and quantize == "float16")])
    warnings = summarize_findings([f for f in findings
                                   if f.kind == "dequantize" and quantize == "float16"])
    result = {"errors": errors, "warnings": warnings, "findings": len(findings),
              "note": STATIC_NOTE}
    if quantize == "float16":
        result["float16"] = FLOAT16_NOTE
    if analyzer:
        text = analyzer_report(content)
        result["analyzer_verdict"] = analyzer_verdict(text)
        result["analyzer_summary"] = [line.strip() for line in text.splitlines()
                                      if "GPU" in line or "gpu" in line]
        result["analyzer_text"] = text
    return result
