"""DCGAN training: models, data, checkpoints and the `python -m train` entry point."""

from train.config import TrainConfig
from train.model import Discriminator, Generator, build_generator, build_models

__all__ = ["TrainConfig", "Generator", "Discriminator", "build_generator", "build_models"]
