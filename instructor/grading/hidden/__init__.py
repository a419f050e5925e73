"""One module of named hidden cases per notebook: nb<NN>.py (see verdicts.py)."""
