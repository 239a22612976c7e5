"""The native protocol's doors (``/predict``, ``/v1/...``, health) and its error shape,
RFC 9457 problem details."""
