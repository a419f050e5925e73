"""Test data shared by the training tests: points in well-separated clusters, one per class."""

import numpy as np


def clustered_data(n=240, dim=8, classes=3, seed=0):
    """``(points (n, dim) float32, labels (n,))``: Gaussian clusters around centres 3 apart."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, dim)) * 3
    labels = rng.integers(0, classes, size=n)
    return (centres[labels] + rng.normal(size=(n, dim))).astype(np.float32), labels
