"""Webhooks: an org's endpoints, the events sent to them, and each delivery's attempts."""
