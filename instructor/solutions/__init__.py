"""Reference implementations of graded questions, one module per notebook (never in the wheel)."""
