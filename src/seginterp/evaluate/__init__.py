"""Evaluate: measure (one module per metric), results (one table), render (documents)."""
