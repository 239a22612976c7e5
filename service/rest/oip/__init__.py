"""The Open Inference Protocol (KServe "V2") door, its tensors and its ``{"error"}`` shape."""
