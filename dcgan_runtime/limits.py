"""Bounds shared by the engine and the command line, in one place (pure: no onnxruntime).

>>> MAX_BATCH, MAX_THREADS
(4096, 1024)
"""

MAX_BATCH = 4096  # images per onnxruntime call (and the largest --batch-size, --batch-sizes, --max-batch)
MAX_THREADS = 1024  # CPU threads one Generator may ask for (tuning builds sessions for each way to split them)
