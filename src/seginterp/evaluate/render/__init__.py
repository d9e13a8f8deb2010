"""The render layer of evaluate: the metrics documents and plot tables as views of the results
table (:mod:`seginterp.evaluate.results`). Nothing here computes a statistic: it selects rows
(:class:`seginterp.evaluate.results.table.Results`), names them and writes verdict sentences.
"""
