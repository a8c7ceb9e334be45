"""insitu: label files that never leave the customer's own cloud."""

__version__ = "0.1.0"
