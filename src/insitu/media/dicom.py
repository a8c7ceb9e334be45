"""DICOM facts (rows, columns, frames, modality) via pydicom, stopping before the pixels."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from insitu.media.facts import CorruptHeader, Truncated
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
    _check_pixel_data(rf, rf.tell())
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


# Explicit-VR value representations with a 2-byte reserved field and a 4-byte length.
_LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT"}
_UNDEFINED = 0xFFFFFFFF


def _check_pixel_data(rf: RangedFile, pos: int) -> None:
    """Raise ``Truncated`` when the pixel data element pydicom stopped at runs past the end.

    pydicom leaves the file at that element's tag. Encapsulated (compressed) pixel data has
    an undefined length and its fragments are spread through the file: not checked.
    """
    if not rf.cached(pos, pos + 12):
        return
    element = rf.pread(pos, 12)
    if len(element) < 8:
        return
    if element[:4] == b"\xe0\x7f\x10\x00":
        order = "<"
    elif element[:4] == b"\x7f\xe0\x00\x10":
        order = ">"
    else:
        return  # no pixel data: nothing more is declared
    vr = element[4:6]
    if vr in _LONG_VRS and len(element) == 12:
        header, (length,) = 12, struct.unpack(order + "I", element[8:12])
    elif vr.isalpha() and vr.isupper():
        header, (length,) = 8, struct.unpack(order + "H", element[6:8])
    else:  # implicit VR: tag, then a 4-byte length
        header, (length,) = 8, struct.unpack(order + "I", element[4:8])
    end = pos + header + length
    if length != _UNDEFINED and end > rf.size:
        raise Truncated.past_end(f"its pixel data (from byte {pos:,})", end, rf.size)
