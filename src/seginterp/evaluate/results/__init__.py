"""The results layer of evaluate: every estimate and every test, computed once, in one table.

The measure layer's per-image tables go in (:class:`.measured.Measured`); one long table comes out
(:mod:`.table`: ``results.parquet``), built by one module per part of the evaluation
(:data:`.build.BUILDERS`). The documents and plots (:mod:`seginterp.evaluate.render`) are views of
that table.
"""
