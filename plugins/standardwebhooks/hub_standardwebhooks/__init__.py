"""A Standard Webhooks receiver for hub, built on `hub.kit`: see `hub_standardwebhooks.connector`."""
