"""The data sources, one module each, named in :mod:`.registry`."""
