"""Text files: one snippet per file, which must be non-empty UTF-8 within the size limit."""

from __future__ import annotations

from dataclasses import dataclass

from insitu.media.rangedfile import RangedFile


@dataclass(frozen=True)
class TextCheck:
    """The character count of a good snippet, or what is wrong with it (``problem``)."""

    chars: int = 0
    problem: str | None = None  # "text_not_utf8" | "empty_file"
    detail: str = ""


def check_text(rf: RangedFile) -> TextCheck:
    """Read the whole (already size-checked) file and decide whether it is one snippet."""
    data = rf.pread(0, rf.size)
    try:
        text = data.decode("utf-8-sig")  # a byte-order mark is fine and not counted
    except UnicodeDecodeError as exc:
        return TextCheck(
            problem="text_not_utf8",
            detail=f"byte {exc.start} (0x{data[exc.start]:02x}) is not valid UTF-8",
        )
    if "\x00" in text:
        return TextCheck(problem="text_not_utf8", detail="it contains NUL bytes (UTF-16?)")
    if not text.strip():
        return TextCheck(problem="empty_file", detail="it contains only whitespace")
    return TextCheck(chars=len(text))
