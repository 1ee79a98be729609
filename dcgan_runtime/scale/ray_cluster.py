"""Ray for one command: join the cluster at `address`, or start a local instance for the command and
stop it afterwards; an instance already initialised in this process is used as it is (and left running).

Shared by `dcgan generate --engine ray` (`scale.ray_data`) and `dcgan serve --engine ray` (`ray_serve`).

>>> with session(ray, None, local_cpus=3):   # doctest: +SKIP
...     ...
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def session(ray: Any, address: str | None, local_cpus: int) -> Iterator[None]:
    """`ray` initialised for the block: at `address`, or locally with `local_cpus` logical CPUs."""
    started = not ray.is_initialized()
    if started:
        options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.WARNING}
        if address is None:
            options["num_cpus"] = local_cpus
        ray.init(address=address, **options)
    try:
        yield
    finally:
        if started:
            ray.shutdown()
