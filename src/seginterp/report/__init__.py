"""The report: README results block, HTML report and the architecture comparison."""
