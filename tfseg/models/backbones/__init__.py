"""Backbones written in Keras with the layer layout of published PyTorch checkpoints."""
