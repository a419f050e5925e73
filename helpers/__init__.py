"""Shared routines of the neural-codes course: retrieval, losses, data, features and plots.

Import the module you need, e.g. ``from helpers import retrieval, plots``.
"""

__version__ = "0.1.0"
