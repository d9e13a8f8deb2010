"""Data: sources (download, unpack), mask decoding, preprocessing and the prepared arrays."""
