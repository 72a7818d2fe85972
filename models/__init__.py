"""ONNX models on NB-SMT: loading, quantization, per-layer study (docs/models.md)."""
