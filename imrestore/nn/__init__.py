"""Neural networks, checkpoints, training and tiled inference (PyTorch).

Networks are config dataclasses plus ``nn.Module`` classes free of I/O
(:mod:`imrestore.nn.models`); checkpoints are safetensors plus JSON metadata
(:mod:`imrestore.nn.checkpoint`).
"""
