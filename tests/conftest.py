"""Fixtures shared by the core's tests beyond `hub.testing`'s."""

from tests.pipeline_fixtures import pipeline, redis_pipeline, signed_distribution  # noqa: F401
