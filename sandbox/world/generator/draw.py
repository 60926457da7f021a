"""The state every family of stories draws from, and the draws they share."""

from __future__ import annotations

import random

from sandbox.world.clock import Clock
from sandbox.world.usage_plan import UsagePlan, mix
from sandbox.world.volumes import Volumes


class Draw:
    """What every family of stories draws from: the volumes, the seed's random stream, the clock, the usage plan."""

    v: Volumes
    seed: int
    rng: random.Random
    clock: Clock
    usage: UsagePlan
    width: int

    def _hash(self, n: int) -> int:
        """64 bits derived from the seed and ``n`` alone: values added to the world after the random stream
        was fixed come from here, so they leave every value the stream produces where it was."""
        return mix(self.seed * 1_000_003 + n)

    def _workspace_id(self, n: int) -> str:
        return f"ws-{n + 1:0{self.width}d}"
