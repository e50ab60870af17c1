"""A tiny, randomly initialised latent model for tests: the latent-model contract (superdiff.molecules.latent_model)
satisfied by a few lines of torch, loaded through ``module:factory`` like any user model.

``make`` returns a velocity model on the linear interpolant (flow-matching style); ``make_epsilon`` an
ε-model on the VP linear path; ``make_broken`` an object without ``decode``."""

from __future__ import annotations

import hashlib

import torch
from torch import nn

from superdiff.engine.paths import LinearInterpolant, VPLinear

#: what the decoder can produce: every latent decodes to one of these (all valid molecules)
VOCABULARY = ["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1", "CCN(CC)CC", "O=C(O)c1ccccc1", "Cc1ccncc1",
              "CC(C)Cc1ccc(C(C)C(=O)O)cc1", "C1CCNCC1"]
CONDITIONS = ["gsk3b", "jak2", "druglike"]


class TinyLatentModel(nn.Module):
    def __init__(self, prediction: str = "velocity", dim: int = 4, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.latent_shape = (dim,)
        self.conditions = list(CONDITIONS)
        self.prediction = prediction
        self.path = LinearInterpolant() if prediction == "velocity" else VPLinear()
        self.net = nn.Sequential(nn.Linear(dim + 1 + len(CONDITIONS), 16), nn.Tanh(), nn.Linear(16, dim))
        self.readout = nn.Linear(dim, len(VOCABULARY))
        self.fingerprint = f"tiny-{prediction}-{seed}"

    def denoise(self, x, t, conditions):
        onehot = torch.tensor([float(c in conditions) for c in CONDITIONS], dtype=x.dtype, device=x.device)
        inp = torch.cat([x, t.to(x.dtype)[:, None], onehot.expand(x.shape[0], -1)], dim=1)
        return 0.1 * self.net(inp)

    def encode(self, smiles):
        rows = [torch.tensor(list(hashlib.sha256(s.encode()).digest()[: self.latent_shape[0]]), dtype=torch.float32)
                for s in smiles]
        return (torch.stack(rows) - 128.0) / 64.0

    @torch.no_grad()
    def decode(self, latents):
        return [VOCABULARY[i] for i in self.readout(latents.float()).argmax(-1).tolist()]


def make(device=None):
    return TinyLatentModel("velocity").to(device or "cpu")


def make_epsilon(device=None):
    return TinyLatentModel("epsilon").to(device or "cpu")


class _NoDecoder:
    latent_shape = (4,)
    conditions = ("gsk3b", "druglike")
    path = VPLinear()
    prediction = "epsilon"

    def denoise(self, x, t, conditions):
        return torch.zeros_like(x)

    def encode(self, smiles):
        return torch.zeros(len(smiles), 4)


def make_broken():
    return _NoDecoder()
