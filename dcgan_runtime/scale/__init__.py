"""Generation at scale: streaming, resumable, sharded image sets (`shards`), and the same shards on Ray
Data (`ray_data`, the `[ray]` extra, imported only when used).

>>> from dcgan_runtime.scale import Plan, SeedSet, write          # doctest: +SKIP
>>> write(g, Plan(SeedSet.parse("0-99999"), "tar", shard_size=1000), "data/")   # doctest: +SKIP
"""

from dcgan_runtime.scale.formats import FORMATS
from dcgan_runtime.scale.seeds import SeedSet
from dcgan_runtime.scale.shards import Plan, Summary, write

__all__ = ["FORMATS", "Plan", "SeedSet", "Summary", "write"]
