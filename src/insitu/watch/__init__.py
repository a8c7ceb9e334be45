"""Watched projects: storage events keep a project's assets in line with its bucket in seconds."""
