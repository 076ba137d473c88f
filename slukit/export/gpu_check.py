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


#: What runs on LiteRT's GPU accelerator measured per encoder, beyond the static checks:
#: `benchmarks/gpu_parity.py` on an NVIDIA H200 (ai-edge-litert 2.3.0, WebGPU over Vulkan),
#: 2026-12-04, every utterance against Keras and the CPU interpreter. `wrong` refuses the export
#: for the GPU as a lint error does; encoders not listed were not run on a GPU.
GPU_MEASURED = {
    "highway_lstm": ("correct", "ATIS, SNIPS and MASSIVE de models: fp32 gave Keras's intents and "
                                "tags on every utterance (probabilities within 3e-6); fp16 on "
                                "99.9-100%"),
    "mha": ("correct", "ATIS: fp32 identical (1e-6); fp16 99.6% of tag sequences"),
    "biattention": ("correct", "ATIS: fp32 identical (2e-6); fp16 99.8% of tag sequences"),
    "gru": ("wrong", "LiteRT's GPU accelerator computed the unrolled GRU wrongly, in enforced fp32 "
                     "as in fp16: 97.0% of ATIS tag sequences as on the CPU, probabilities off by "
                     "up to 0.15; use another encoder for the GPU"),
}


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


def gpu_check(content, quantize, analyzer=True, encoder=None):
    """Lint findings split into errors and warnings, plus the analyzer's text; an `encoder`
    that a GPU run found computed wrongly (`GPU_MEASURED`) is an error too."""
    from slukit.export.gpu_lint import analyzer_report, analyzer_verdict, lint_tflite

    findings = lint_tflite(content)
    errors = summarize_findings([f for f in findings
                                 if not (f.kind == "dequantize" and quantize == "float16")])
    warnings = summarize_findings([f for f in findings
                                   if f.kind == "dequantize" and quantize == "float16"])
    verdict, measured = GPU_MEASURED.get(encoder, (None, "not run on a GPU"))
    if verdict == "wrong":
        errors.append(f"encoder {encoder}: {measured}")
    result = {"errors": errors, "warnings": warnings, "findings": len(findings),
              "note": STATIC_NOTE, "measured_on_gpu": f"{encoder}: {measured}"}
    if quantize == "float16":
        result["float16"] = FLOAT16_NOTE
    if analyzer:
        text = analyzer_report(content)
        result["analyzer_verdict"] = analyzer_verdict(text)
        result["analyzer_summary"] = [line.strip() for line in text.splitlines()
                                      if "GPU" in line or "gpu" in line]
        result["analyzer_text"] = text
    return result
