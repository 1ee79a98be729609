"""Evaluation and analysis of trained generators, beside training but not needed by it.

- `python -m train.analysis.evaluate SOURCE`: image quality (SWD, MS-SSIM, Frechet distance,
  precision/recall, memorisation) against real-data ceilings and untrained floors.
- `python -m train.analysis.arithmetic SOURCE`: the paper's latent arithmetic and interpolation,
  measured with attribute classifiers the project trains (`attributes.py`).

SOURCE is a run directory, a checkpoint or an exported generator.onnx (`decoders.py`).
"""
