"""seginterp: explain U-Net segmentations through their border pixels and score the explanations."""

__version__ = "0.1.0"
