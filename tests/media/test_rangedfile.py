"""RangedFile: a seekable file over ranged reads, with read-ahead, a budget and accounting."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from insitu.media.rangedfile import BudgetExceeded, RangedFile
from tests.media.localstore import DirectoryStore

DATA = bytes(range(256)) * 1024  # 256 KiB


@pytest.fixture
def store(tmp_path: Path) -> DirectoryStore:
    (tmp_path / "blob").write_bytes(DATA)
    return DirectoryStore(tmp_path)


def ranged(store: DirectoryStore, *, budget: int = 1 << 20, read_ahead: int = 4096) -> RangedFile:
    return RangedFile(store, "blob", len(DATA), budget=budget, read_ahead=read_ahead)


def test_rangedfile_reads_and_seeks_like_a_file(store: DirectoryStore) -> None:
    rf = ranged(store)
    assert rf.read(10) == DATA[:10]
    assert rf.seek(-5, os.SEEK_END) == len(DATA) - 5
    assert rf.read() == DATA[-5:]
    assert rf.read(10) == b""
    rf.seek(1000)
    rf.seek(24, os.SEEK_CUR)
    assert rf.tell() == 1024
    buffer = bytearray(8)
    assert rf.readinto(buffer) == 8 and bytes(buffer) == DATA[1024:1032]


def test_rangedfile_fetches_read_ahead_and_serves_rereads_from_cache(
    store: DirectoryStore,
) -> None:
    rf = ranged(store, read_ahead=4096)
    rf.read(16)
    rf.seek(0)
    rf.read(4096)
    assert store.requests == [("blob", 0, 4096)]
    assert (rf.requests, rf.bytes_read) == (1, 4096)


def test_rangedfile_doubles_read_ahead_while_reading_on(store: DirectoryStore) -> None:
    rf = ranged(store, read_ahead=4096)
    while rf.tell() < 30_000:
        rf.read(100)
    sizes = [end - start for _, start, end in store.requests]
    assert sizes == [4096, 8192, 16384, 32768]


def test_rangedfile_reads_little_after_a_seek(store: DirectoryStore) -> None:
    rf = ranged(store, read_ahead=4096)
    rf.read(4096)
    rf.read(4096)  # sequential: the window grew
    rf.seek(200_000)
    rf.read(8)
    assert store.requests[-1] == ("blob", 200_000, 204_096)


def test_rangedfile_never_reads_past_its_budget(store: DirectoryStore) -> None:
    rf = ranged(store, budget=10_000, read_ahead=4096)
    rf.read(9_000)
    with pytest.raises(BudgetExceeded):
        rf.read(2_000)
    assert rf.bytes_read <= 10_000
    assert rf.error is not None


def test_rangedfile_shrinks_read_ahead_to_fit_the_budget(store: DirectoryStore) -> None:
    rf = ranged(store, budget=5_000, read_ahead=4096)
    rf.read(4096)
    assert rf.read(500) == DATA[4096:4596]  # a 4 KiB read-ahead would pass the budget
    assert rf.bytes_read == 5_000


def test_rangedfile_prefetch_is_one_request_and_skipped_over_budget(
    store: DirectoryStore,
) -> None:
    rf = ranged(store, budget=50_000)
    assert rf.prefetch(50_000, 90_000)
    assert rf.cached(50_000, 90_000)
    assert not rf.prefetch(0, 20_000)  # would pass the budget: a hint, not an error
    rf.seek(60_000)
    assert rf.read(1000) == DATA[60_000:61_000]
    assert rf.requests == 1


def test_rangedfile_fills_only_the_gap_between_cached_ranges(store: DirectoryStore) -> None:
    rf = ranged(store, read_ahead=1000)
    rf.pread(0, 1000)
    rf.pread(3000, 1000)
    assert rf.pread(500, 3000) == DATA[500:3500]
    assert store.requests[-1] == ("blob", 1000, 3000)


def test_rangedfile_stops_at_an_object_shorter_than_listed(tmp_path: Path) -> None:
    (tmp_path / "blob").write_bytes(b"short")
    rf = RangedFile(DirectoryStore(tmp_path), "blob", 1000, budget=10_000)
    assert rf.read() == b"short"
    assert rf.size == 5


def test_probe_reports_over_budget_when_ffmpeg_hits_the_budget(
    local_store: DirectoryStore,
) -> None:
    from insitu.media import ProbeOptions, probe_object

    info = local_store.head("tone.wav")  # FFmpeg reads one 48 KB packet after the header
    result = probe_object(local_store, info, ProbeOptions(byte_budget=20_000))
    assert result.failure is not None and result.failure.code == "over_budget"
    assert result.bytes_read <= 20_000


class _DeniedAfterFirstRead(DirectoryStore):
    def get_range(self, key: str, start: int, end: int) -> bytes:
        if self.requests:
            from insitu.errors import AccessDenied

            raise AccessDenied(f"GET {key} denied")
        return super().get_range(key, start, end)


@pytest.mark.parametrize("name", ["h264_aac_end.mp4", "tone.wav", "ct.dcm", "big_exif.jpg"])
def test_probe_lets_a_storage_error_inside_a_parser_propagate(
    local_store: DirectoryStore, name: str
) -> None:
    from insitu.errors import AccessDenied
    from insitu.media import ProbeOptions, probe_object

    store = _DeniedAfterFirstRead(local_store.root)
    info = store.head(name)
    with pytest.raises(AccessDenied):
        probe_object(store, info, ProbeOptions(read_ahead=4096))


def test_probe_options_follow_the_settings() -> None:
    from insitu.config import Settings
    from insitu.media import ProbeOptions

    settings = Settings(_env_file=None, probe_byte_budget=2048, text_max_bytes=10)  # type: ignore[call-arg]
    options = ProbeOptions.from_settings(settings, allowed_kinds=frozenset({"image"}))
    assert (options.byte_budget, options.text_max_bytes) == (2048, 10)
    assert options.allowed_kinds == {"image"}
