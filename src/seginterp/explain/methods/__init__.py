"""The attribution methods, one module each, named in :mod:`seginterp.explain.registry`."""
