"""HTTP over the data plane: the factory (``app``), the one route table (``routing``), the
operations layer (``operations``), and one folder per protocol's doors (``native``, ``oip``)."""
