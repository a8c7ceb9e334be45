"""Settings of the Python process itself, made once by whatever starts insitu."""

from __future__ import annotations

import gc

# Container objects allocated (net) between two collections of the youngest generation.
# Python's default, 700, suits short scripts. An import keeps a few batches of files in
# flight for a tenth of a second each: at 700 they outlive two young collections, reach the
# oldest generation, and set off full collections of the ~200,000 objects every insitu
# process holds (SQLAlchemy, botocore's models). Those took 10-14% of an import's CPU and
# held the GIL for 130-180 ms each, stalling requests in flight. At 10,000, batches die
# young, and full collections almost never run (bench/PROFILE.md, "Garbage collection").
_YOUNG_THRESHOLD = 10_000


def tune_garbage_collector() -> None:
    """Collect garbage at a pace fit for a long-running process that handles bulk work.
    A threshold set higher already (by whoever embeds insitu) is kept."""
    young, middle, old = gc.get_threshold()
    if young < _YOUNG_THRESHOLD:
        gc.set_threshold(_YOUNG_THRESHOLD, middle, old)
