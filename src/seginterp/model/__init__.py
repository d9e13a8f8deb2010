"""The model: architectures, training, checkpoints and predictions."""
