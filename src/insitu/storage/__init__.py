"""The provider boundary; see ``base.py``."""
