"""DICOM facts (rows, columns, frames, modality) via pydicom, stopping before the pixels."""

from __future__ import annotations

from dataclasses import dataclass

from insitu.media.facts import CorruptHeader
from insitu.media.rangedfile import RangedFile


@dataclass(frozen=True)
class DicomHeader:
    rows: int | None
    columns: int | None
    frames: int
    modality: str | None


def dicom_header(rf: RangedFile) -> DicomHeader:
    """Parse the data set up to the pixel data; ``force`` admits files without a preamble."""
    import pydicom  # imported here: most imports never meet a DICOM file
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(rf, stop_before_pixels=True, force=True)
    except (InvalidDicomError, EOFError, ValueError, KeyError, TypeError, OSError) as exc:
        if rf.error is not None:
            raise rf.error from exc
        raise CorruptHeader(f"pydicom cannot read the header: {exc}") from exc
    rows, columns = ds.get("Rows"), ds.get("Columns")
    if rows is None and columns is None and "SOPClassUID" not in ds:
        raise CorruptHeader("the file has none of the elements a DICOM image has")
    try:
        frames = int(ds.get("NumberOfFrames") or 1)
    except (TypeError, ValueError):
        frames = 1
    modality = ds.get("Modality")
    return DicomHeader(
        rows=int(rows) if rows is not None else None,
        columns=int(columns) if columns is not None else None,
        frames=frames,
        modality=str(modality) if modality else None,
    )
