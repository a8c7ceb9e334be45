"""Header-only media probing: facts about a stored file from a few ranged reads."""
