"""Images, videos and DICOM files imported from S3 (moto) through the batch path: files whose
first bytes were read together and are enough (images, DICOM) are probed from them; a video
whose index lies further in is read on from the same head, never probed wrongly from it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from insitu.jobs.inline import InlineBackend
from tests.api.test_s3_end_to_end import all_assets, run
from tests.fixtures.moto import seed
from tests.media.media_files import make_all


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_all(tmp_path_factory.mktemp("media"))


def test_mixed_media_imported_through_the_batch_path_have_their_facts(
    api: TestClient,
    worker: InlineBackend,
    s3: dict[str, str],
    s3_bucket: str,
    s3_client: Any,
    media: dict[str, Path],
) -> None:
    names = ["h264_aac_end.mp4", "finding.mp4", "ct.dcm", "mr.dcm", "two_frames.dcm"]
    files = {f"mixed/{name}": media[name].read_bytes() for name in names}
    assert len(files["mixed/h264_aac_end.mp4"]) > 16 * 1024  # its index is past the head
    seed(s3_client, s3_bucket, files)
    job = run(api, worker, s3, source=f"s3://{s3_bucket}/mixed/")
    assert job["status"] == "succeeded", job
    assert job["counts"]["imported"] == len(names) and job["counts"]["failed"] == 0
    facts = {asset["location"].rsplit("/", 1)[1]: asset for asset in all_assets(api, s3["project"])}
    for name in ("h264_aac_end.mp4", "finding.mp4"):
        video = facts[name]
        assert video["media_kind"] == "video", video
        assert video["video_codec"] == "h264" and video["duration"] and video["duration"] > 0.9
    assert (facts["h264_aac_end.mp4"]["width"], facts["h264_aac_end.mp4"]["height"]) == (160, 120)
    assert (facts["finding.mp4"]["width"], facts["finding.mp4"]["height"]) == (320, 240)
    assert (facts["ct.dcm"]["media_kind"], facts["ct.dcm"]["width"]) == ("dicom", 128)
    assert (facts["mr.dcm"]["media_kind"], facts["mr.dcm"]["width"]) == ("dicom", 64)
    assert facts["two_frames.dcm"]["frame_count"] == 2
