"""What a newer ComfyUI server (0.38+) does differently from 0.3.64, for the emulator's `comfyui_version` switch.

Follows `protocols/comfyui-newer.md` (the differences only): the jobs API under `/api` (`GET /api/jobs`,
`GET /api/jobs/{id}`, `POST /api/jobs/{id}/cancel`, `POST /api/jobs/cancel`), client prompt ids that must be
canonical UUIDs (400 `invalid_prompt_id`), `create_time` in `extra_data`, the `missing_node_type` and
`dependency_cycle` error types, and `metadata` on output items.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from tui.sim.comfyui import ComfyUIEmulator
    from tui.sim.comfyui_execution import QueueItem

OLD_VERSION = "0.3.64"
NEWER_VERSION = "0.38.1"
VERSIONS = (OLD_VERSION, NEWER_VERSION)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
JOB_STATUSES = ("pending", "in_progress", "completed", "failed", "cancelled")


def is_newer(version: str) -> bool:
    return version != OLD_VERSION


def is_canonical_uuid(value: Any) -> bool:
    try:
        return isinstance(value, str) and str(uuid.UUID(value)) == value
    except ValueError:
        return False


def invalid_prompt_id_body() -> dict[str, Any]:
    return {
        "error": {
            "type": "invalid_prompt_id",
            "message": "prompt_id must be a valid UUID",
            "details": "prompt_id must be a UUID in canonical lowercase hyphenated form; omit it to have one generated",
            "extra_info": {},
        },
        "node_errors": {},
    }


def missing_node_type(node_id: str, node: Any) -> dict[str, Any]:
    """The error for a node whose class_type is missing or unknown (PR #12194)."""
    class_type = node.get("class_type") if isinstance(node, dict) else None
    title = ""
    if isinstance(node, dict) and isinstance(node.get("_meta"), dict):
        title = str(node["_meta"].get("title") or "")
    if class_type is None:
        message = f"Node '{node_id}' has no class_type. The workflow may be corrupted or a custom node is missing."
    else:
        message = f"Node '{class_type}' not found. The custom node may not be installed."
    return {
        "type": "missing_node_type",
        "message": message,
        "details": f"Node ID '#{node_id}'",
        "extra_info": {"node_id": node_id, "class_type": class_type, "node_title": title},
    }


def find_cycle(prompt: dict[str, Any]) -> list[str] | None:
    """A dependency cycle among the prompt's links, as node ids in order (first repeated at the end), or None."""
    def links(node_id: str) -> list[str]:
        node = prompt.get(node_id)
        inputs = node.get("inputs") if isinstance(node, dict) else None
        found = []
        for value in (inputs or {}).values() if isinstance(inputs, dict) else ():
            if isinstance(value, list) and len(value) == 2 and isinstance(value[1], int) and str(value[0]) in prompt:
                found.append(str(value[0]))
        return found

    state: dict[str, int] = {}  # 1 visiting, 2 done
    for start in prompt:
        if state.get(start):
            continue
        path: list[str] = []
        stack: list[tuple[str, list[str]]] = [(start, links(start))]
        state[start] = 1
        path.append(start)
        while stack:
            node_id, pending = stack[-1]
            if not pending:
                stack.pop()
                path.pop()
                state[node_id] = 2
                continue
            child = pending.pop()
            if state.get(child) == 1:
                return path[path.index(child):] + [child]
            if not state.get(child):
                state[child] = 1
                path.append(child)
                stack.append((child, links(child)))
    return None


def cycle_node_errors(prompt: dict[str, Any], cycle: list[str], outputs: list[str]) -> dict[str, Any]:
    """`node_errors` for a cycle (PR #13169): every node in it, type `dependency_cycle`."""
    def label(node_id: str) -> str:
        return f"{node_id} ({prompt[node_id].get('class_type')})"

    details = " -> ".join(label(node_id) for node_id in cycle)
    members = list(dict.fromkeys(cycle))
    return {
        node_id: {
            "errors": [{
                "type": "dependency_cycle",
                "message": "Dependency cycle detected",
                "details": details,
                "extra_info": {"node_id": node_id, "cycle_nodes": members},
            }],
            "dependent_outputs": list(outputs),
            "class_type": prompt[node_id].get("class_type"),
        }
        for node_id in members
    }


def image_metadata(width: int, height: int) -> dict[str, Any]:
    return {"kind": "image", "width": width, "height": height}


# ---------------------------------------------------------------------------------------------------- jobs API


def _status_of(entry: dict[str, Any]) -> str:
    status = entry.get("status") or {}
    if status.get("status_str") == "error":
        messages = status.get("messages") or []
        interrupted = any(isinstance(m, list) and m and m[0] == "execution_interrupted" for m in messages)
        return "cancelled" if interrupted else "failed"
    return "completed"


def _message_ms(entry: dict[str, Any], names: tuple[str, ...]) -> int | None:
    for message in (entry.get("status") or {}).get("messages") or []:
        if isinstance(message, list) and len(message) > 1 and message[0] in names and isinstance(message[1], dict):
            return message[1].get("timestamp")
    return None


def _outputs_count(outputs: dict[str, Any]) -> int:
    return sum(len(v) for ui in outputs.values() if isinstance(ui, dict) for v in ui.values() if isinstance(v, list))


class JobsApi:
    """The `/api/jobs` routes over one emulator's queue and history."""

    def __init__(self, emulator: ComfyUIEmulator) -> None:
        self.emulator = emulator

    def register(self, app: web.Application, guard: Callable[[Handler], Handler]) -> None:
        # Only under /api (bare /jobs gives 404, unlike other routes).
        app.router.add_route("GET", "/api/jobs", guard(self._list))
        app.router.add_route("POST", "/api/jobs/cancel", guard(self._cancel_many))
        app.router.add_route("GET", "/api/jobs/{job_id}", guard(self._one))
        app.router.add_route("POST", "/api/jobs/{job_id}/cancel", guard(self._cancel_one))

    # ----- the job objects
    def _queued(self, item: QueueItem, status: str) -> dict[str, Any]:
        job: dict[str, Any] = {"id": item.prompt_id, "status": status, "priority": item.number,
                               "outputs_count": 0, "previewable_outputs_count": 0}
        if "create_time" in item.extra_data:
            job["create_time"] = item.extra_data["create_time"]
        return job

    def _finished(self, prompt_id: str, entry: dict[str, Any], *, detail: bool) -> dict[str, Any]:
        prompt = entry.get("prompt") or []
        extra = prompt[3] if len(prompt) > 3 and isinstance(prompt[3], dict) else {}
        status = _status_of(entry)
        outputs = entry.get("outputs") or {}
        count = _outputs_count(outputs)
        job: dict[str, Any] = {"id": prompt_id, "status": status, "priority": prompt[0] if prompt else None,
                               "outputs_count": count, "previewable_outputs_count": count}
        if "create_time" in extra:
            job["create_time"] = extra["create_time"]
        start = _message_ms(entry, ("execution_start",))
        end = _message_ms(entry, ("execution_success", "execution_error", "execution_interrupted"))
        if start is not None:
            job["execution_start_time"] = start
        if end is not None:
            job["execution_end_time"] = end
        if status == "failed":
            error = next((m[1] for m in (entry.get("status") or {}).get("messages") or []
                          if isinstance(m, list) and m and m[0] == "execution_error"), None)
            if error is not None:
                job["execution_error"] = error
        if detail:
            job["outputs"] = outputs
            job["execution_status"] = entry.get("status")
            job["workflow"] = {"prompt": prompt[2] if len(prompt) > 2 else {}, "extra_data": extra}
        return {key: value for key, value in job.items() if value is not None}

    def _all(self) -> list[dict[str, Any]]:
        emulator = self.emulator
        jobs = [self._queued(item, "in_progress") for item in emulator.running_items()]
        jobs += [self._queued(item, "pending") for item in emulator.pending_items()]
        jobs += [self._finished(pid, entry, detail=False) for pid, entry in emulator.history.items()]
        return jobs

    # ----- handlers
    async def _list(self, request: web.Request) -> web.StreamResponse:
        query = request.rel_url.query
        jobs = self._all()
        if "status" in query:
            wanted = {word.strip().lower() for word in query["status"].split(",") if word.strip()}
            bad = sorted(wanted - set(JOB_STATUSES))
            if bad:
                return web.json_response({"error": f"Invalid status value(s): {', '.join(bad)}"}, status=400)
            jobs = [job for job in jobs if job["status"] in wanted]
        sort_by = query.get("sort_by", "created_at")
        descending = query.get("sort_order", "desc") != "asc"
        field = "create_time" if sort_by == "created_at" else "execution_end_time"
        jobs.sort(key=lambda job: job.get(field) or 0, reverse=descending)
        try:
            limit = int(query["limit"]) if "limit" in query else None
            offset = max(0, int(query.get("offset", "0")))
        except ValueError:
            return web.json_response({"error": "limit and offset must be integers"}, status=400)
        if limit is not None and limit < 1:
            return web.json_response({"error": "limit must be a positive integer"}, status=400)
        total = len(jobs)
        page = jobs[offset:offset + limit] if limit is not None else jobs[offset:]
        pagination = {"offset": offset, "limit": limit, "total": total,
                      "has_more": offset + len(page) < total}
        return web.json_response({"jobs": page, "pagination": pagination})

    async def _one(self, request: web.Request) -> web.StreamResponse:
        job_id = request.match_info["job_id"]
        emulator = self.emulator
        for item in emulator.running_items():
            if item.prompt_id == job_id:
                return web.json_response(self._queued(item, "in_progress"))
        for item in emulator.pending_items():
            if item.prompt_id == job_id:
                return web.json_response(self._queued(item, "pending"))
        if job_id in emulator.history:
            return web.json_response(self._finished(job_id, emulator.history[job_id], detail=True))
        return web.json_response({"error": "Job not found"}, status=404)

    def _cancel(self, job_id: str) -> bool:
        emulator = self.emulator
        if any(item.prompt_id == job_id for item in emulator.running_items()):
            emulator.post_interrupt(job_id)
            return True
        if any(item.prompt_id == job_id for item in emulator.pending_items()):
            emulator.delete_queue_item(job_id)
            return True
        return False

    async def _cancel_one(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"cancelled": self._cancel(request.match_info["job_id"])})

    async def _cancel_many(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"error": "Request body must be valid JSON"}, status=400)
        job_ids = body.get("job_ids") if isinstance(body, dict) else None
        if not isinstance(job_ids, list):
            return web.json_response({"error": "job_ids must be a list"}, status=400)
        invalid = [job_id for job_id in job_ids if not is_canonical_uuid(job_id)]
        if invalid:
            return web.json_response({"error": "job_ids contains invalid id(s)", "invalid_ids": invalid}, status=400)
        results = [self._cancel(job_id) for job_id in job_ids]
        return web.json_response({"cancelled": any(results)})
