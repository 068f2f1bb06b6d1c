"""The emulator's OSS endpoint, driven by the official OSS SDK (alibabacloud-oss-v2) over loopback, and its /view.

The SDK signs every request with signature V4; the emulator checks it. Requests the SDK signed and then were
changed on the way (a header, the query, the key) must be refused with SignatureDoesNotMatch, as OSS does.
"""

from __future__ import annotations

import datetime
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import alibabacloud_oss_v2 as oss
import httpx
import pytest
from alibabacloud_oss_v2.credentials import Credentials
from alibabacloud_oss_v2.signer import SignerV4
from alibabacloud_oss_v2.types import HttpRequest, SigningContext

from tui.sim.server import SimServer, SimThread

pytestmark = pytest.mark.timeout(120)

TOKEN = "view-token-0123456789"
KEY_ID, SECRET = "LTAItestkey01", "test-secret-abcdef"
BUCKET = "comfyq-sim"


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[SimServer]:
    with SimThread(token=TOKEN, output_dir=tmp_path / "out", oss_key=(KEY_ID, SECRET)) as server:
        (server.output_dir / "sub").mkdir()
        (server.output_dir / "sub" / "a b+c.png").write_bytes(os.urandom(70_000))
        for number in range(5):
            (server.output_dir / f"img_{number:05}_.png").write_bytes(os.urandom(100 + number))
        yield server


def client(server: SimServer, secret: str = SECRET, key_id: str = KEY_ID, retries: int = 1) -> oss.Client:
    config = oss.config.load_default()
    config.region = "cn-hangzhou"
    config.endpoint = server.base_url
    config.credentials_provider = oss.credentials.StaticCredentialsProvider(key_id, secret)
    config.retry_max_attempts = retries
    return oss.Client(config)


def service_code(call) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(oss.exceptions.OperationError) as caught:
        call()
    error = caught.value.unwrap()
    assert isinstance(error, oss.exceptions.ServiceError), error
    return error.code


def test_get_head_and_get_to_file_with_crc_check(sim: SimServer, tmp_path: Path) -> None:
    original = sim.output_dir / "sub" / "a b+c.png"
    key = "artlab/output/sub/a b+c.png"
    sdk = client(sim, retries=3)  # get_object_to_file makes retries-1 attempts: one attempt would be none
    head = sdk.head_object(oss.HeadObjectRequest(bucket=BUCKET, key=key))
    assert head.content_length == 70_000 and head.hash_crc64
    result = sdk.get_object(oss.GetObjectRequest(bucket=BUCKET, key=key))
    assert result.body.read() == original.read_bytes()
    # get_object_to_file checks the CRC-64 the emulator announces against the bytes it got
    sdk.get_object_to_file(oss.GetObjectRequest(bucket=BUCKET, key=key), str(tmp_path / "copy"))
    assert hashlib.sha256((tmp_path / "copy").read_bytes()).digest() == hashlib.sha256(original.read_bytes()).digest()


def test_list_objects_v2_pages_and_prefixes(sim: SimServer) -> None:
    sdk = client(sim)
    keys: list[str] = []
    paginator = sdk.list_objects_v2_paginator(limit=2)
    for page in paginator.iter_page(oss.ListObjectsV2Request(bucket=BUCKET, prefix="artlab/output/")):
        keys += [entry.key for entry in page.contents or []]
    assert keys == sorted(keys) and len(keys) == 6 and "artlab/output/sub/a b+c.png" in keys
    folders = sdk.list_objects_v2(oss.ListObjectsV2Request(bucket=BUCKET, prefix="artlab/output/", delimiter="/"))
    assert [prefix.prefix for prefix in folders.common_prefixes] == ["artlab/output/sub/"]
    assert len(folders.contents) == 5


