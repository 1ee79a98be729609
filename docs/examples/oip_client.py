"""Images from any Open Inference Protocol server serving the exported generator: `dcgan serve`, Triton
or KServe (the repository `dcgan triton` writes). The same script, unchanged, for each.

    python docs/examples/oip_client.py 127.0.0.1:8000 --seeds 0-15 --out grid.png
    python docs/examples/oip_client.py triton.lan:8000 --model dcgan --seeds 0-63 --out grid.png

Needs tritonclient[http] and dcgan_runtime's pure-numpy modules (`pip install dcgan`, no onnxruntime):
the client computes each seed's latent itself (the seed rule), so a seed names the same image on
every server.
"""

from __future__ import annotations

import argparse
import math

import numpy as np
import tritonclient.http as httpclient

from dcgan_runtime.images import save_grid, to_uint8
from dcgan_runtime.latent import latents_from_seeds
from dcgan_runtime.parse import parse_seeds

BATCH = 64  # latents per request (Triton refuses more than the config's max_batch_size)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("url", help="HOST:PORT of the server's HTTP endpoint")
    p.add_argument("--model", default="dcgan")
    p.add_argument("--seeds", default="0-15")
    p.add_argument("--out", required=True, help="a PNG grid of the images")
    a = p.parse_args()
    client = httpclient.InferenceServerClient(url=a.url)
    meta = client.get_model_metadata(a.model)  # input z FP32 [-1, nz, 1, 1], output image FP32 [-1, C, H, W]
    (inp,), (out,) = meta["inputs"], meta["outputs"]
    nz = inp["shape"][1]
    seeds = parse_seeds(a.seeds, limit=100_000)
    parts = []
    for i in range(0, len(seeds), BATCH):
        z = latents_from_seeds(seeds[i : i + BATCH], nz).reshape(-1, nz, 1, 1)
        x = httpclient.InferInput(inp["name"], list(z.shape), "FP32")
        x.set_data_from_numpy(z, binary_data=True)
        wanted = httpclient.InferRequestedOutput(out["name"], binary_data=True)
        parts.append(client.infer(a.model, [x], outputs=[wanted]).as_numpy(out["name"]))
    images = to_uint8(np.concatenate(parts))  # float32 NCHW in [-1, 1] -> uint8 NHWC, the project's pixel rule
    save_grid(images, a.out, nrow=math.ceil(math.sqrt(len(seeds))))
    print(f"wrote {a.out} ({len(seeds)} images from {a.url}, model {a.model})")


if __name__ == "__main__":
    main()
