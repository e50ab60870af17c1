"""Every seed in the project, derived in one place from one scheme.

A seed is ``derive_seed(root, *path)``: numpy's ``SeedSequence(entropy=[root, *path])`` hashed to a 32-bit
integer. Paths name what the seed is for, so two streams never share numbers:

- a protein design: ``(campaign seed, length, design index)``; a molecule design: ``(campaign seed, index)``;
- a calibration design (AND's typical-level pass): ``(campaign seed, index, CALIBRATION)``;
- resampling decisions of a population: ``(RESAMPLING, *its designs' seeds)``, independent of their noise;
- a ProteinMPNN draw: ``(seed, design index, INVERSE_FOLDING)``; training runs: ``(seed, TRAINING)``.

A design numbered globally in its campaign therefore gets the same seed in any batch or shard, and its result
does not depend on its neighbours (the sampler gives each design its own generator: :class:`NoiseSource`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

#: stream tags, the last (or first) entry of a seed's path
CALIBRATION = 1
RESAMPLING = 2
INVERSE_FOLDING = 3
TRAINING = 4


def derive_seed(root: int, *path: int) -> int:
    """A 32-bit seed from ``SeedSequence([root, *path])`` (entries are reduced to non-negative 63-bit ints)."""
    entropy = [int(v) & (2**63 - 1) for v in (root, *path)]
    return int(np.random.SeedSequence(entropy).generate_state(1, dtype=np.uint32)[0])


def name_entropy(name: str) -> int:
    """A 63-bit integer standing for a text id (design ids are strings), for :func:`derive_seed` paths."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "little") >> 1


def design_seeds(root: int, num: int, first_index: int = 0, *prefix: int) -> list[int]:
    """Seeds of designs ``first_index .. first_index + num − 1``: ``derive_seed(root, *prefix, index)``."""
    return [derive_seed(root, *prefix, i) for i in range(first_index, first_index + num)]


def population_generator(seeds: Sequence[int] | None, generator: torch.Generator | None) -> torch.Generator:
    """The generator of a population's resampling decisions, a stream independent of the designs' noise.

    With per-design seeds it is derived from all of them; with one shared generator, from that generator's seed
    (seeded by it, not drawn from it, so the noise stream is untouched and any device gives the same draws).
    """
    if seeds is not None:
        root = derive_seed(RESAMPLING, *[int(s) for s in seeds])
    elif generator is not None:
        root = derive_seed(generator.initial_seed(), RESAMPLING)
    else:
        return torch.Generator()
    return torch.Generator().manual_seed(root)


class NoiseSource:
    """Gaussian and Rademacher draws, either from one shared generator or one generator per design.

    With per-design generators each design draws its own numbers in a fixed order, so its trajectory does not
    depend on which other designs share its batch.
    """

    def __init__(self, batch: int, device: torch.device, generator: torch.Generator | None,
                 seeds: Sequence[int] | None):
        self.batch = batch
        self.device = device
        if seeds is not None:
            if len(seeds) != batch:
                raise ValueError(f"seeds has {len(seeds)} entries but the batch has {batch} designs")
            self.generators = [torch.Generator(device=device).manual_seed(int(s)) for s in seeds]
            self.shared = None
        else:
            self.generators = None
            self.shared = generator

    def normal(self, shape: tuple[int, ...], dtype: torch.dtype) -> Tensor:
        """Standard normal ``[B, *shape]``."""
        if self.generators is None:
            return torch.randn((self.batch, *shape), generator=self.shared, device=self.device, dtype=dtype)
        return torch.stack([torch.randn(shape, generator=g, device=self.device, dtype=dtype) for g in self.generators])

    def rademacher(self, shape: tuple[int, ...], dtype: torch.dtype) -> Tensor:
        """Uniform ±1 ``[B, *shape]``."""
        if self.generators is None:
            bits = torch.randint(0, 2, (self.batch, *shape), generator=self.shared, device=self.device)
        else:
            bits = torch.stack([torch.randint(0, 2, shape, generator=g, device=self.device) for g in self.generators])
        return bits.to(dtype) * 2 - 1
