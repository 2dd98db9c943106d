"""The consumers: running jobs, periodic work, and the `hub worker` supervisor."""
