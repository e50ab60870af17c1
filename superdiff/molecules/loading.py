"""Load the stored molecule models after verifying their sha256 against the manifest."""

from __future__ import annotations

from pathlib import Path

import torch

from superdiff.molecules.autoencoder import SelfiesVAE
from superdiff.molecules.latent_diffusion import EpsilonNet
from superdiff.molecules.weights import default_weights_dir, verified_file


def load_autoencoder(folder: Path | None = None, device: str | torch.device = "cpu") -> SelfiesVAE:
    folder = Path(folder or default_weights_dir())
    return SelfiesVAE.load(verified_file(folder, "autoencoder", "autoencoder.safetensors"),
                           verified_file(folder, "autoencoder", "autoencoder.json"), device=device)


def load_diffusion(folder: Path | None = None, device: str | torch.device = "cpu") -> EpsilonNet:
    folder = Path(folder or default_weights_dir())
    return EpsilonNet.load(verified_file(folder, "latent_diffusion", "latent_diffusion.safetensors"),
                           verified_file(folder, "latent_diffusion", "latent_diffusion.json"), device=device)
