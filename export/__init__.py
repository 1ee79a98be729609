"""Export a trained DCGAN generator to ONNX and TorchScript: `python -m export --help`."""
