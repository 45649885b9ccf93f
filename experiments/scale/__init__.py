"""Execution at scale: parallel map (local processes or Dask), the content cache, the feature store."""
