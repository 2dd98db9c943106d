"""Fixtures shared by the core's tests beyond `hub.testing`'s."""

from tests.pipeline_fixtures import pipeline, redis_pipeline, signed_accounts, signed_distribution  # noqa: F401
from tests.stripe_fixtures import stripe_api, stripe_api_server  # noqa: F401
