"""DCGAN training: models, data, checkpoints and the `python -m train` entry point (train/cli.py).

Nothing is imported here: `python -m train` starts without loading torch first (its Ctrl-C handler
comes before that), and `train.config` stays as light as it is. Import what you need from its module:
`from train.config import TrainConfig`, `from train.model import build_generator`.
"""
