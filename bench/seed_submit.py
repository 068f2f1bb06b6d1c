"""The seed's API-edition submission loop (PAI ArtLab sample), ported from `requests` to httpx (same shape).

    python -m bench.seed_submit INPUT_URL COUNT WORKFLOW.json

One session with the Authorization header, one sequential POST per prompt to `<input_url>/api_prompt?task_id=...`,
exit on the first non-200, print the returned index — exactly what the sample does, in a loop of COUNT.
"""

from __future__ import annotations

import json
import sys

import httpx


def main(argv: list[str]) -> int:
    input_url, count, workflow_file = argv[0], int(argv[1]), argv[2]
    token = ""
    with open(workflow_file, encoding="utf-8") as handle:
        work_flow = json.load(handle)
    session = httpx.Client(timeout=30)
    session.headers.update({"Authorization": f"{token}"})
    for i in range(count):
        payload = work_flow
        response = session.post(url=f"{input_url}/api_prompt?task_id=txt2img_test", json=payload)
        if response.status_code != 200:
            sys.exit(f"send request error:{response.content!r}, response code:{response.status_code}")
        else:
            print(f"send {i} success, index is {response.content!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
