"""Optimal rigid superposition (Kabsch) and Cα RMSD in Å."""

from __future__ import annotations

import numpy as np


def kabsch(mobile: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rotation and translation that best map ``mobile`` onto ``target`` (least squares, proper rotation).

    Args:
        mobile: ``[L, 3]`` coordinates (Å).
        target: ``[L, 3]`` coordinates (Å), rows paired with ``mobile``.

    Returns:
        ``(rotation [3, 3], translation [3])`` with ``mobile @ rotation.T + translation ≈ target``.
    """
    mobile = np.asarray(mobile, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    if mobile.shape != target.shape or mobile.ndim != 2 or mobile.shape[1] != 3:
        raise ValueError(f"expected two [L, 3] arrays of equal shape, got {mobile.shape} and {target.shape}")
    mu_m, mu_t = mobile.mean(0), target.mean(0)
    h = (mobile - mu_m).T @ (target - mu_t)
    u, _, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(vt.T @ u.T))
    rotation = vt.T @ np.diag([1.0, 1.0, d]) @ u.T
    return rotation, mu_t - mu_m @ rotation.T


def superposed_rmsd(mobile: np.ndarray, target: np.ndarray) -> float:
    """RMSD (Å) between paired ``[L, 3]`` coordinate sets after optimal superposition.

    .. math:: \\min_{R \\in SO(3), t} \\sqrt{\\tfrac{1}{L} \\sum_i \\lVert R x_i + t - y_i \\rVert^2}
    """
    rotation, translation = kabsch(mobile, target)
    moved = np.asarray(mobile, dtype=np.float64) @ rotation.T + translation
    return float(np.sqrt(np.mean(np.sum((moved - np.asarray(target, dtype=np.float64)) ** 2, axis=1))))
