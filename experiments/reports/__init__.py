"""Reports of finished runs: Markdown, plots, the results table."""
