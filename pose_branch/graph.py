"""The NTU RGB+D 25-joint skeleton graph used by CTR-GCN (REFERENCE.md §4).

Joints are numbered 1..25 in the NTU documentation and 0..24 here. ``BONE_PAIRS`` are the
(child, parent) pairs of the bone stream, 1-based as published; the graph's inward edges are the
same pairs without the self-pair (21, 21) of the spine-shoulder root.
"""

from __future__ import annotations

import numpy as np

NUM_JOINTS = 25

BONE_PAIRS: tuple[tuple[int, int], ...] = (
    (1, 2), (2, 21), (3, 21), (4, 3), (5, 21), (6, 5), (7, 6), (8, 7), (9, 21), (10, 9),
    (11, 10), (12, 11), (13, 1), (14, 13), (15, 14), (16, 15), (17, 1), (18, 17), (19, 18),
    (20, 19), (22, 23), (21, 21), (23, 8), (24, 25), (25, 12),
)  # fmt: skip

INWARD: tuple[tuple[int, int], ...] = tuple((c - 1, p - 1) for c, p in BONE_PAIRS if c != p)
OUTWARD: tuple[tuple[int, int], ...] = tuple((p, c) for c, p in INWARD)


def edge_matrix(edges: tuple[tuple[int, int], ...], num_nodes: int = NUM_JOINTS) -> np.ndarray:
    """(V, V) 0/1 matrix with ``A[j, i] = 1`` for every edge ``(i, j)``: row = target, column = source."""
    a = np.zeros((num_nodes, num_nodes))
    for i, j in edges:
        a[j, i] = 1.0
    return a


def normalize_columns(a: np.ndarray) -> np.ndarray:
    """Divide every non-empty column by its sum; empty columns stay zero."""
    degree = a.sum(axis=0)
    scale = np.divide(1.0, degree, out=np.zeros_like(degree), where=degree > 0)
    return a * scale[None, :]


def spatial_adjacency(num_nodes: int = NUM_JOINTS) -> np.ndarray:
    """The three CTR-GCN subsets (3, V, V) float32: identity, inward, outward (column-normalised)."""
    subsets = (
        np.eye(num_nodes),
        normalize_columns(edge_matrix(INWARD, num_nodes)),
        normalize_columns(edge_matrix(OUTWARD, num_nodes)),
    )
    return np.stack(subsets).astype(np.float32)
