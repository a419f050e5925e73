"""Training: resumable fitting keyed by a fingerprint of what shapes a run, and checkpoints.

``from helpers import training`` then ``training.fit_resumable(...)`` (Keras ``fit``) or
``training.train_metric_model(...)`` (a custom loss on embeddings). Checkpoints are written in
:mod:`~helpers.training.checkpoints`, run keys made in :mod:`~helpers.training.fingerprint`.
"""

from helpers.training.fingerprint import fingerprint
from helpers.training.fit import fit_resumable, load_history, train_metric_model

__all__ = ["fit_resumable", "fingerprint", "train_metric_model", "load_history"]
