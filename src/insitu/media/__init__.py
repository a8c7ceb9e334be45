"""Header-only media probing: facts about a stored file from a few ranged reads.

    probe_object(store, info, options) -> ProbeResult(facts | failure, bytes_read, requests)

Modules, one job each: ``rangedfile`` (budgeted ranged reads), ``sniff`` (type from magic
bytes, then extension), ``images``/``webp`` (image headers), ``dicom``, ``av_probe`` with
``isobmff`` (video and audio through PyAV), ``text``, ``pdf``, ``extent`` (a header that
declares more bytes than the object has: a cut-off file), ``rules`` (what is accepted and
every refusal's code, reason and fix) and ``probe`` (ties them together).
"""

from insitu.media.facts import (
    MEDIA_KINDS,
    MediaFacts,
    ProbeFailure,
    ProbeOptions,
    ProbeResult,
)
from insitu.media.probe import probe_object, reads_past
from insitu.media.rangedfile import BudgetExceeded, RangedFile

__all__ = [
    "MEDIA_KINDS",
    "BudgetExceeded",
    "MediaFacts",
    "ProbeFailure",
    "ProbeOptions",
    "ProbeResult",
    "RangedFile",
    "probe_object",
    "reads_past",
]
