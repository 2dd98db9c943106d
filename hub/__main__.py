"""`python -m hub ...` is the `hub` command (how `hub worker` starts its per-queue consumers)."""

from hub.cli import main

main()
