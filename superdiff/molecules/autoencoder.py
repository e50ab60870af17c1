"""A SELFIES GRU variational autoencoder: SMILES -> SELFIES tokens -> continuous latent ``[B, D]`` -> SMILES.

SELFIES (Krenn et al. 2020, PyPI ``selfies``) makes every decoded token string a valid molecule, so validity
comes by construction; the latent is the space the diffusion model lives in (LDMol-style latent diffusion).
Weights are stored as safetensors plus a JSON config holding the vocabulary: loading never unpickles.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import selfies as sf
import torch
from torch import Tensor, nn

from superdiff.molecules.gru import bidirectional_final_states, gru_sequence
from superdiff.molecules.storage import load_module, save_module

PAD, BOS, EOS = "<pad>", "<bos>", "<eos>"


@dataclass
class AutoencoderConfig:
    vocab: list[str] = field(default_factory=list)
    max_len: int = 72  # SELFIES tokens, without BOS/EOS
    embed_dim: int = 64
    hidden_dim: int = 256
    latent_dim: int = 32
    # Lower bound on every posterior std (prior units). A floor forces the decoder to map a whole neighbourhood
    # to one molecule, so properties vary smoothly over the latent space the diffusion model samples from.
    posterior_std_floor: float = 0.0


def smiles_to_tokens(smiles: str) -> list[str] | None:
    """SELFIES tokens of a SMILES string, or None if SELFIES cannot encode it."""
    try:
        encoded = sf.encoder(smiles)
    except Exception:  # selfies raises EncoderError (and others) on unsupported chemistry
        return None
    return list(sf.split_selfies(encoded)) if encoded else None


def tokens_to_smiles(tokens: list[str]) -> str:
    """Decode SELFIES tokens to SMILES ('' if decoding yields nothing)."""
    try:
        return sf.decoder("".join(tokens)) or ""
    except Exception:
        return ""


class SelfiesVAE(nn.Module):
    """GRU encoder / GRU decoder VAE over SELFIES tokens. The ``nn.GRU`` modules hold the parameters; training
    and encoding run their recurrence through :mod:`superdiff.molecules.gru` (same equations, no O(T²) backward)."""

    def __init__(self, config: AutoencoderConfig):
        super().__init__()
        self.config = config
        self.index = {tok: i for i, tok in enumerate(config.vocab)}
        v, e, h, d = len(config.vocab), config.embed_dim, config.hidden_dim, config.latent_dim
        self.embed = nn.Embedding(v, e, padding_idx=0)
        self.encoder = nn.GRU(e, h, batch_first=True, bidirectional=True)
        self.to_mu = nn.Linear(2 * h, d)
        self.to_logvar = nn.Linear(2 * h, d)
        self.from_latent = nn.Linear(d, h)
        self.decoder = nn.GRU(e + d, h, batch_first=True)
        self.readout = nn.Linear(h, v)

    # ---- tokens ----
    def encode_tokens(self, token_lists: list[list[str]]) -> tuple[Tensor, Tensor]:
        """Token lists -> (ids ``[B, max_len + 2]`` with BOS ... EOS PAD, lengths ``[B]``); unknown tokens raise."""
        n = self.config.max_len + 2
        ids = torch.zeros(len(token_lists), n, dtype=torch.long)
        lengths = torch.zeros(len(token_lists), dtype=torch.long)
        for i, toks in enumerate(token_lists):
            seq = [BOS, *toks[: self.config.max_len], EOS]
            ids[i, : len(seq)] = torch.tensor([self.index[t] for t in seq])
            lengths[i] = len(seq)
        return ids, lengths

    def encodable(self, tokens: list[str] | None) -> bool:
        return tokens is not None and 0 < len(tokens) <= self.config.max_len and all(t in self.index for t in tokens)

    # ---- network ----
    def encode(self, ids: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """ids ``[B, L]`` -> (mu, logvar), each ``[B, latent_dim]``."""
        hidden = bidirectional_final_states(self.encoder, self.embed(ids), lengths)  # [2, B, H]
        hidden = torch.cat([hidden[0], hidden[1]], dim=-1)
        floor = 2 * math.log(self.config.posterior_std_floor) if self.config.posterior_std_floor > 0 else -10.0
        return self.to_mu(hidden), self.to_logvar(hidden).clamp(max(floor, -10.0), 5)

    def decode_logits(self, z: Tensor, ids: Tensor) -> Tensor:
        """Teacher-forced logits ``[B, L-1, V]`` predicting ids[:, 1:]."""
        inp = self.embed(ids[:, :-1])
        inp = torch.cat([inp, z[:, None, :].expand(-1, inp.shape[1], -1)], dim=-1)
        return self.readout(gru_sequence(self.decoder, inp, torch.tanh(self.from_latent(z))))

    @torch.no_grad()
    def greedy_decode(self, z: Tensor) -> list[list[str]]:
        """Latents ``[B, latent_dim]`` -> SELFIES token lists (argmax decoding, deterministic)."""
        b = z.shape[0]
        hidden = torch.tanh(self.from_latent(z))[None]
        token = torch.full((b,), self.index[BOS], dtype=torch.long, device=z.device)
        done = torch.zeros(b, dtype=torch.bool, device=z.device)
        out = torch.zeros(b, self.config.max_len + 1, dtype=torch.long, device=z.device)
        for step in range(self.config.max_len + 1):
            inp = torch.cat([self.embed(token), z], dim=-1)[:, None, :]
            o, hidden = self.decoder(inp, hidden)
            logits = self.readout(o[:, 0])
            logits[:, self.index[PAD]] = -torch.inf
            logits[:, self.index[BOS]] = -torch.inf
            token = logits.argmax(-1)
            out[:, step] = token
            done |= token == self.index[EOS]
            if bool(done.all()):
                break
        result = []
        eos = self.index[EOS]
        for row in out.tolist():
            toks = []
            for t in row:
                if t == eos:
                    break
                toks.append(self.config.vocab[t])
            result.append(toks)
        return result

    # ---- SMILES level ----
    @torch.no_grad()
    def encode_smiles(self, smiles: list[str], batch_size: int = 512) -> tuple[Tensor, np.ndarray]:
        """Posterior means ``[N_ok, latent_dim]`` and the indices of the encodable inputs (others are skipped)."""
        mu, _, keep = self.encode_posterior(smiles, batch_size)
        return mu, keep

    @torch.no_grad()
    def encode_posterior(self, smiles: list[str], batch_size: int = 512) -> tuple[Tensor, Tensor, np.ndarray]:
        """Posterior means and log standard deviations, each ``[N_ok, latent_dim]`` on the model's device, and the
        indices of the encodable inputs (others are skipped)."""
        toks = [smiles_to_tokens(s) for s in smiles]
        keep = np.array([i for i, t in enumerate(toks) if self.encodable(t)], dtype=np.int64)
        device = next(self.parameters()).device
        empty = torch.zeros(0, self.config.latent_dim, device=device)
        mus, log_stds = [empty], [empty]
        for start in range(0, len(keep), batch_size):
            ids, lengths = self.encode_tokens([toks[i] for i in keep[start:start + batch_size]])
            mu, logvar = self.encode(ids.to(device), lengths)
            mus.append(mu)
            log_stds.append(0.5 * logvar)
        return torch.cat(mus), torch.cat(log_stds), keep

    @torch.no_grad()
    def decode_smiles(self, z: Tensor, batch_size: int = 512) -> list[str]:
        """Latents ``[B, latent_dim]`` -> SMILES (SELFIES-decoded, so always parseable unless empty)."""
        out: list[str] = []
        for start in range(0, z.shape[0], batch_size):
            out += [tokens_to_smiles(t) for t in self.greedy_decode(z[start:start + batch_size])]
        return out

    # ---- storage ----
    def save(self, folder: Path, stem: str = "autoencoder") -> list[str]:
        return save_module(self, self.config, folder, stem)

    @classmethod
    def load(cls, weights: Path, config: Path, device: str | torch.device = "cpu") -> SelfiesVAE:
        return load_module(cls, AutoencoderConfig, weights, config, device)


def build_vocab(token_lists: list[list[str]]) -> list[str]:
    """Sorted token vocabulary with PAD at index 0, then BOS and EOS."""
    tokens = sorted({t for toks in token_lists for t in toks})
    return [PAD, BOS, EOS, *tokens]
