"""The notebook session: profile, paths, set-up, report lines, warnings.

``from helpers import session`` then ``session.setup_notebook()``, ``session.is_sample()``,
``session.output_dir("01")``; the modules are :mod:`~helpers.session.profile`,
:mod:`~helpers.session.paths`, :mod:`~helpers.session.setup` and :mod:`~helpers.session.report`.
"""

from helpers.session.paths import (
    DRIVE_FOLDER,
    DRIVE_MOUNT,
    data_dir,
    keep_outputs_on_drive,
    mirror_dir,
    on_colab,
    output_dir,
    repo_root,
)
from helpers.session.profile import (
    DEFAULT_SEED,
    PROFILES,
    by_profile,
    epochs,
    get_profile,
    is_sample,
    smoke_label,
)
from helpers.session.report import bootstrap_interval, headline
from helpers.session.setup import check_versions, seed_everything, setup_notebook

__all__ = [
    "DEFAULT_SEED",
    "DRIVE_FOLDER",
    "DRIVE_MOUNT",
    "PROFILES",
    "bootstrap_interval",
    "by_profile",
    "check_versions",
    "data_dir",
    "epochs",
    "get_profile",
    "headline",
    "is_sample",
    "keep_outputs_on_drive",
    "mirror_dir",
    "on_colab",
    "output_dir",
    "repo_root",
    "seed_everything",
    "setup_notebook",
    "smoke_label",
]
