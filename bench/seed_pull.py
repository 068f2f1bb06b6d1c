"""The way a user scripts "download the batch" with the official OSS SDK: list the prefix, then a plain sequential
loop of `get_object_to_file` (the SDK's own download call, which checks the CRC-64).

    python -m bench.seed_pull ENDPOINT REGION BUCKET PREFIX OUT_DIR

Keys from OSS_ACCESS_KEY_ID / OSS_ACCESS_KEY_SECRET, as the SDK's examples read them. Prints each key fetched.
"""

from __future__ import annotations

import os
import sys

import alibabacloud_oss_v2 as oss


def main(argv: list[str]) -> int:
    endpoint, region, bucket, prefix, out_dir = argv
    config = oss.config.load_default()
    config.credentials_provider = oss.credentials.EnvironmentVariableCredentialsProvider()
    config.region = region
    config.endpoint = endpoint
    client = oss.Client(config)
    paginator = client.list_objects_v2_paginator()
    for page in paginator.iter_page(oss.ListObjectsV2Request(bucket=bucket, prefix=prefix)):
        for entry in page.contents or []:
            target = os.path.join(out_dir, entry.key.rsplit("/", 1)[-1])
            client.get_object_to_file(oss.GetObjectRequest(bucket=bucket, key=entry.key), target)
            print(f"downloaded {entry.key}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
