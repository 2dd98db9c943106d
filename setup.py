"""The packages of the `hub` distribution; everything else is in pyproject.toml.

pyproject.toml cannot both find packages by themselves and add one that lives
elsewhere, so the list is made here: every package under hub/, found by
itself so that a new subpackage is never left out of a wheel, and the
alembic environment, which lives at the top level (migrations/) and ships as
hub.migrations (see `[tool.setuptools.package-dir]` in pyproject.toml).
"""

from setuptools import find_packages, setup

setup(packages=[*find_packages(include=["hub", "hub.*"]), "hub.migrations", "hub.migrations.versions"])
