"""Compatibility shim: ``asd.featurepack`` moved into the :mod:`asd.features` package."""

# compatibility shim: remove after merge (importers: use asd.features)
from .features import *  # noqa: F401,F403
from .features import __all__  # noqa: F401
