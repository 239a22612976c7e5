"""HTTP doors over the data plane: native JSON API now, Open Inference Protocol next."""
