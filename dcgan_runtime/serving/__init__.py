"""Serving: the model behind HTTP, in this process or on the engines built for it.

| module | owns |
|---|---|
| `app` | `create_app`: the ASGI app (Starlette): the explorer page, its API, the Open Inference Protocol |
| `explorer`, `explorer_page/` | the explorer's request logic, independent of HTTP, and its page |
| `oip` | the Open Inference Protocol (KServe v2 / Triton) requests and answers |
| `server` | `dcgan serve`: the app on uvicorn, Host checks, the port checked first |
| `ray_serve` | the same app as Ray Serve replicas |
| `triton` | `dcgan triton`: a Triton/KServe model repository for the same file |

Needs the `[serve]` extra (starlette, uvicorn); Ray Serve also `[ray]`.

>>> from dcgan_runtime.serving import create_app   # doctest: +SKIP
"""

from typing import Any


def __getattr__(name: str) -> Any:
    """`create_app` needs starlette: imported on first use."""
    if name == "create_app":
        from dcgan_runtime.serving.app import create_app

        return create_app
    raise AttributeError(f"module 'dcgan_runtime.serving' has no attribute {name!r}")
