"""Load the stored molecule models after verifying their sha256 against the manifest, and the built-in latent
model: the SELFIES autoencoder + latent diffusion seen through the latent-model contract
(:mod:`superdiff.molecules.latent_model`)."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from superdiff.files.download import sha256_file
from superdiff.molecules import conditions
from superdiff.molecules.autoencoder import SelfiesVAE
from superdiff.molecules.latent_diffusion import EpsilonNet
from superdiff.molecules.weights import default_weights_dir, manifest_path, verified_file


def load_autoencoder(folder: Path | None = None, device: str | torch.device = "cpu") -> SelfiesVAE:
    folder = Path(folder or default_weights_dir())
    return SelfiesVAE.load(verified_file(folder, "autoencoder", "autoencoder.safetensors"),
                           verified_file(folder, "autoencoder", "autoencoder.json"), device=device)


def load_diffusion(folder: Path | None = None, device: str | torch.device = "cpu") -> EpsilonNet:
    folder = Path(folder or default_weights_dir())
    return EpsilonNet.load(verified_file(folder, "latent_diffusion", "latent_diffusion.safetensors"),
                           verified_file(folder, "latent_diffusion", "latent_diffusion.json"), device=device)


class BuiltinLatentModel:
    """The committed SELFIES VAE + label-conditioned ε-network as a latent model: latents are the standardised
    autoencoder latents the ε-network was trained on (VP linear path, ε-prediction)."""

    prediction = "epsilon"

    def __init__(self, autoencoder: SelfiesVAE, net: EpsilonNet, fingerprint: str | None = None):
        self.autoencoder = autoencoder
        self.net = net
        self.latent_shape = (net.config.latent_dim,)
        self.conditions = list(net.config.labels)
        self.path = net.schedule()
        self.label_frequency = dict(net.config.label_frequency)
        self.fingerprint = fingerprint

    @classmethod
    def load(cls, folder: Path | None = None, device: str | torch.device = "cpu") -> BuiltinLatentModel:
        folder = Path(folder or default_weights_dir())
        return cls(load_autoencoder(folder, device), load_diffusion(folder, device),
                   fingerprint=sha256_file(manifest_path(folder)))

    def denoise(self, x: Tensor, t: Tensor, required: tuple[str, ...]) -> Tensor:
        """ε̂ of the condition requiring every label in ``required`` (``()``: unconditional)."""
        cond = conditions.encode(required, self.net.config.labels, x.shape[0], x.device)
        return self.net(x, t, cond)

    def encode(self, smiles: list[str]) -> Tensor:
        """Standardised posterior means ``[N, D]``; a SMILES the autoencoder cannot encode is a ValueError."""
        z, kept = self.autoencoder.encode_smiles(list(smiles))
        if len(kept) != len(smiles):
            bad = sorted(set(range(len(smiles))) - set(kept.tolist()))
            raise ValueError(f"the built-in autoencoder cannot encode {len(bad)} SMILES, e.g. {smiles[bad[0]]!r}")
        return self.net.standardise(z)

    def decode(self, latents: Tensor) -> list[str]:
        device = next(self.net.parameters()).device
        return self.autoencoder.decode_smiles(self.net.unstandardise(latents.to(device)))
