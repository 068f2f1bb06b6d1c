"""OSS paths of outputs (tui/core/oss.py): bucket forms, subfolders, temp files, and names refused."""

from __future__ import annotations

import pytest

from tui.core.jobs import Output
from tui.core.oss import OssLocation, OssPathError, compose_oss_path, normalize_bucket_path

SEED_NAME = "ComfyUI_00000000_174427782695938_599ffc33-edea-4e64-bb60-28e834940f5c_.png"


def out(filename: str, subfolder: str = "", type_: str = "output", node_id: str = "9") -> Output:
    return Output(node_id=node_id, type=type_, subfolder=subfolder, filename=filename)


@pytest.mark.parametrize(
    ("bucket_path", "output", "expected"),
    [
        # oss://bucket/prefix: path, bucket and key
        (
            "oss://my-bucket/data-115",
            out("a_00001_.png"),
            OssLocation("oss://my-bucket/data-115/output/a_00001_.png", "my-bucket", "data-115/output/a_00001_.png"),
        ),
        # trailing slash, doubled slashes, surrounding blanks, upper-case scheme
        (
            "  OSS://my-bucket//data-115///  ",
            out("a.png"),
            OssLocation("oss://my-bucket/data-115/output/a.png", "my-bucket", "data-115/output/a.png"),
        ),
        # bucket root (no prefix)
        ("oss://my-bucket", out("a.png"), OssLocation("oss://my-bucket/output/a.png", "my-bucket", "output/a.png")),
        ("oss://my-bucket/", out("a.png"), OssLocation("oss://my-bucket/output/a.png", "my-bucket", "output/a.png")),
        # the seed's bare form: no bucket / key can be told
        (
            "26****/data-115****************",
            out(SEED_NAME),
            OssLocation(f"26****/data-115****************/output/{SEED_NAME}", None, None),
        ),
        ("26xx/data-115xx/", out("a.png"), OssLocation("26xx/data-115xx/output/a.png", None, None)),
        # subfolders: nested, with stray slashes, Windows separators, "." segments
        (
            "oss://b/p",
            out("x.png", "portraits/2026"),
            OssLocation("oss://b/p/output/portraits/2026/x.png", "b", "p/output/portraits/2026/x.png"),
        ),
        ("oss://b/p", out("x.png", "sub/"), OssLocation("oss://b/p/output/sub/x.png", "b", "p/output/sub/x.png")),
        ("oss://b/p", out("x.png", "a//b"), OssLocation("oss://b/p/output/a/b/x.png", "b", "p/output/a/b/x.png")),
        ("oss://b/p", out("x.png", "a\\b"), OssLocation("oss://b/p/output/a/b/x.png", "b", "p/output/a/b/x.png")),
        ("oss://b/p", out("x.png", "./a"), OssLocation("oss://b/p/output/a/x.png", "b", "p/output/a/x.png")),
        # names ComfyUI allows that merely look odd are kept as they are
        (
            "oss://b/p",
            out("my image (1)_00001_.png", "dir with space"),
            OssLocation(
                "oss://b/p/output/dir with space/my image (1)_00001_.png",
                "b",
                "p/output/dir with space/my image (1)_00001_.png",
            ),
        ),
        # the `input` folder lives next to `output` on the mount
        ("oss://b/p", out("in.png", type_="input"), OssLocation("oss://b/p/input/in.png", "b", "p/input/in.png")),
    ],
)
def test_compose(bucket_path: str, output: Output, expected: OssLocation) -> None:
    assert compose_oss_path(bucket_path, output) == expected


@pytest.mark.parametrize(
    ("bucket_path", "output"),
    [
        (None, out("a.png")),
        ("", out("a.png")),
        ("   ", out("a.png")),
        ("oss://b/p", out("ComfyUI_temp_hvttz_00001_.png", type_="temp")),  # temp files have no OSS path
        ("26xx/data-115xx", out("ComfyUI_temp_hvttz_00001_.png", type_="temp")),
        ("oss://b/p", out("a.png", type_="bogus")),
    ],
)
def test_no_path(bucket_path: str | None, output: Output) -> None:
    assert compose_oss_path(bucket_path, output) is None


@pytest.mark.parametrize(
    ("bucket_path", "output", "fragment"),
    [
        ("oss://b/p", out("../secret.png"), "file name '../secret.png' leaves its folder"),
        ("oss://b/p", out("x.png", "../.."), "subfolder '../..' leaves its folder"),
        ("oss://b/p", out("x.png", "a/../../b"), "leaves its folder"),
        ("oss://b/p", out("x.png", "a\\..\\b"), "leaves its folder"),
        ("oss://b/p", out(".."), "leaves its folder"),
        ("oss://b/p", out("x.png", "/etc"), "subfolder '/etc' is an absolute path"),
        ("oss://b/p", out("x.png", "\\\\server\\share"), "is an absolute path"),
        ("oss://b/p", out("x.png", "C:\\out"), "subfolder 'C:\\\\out' is an absolute path"),
        ("oss://b/p", out("/etc/passwd"), "file name '/etc/passwd' is an absolute path"),
        ("oss://b/p", out("D:evil.png"), "is an absolute path"),
        ("oss://b/p", out(""), "output of node 9 has an empty file name"),
        ("oss://b/p", out("   "), "output of node 9 has an empty file name"),
        ("oss://b/p", out("./"), "has no usable file name"),
        ("oss://b/../p", out("a.png"), "contains '..'"),
        ("oss://", out("a.png"), "names no bucket"),
        ("///", out("a.png"), "names no bucket"),
    ],
)
def test_refused(bucket_path: str, output: Output, fragment: str) -> None:
    with pytest.raises(OssPathError) as caught:
        compose_oss_path(bucket_path, output)
    assert fragment in str(caught.value)


def test_oss_path_error_is_a_value_error() -> None:
    assert issubclass(OssPathError, ValueError)


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("oss://b/p/", "oss://b/p"),
        ("oss://b//p//q", "oss://b/p/q"),
        ("/26xx/data/", "26xx/data"),
        ("https://b.oss-cn-hangzhou.aliyuncs.com/p/", "https://b.oss-cn-hangzhou.aliyuncs.com/p"),
    ],
)
def test_normalize_bucket_path(raw: str, normal: str) -> None:
    assert normalize_bucket_path(raw) == normal


def test_https_bucket_path_gives_a_path_but_no_bucket_or_key() -> None:
    location = compose_oss_path("https://b.oss-cn-hangzhou.aliyuncs.com/p", out("a.png"))
    assert location == OssLocation("https://b.oss-cn-hangzhou.aliyuncs.com/p/output/a.png", None, None)
