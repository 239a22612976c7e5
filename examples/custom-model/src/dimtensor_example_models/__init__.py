"""Architectures for dimtensor-serve from an installed package (entry-point group
``dimtensor_serve.architectures``): ``spring_mass``, :mod:`dimtensor_example_models.spring`."""
