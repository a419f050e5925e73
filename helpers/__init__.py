"""The student's library of the neural-codes course, in wings (each imports only those below it).

``from helpers import session, retrieval, training, models, plots, widgets`` and ``helpers.data``:
the notebook session, retrieval metrics, resumable training, networks and neural codes, figures,
the retrieval explorer, and the data sets.
"""

__version__ = "0.1.0"
