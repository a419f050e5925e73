"""Retrieval by neural codes: distances, k-NN, AP, mAP, precision/recall at k, per-class AP.

``from helpers import retrieval``, then ``retrieval.knn(...)``,
``retrieval.mean_average_precision(...)``.
Inputs may be numpy arrays, lists or tensors; outputs are numpy.
"""

from helpers.retrieval.average_precision import (
    average_precision,
    mean_average_precision,
    per_class_average_precision,
    precision_recall_at_k,
)
from helpers.retrieval.neighbours import knn, sq_distances

__all__ = [
    "sq_distances",
    "knn",
    "average_precision",
    "mean_average_precision",
    "precision_recall_at_k",
    "per_class_average_precision",
]
