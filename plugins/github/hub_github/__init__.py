"""The GitHub connector for hub, built on `hub.kit`: see `hub_github.connector`."""