def test_errors_are_oss_xml_errors(sim: SimServer) -> None:
    sdk = client(sim)
    assert service_code(lambda: sdk.get_object(oss.GetObjectRequest(bucket=BUCKET, key="artlab/output/none.png"))) == "NoSuchKey"
    assert service_code(lambda: sdk.head_object(oss.HeadObjectRequest(bucket=BUCKET, key="artlab/output/none.png"))) == "NoSuchKey"
    # a key outside the emulated output folder is no object (and no way out of it: tested on path_for below)
    assert service_code(lambda: sdk.get_object(oss.GetObjectRequest(bucket=BUCKET, key="artlab/input/img_00000_.png"))) == "NoSuchKey"
    assert sim.oss.path_for("artlab/output/../../etc/passwd") is None
    assert sim.oss.path_for("artlab/output/sub/../img_00000_.png") is None
    wrong_secret = client(sim, secret="nope")
    assert service_code(lambda: wrong_secret.get_object(oss.GetObjectRequest(bucket=BUCKET, key="artlab/output/sub/a b+c.png"))) == "SignatureDoesNotMatch"
    wrong_id = client(sim, key_id="LTAIother")
    assert service_code(lambda: wrong_id.list_objects_v2(oss.ListObjectsV2Request(bucket=BUCKET))) == "InvalidAccessKeyId"
    unsigned = httpx.get(f"{sim.base_url}/{BUCKET}/artlab/output/sub/a%20b%2Bc.png")
    assert unsigned.status_code == 403 and "<Code>AccessDenied</Code>" in unsigned.text
    assert unsigned.headers["content-type"].startswith("application/xml")


def _signed(server: SimServer, key: str, *, when: datetime.datetime | None = None, query: str = "") -> HttpRequest:
    request = HttpRequest("GET", f"{server.base_url}/{BUCKET}/{key.replace(' ', '%20')}{query}")
    context = SigningContext(
        product="oss", region="cn-hangzhou", bucket=BUCKET, key=key, request=request,
        credentials=Credentials(KEY_ID, SECRET), signing_time=when,
    )
    SignerV4().sign(context)
    return request


@pytest.mark.parametrize("change", ["header", "query", "key", "none"])
def test_a_signed_request_changed_on_the_way_is_refused(sim: SimServer, change: str) -> None:
    key = "artlab/output/img_00000_.png"
    request = _signed(sim, key, query="?response-content-type=image%2Fpng")
    headers = dict(request.headers)
    url = request.url
    if change == "header":
        headers["x-oss-meta-extra"] = "added"
    elif change == "query":
        url = url.replace("image%2Fpng", "text%2Fhtml")
    elif change == "key":
        url = url.replace("img_00000_", "img_00001_")
    answer = httpx.get(url, headers=headers)
    if change == "none":
        assert answer.status_code == 200 and answer.content == (sim.output_dir / "img_00000_.png").read_bytes()
    else:
        assert answer.status_code == 403 and "<Code>SignatureDoesNotMatch</Code>" in answer.text


def test_an_old_signature_is_refused_as_skewed(sim: SimServer) -> None:
    stale = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1)
    request = _signed(sim, "artlab/output/img_00000_.png", when=stale)
    answer = httpx.get(request.url, headers=dict(request.headers))
    assert answer.status_code == 403 and "<Code>RequestTimeTooSkewed</Code>" in answer.text


def test_the_emulator_token_does_not_apply_to_signed_oss_requests_only(sim: SimServer) -> None:
    # OSS requests carry their own signature; everything else still needs the emulator's token.
    assert httpx.get(f"{sim.base_url}/queue").status_code == 401
    assert client(sim).head_object(oss.HeadObjectRequest(bucket=BUCKET, key="artlab/output/img_00000_.png")).content_length == 100


# ----------------------------------------------------------------------------------------------- /view


def test_view_serves_outputs_with_the_token_404_and_400(sim: SimServer) -> None:
    view = f"{sim.base_url}/view"
    auth = {"Authorization": TOKEN}
    ok = httpx.get(view, params={"filename": "a b+c.png", "subfolder": "sub", "type": "output"}, headers=auth)
    assert ok.status_code == 200 and ok.content == (sim.output_dir / "sub" / "a b+c.png").read_bytes()
    assert httpx.get(view, params={"filename": "img_00000_.png", "type": "output"}).status_code == 401
    assert httpx.get(view, params={"filename": "none.png", "type": "output"}, headers=auth).status_code == 404
    assert httpx.get(view, params={"filename": "../secret.png", "type": "output"}, headers=auth).status_code == 400
    assert httpx.get(view, params={"filename": "/etc/passwd", "type": "output"}, headers=auth).status_code == 400
    # a subfolder that climbs out: ComfyUI answers 403 (no body), and so does the emulator
    climbed = httpx.get(view, params={"filename": "passwd", "subfolder": "../..", "type": "output"}, headers=auth)
    assert climbed.status_code == 403
