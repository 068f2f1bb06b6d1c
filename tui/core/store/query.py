"""The job filter language: what a user types (`state:failed,lost profile:sim bottle`), the JobFilter it parses
into, and the same filter as SQL over the `jobs` table (WHERE and ORDER BY clauses).

`JobFilter.matches` and `where_clause` make the same test, one for a job in memory (live updates of a filtered
view), one for the stored rows; change them together. No Textual here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tui.core.jobs import ACTIVE_STATES, TERMINAL_STATES, Job, JobState
from tui.core.presentation import short_failure

_STATE_ALIASES: dict[str, frozenset[JobState]] = {
    "active": ACTIVE_STATES,
    "done": TERMINAL_STATES,
}


def parse_states(value: str) -> tuple[frozenset[JobState] | None, list[str]]:
    """`failed,lost` / `active` / `done` / a prefix typed so far (`fai`) → states, plus the words not understood."""
    states: set[JobState] = set()
    unknown: list[str] = []
    words = [w.strip().lower() for w in value.split(",") if w.strip()]
    if not words:
        return None, []  # "state:" while the user is still typing: no constraint yet
    for word in words:
        named = {s.value: frozenset({s}) for s in JobState} | _STATE_ALIASES
        if word in named:
            states |= named[word]
            continue
        # The start of a name, typed so far ("fai"): every state or alias it could become.
        prefixed = [group for name, group in named.items() if name.startswith(word)]
        if prefixed:
            states.update(s for group in prefixed for s in group)
        else:
            unknown.append(word)
    return frozenset(states), unknown


ORIGINS = ("external", "mine")


@dataclass(frozen=True)
class JobFilter:
    """Which jobs to show. None = no constraint. `text` words must all appear (case-insensitive) in a job's ids,
    failure message or output filenames."""

    states: frozenset[JobState] | None = None
    profile: str | None = None
    text: str | None = None
    batch: str | None = None  # a batch name or its start (`batch:spring` matches `spring-catalog`)
    # "external": jobs other clients submitted (sink results, prompts on a dedicated server); "mine": comfyq's own.
    origin: str | None = None
    # A typed `profile:sim` narrows like `state:` does, to every profile whose name starts so; a profile given by
    # the CLI's -p is one exact name.
    profile_prefix: bool = False
    # Only the latest attempt of each chain (`is:latest`): a job that was resubmitted is left out, so "failed" means
    # still failing. The store decides it (a later attempt is another row); `matches` cannot, see there.
    latest_only: bool = False
    batch_exact: bool = False  # `batch` is one whole name (`--batch NAME` once resolved), not a start
    # Parts of a typed query that were not understood (e.g. `state:bogus`), for the UI to point out.
    problems: tuple[str, ...] = field(default=(), compare=False)

    @classmethod
    def parse(cls, query: str) -> JobFilter:
        """Parse what a user typed: ``state:failed,lost profile:sim-api bottle``.

        `state:` takes a comma list of states, `active` (submitting/queued/running), `done` (finished in any way),
        or the start of a state name (so the filter narrows while typing). Everything else is free text.
        Never raises: what it cannot understand is listed in `problems` (and an unknown state matches nothing).
        """
        states: set[JobState] | None = None
        profile: str | None = None
        batch: str | None = None
        origin: str | None = None
        latest_only = False
        words: list[str] = []
        problems: list[str] = []
        for token in query.split():
            key, sep, value = token.partition(":")
            key = key.lower()
            if sep and key == "state":
                parsed, unknown = parse_states(value)
                if unknown:
                    problems.append(f"state:{','.join(unknown)}: not a state (one of: "
                                    f"{', '.join(s.value for s in JobState)}, active, done)")
                if parsed is not None:
                    states = (states or set()) | set(parsed)
            elif sep and key == "profile":
                if value:
                    profile = value
            elif sep and key == "batch":
                if value:
                    batch = value
            elif sep and key == "origin":
                word = value.lower()
                matches = [name for name in ORIGINS if name.startswith(word)] if word else []
                if len(matches) == 1:
                    origin = matches[0]
                elif word:
                    problems.append(f"origin:{value}: not an origin (one of: {', '.join(ORIGINS)})")
            elif sep and key == "is" and value.lower() == "latest":
                latest_only = True
            else:
                words.append(token)
        return cls(
            states=frozenset(states) if states is not None else None,
            profile=profile,
            text=" ".join(words) or None,
            batch=batch,
            origin=origin,
            latest_only=latest_only,
            profile_prefix=profile is not None,
            problems=tuple(problems),
        )

    @property
    def terms(self) -> tuple[str, ...]:
        """The lowercase words of `text`; each must appear in the job's search text."""
        return tuple(self.text.lower().split()) if self.text else ()

    @property
    def is_empty(self) -> bool:
        return (
            self.states is None and self.profile is None and self.batch is None and self.origin is None
            and not self.latest_only
            and not self.terms
        )

    def to_query(self) -> str:
        """The filter as a query string :meth:`parse` reads back."""
        parts: list[str] = []
        if self.states is not None:
            if self.states == ACTIVE_STATES:
                parts.append("state:active")
            elif self.states == TERMINAL_STATES:
                parts.append("state:done")
            elif self.states:
                parts.append("state:" + ",".join(s.value for s in JobState if s in self.states))
        if self.profile is not None:
            parts.append(f"profile:{self.profile}")
        if self.batch is not None:
            parts.append(f"batch:{self.batch}")
        if self.origin is not None:
            parts.append(f"origin:{self.origin}")
        if self.latest_only:
            parts.append("is:latest")
        if self.text:
            parts.append(self.text)
        return " ".join(parts)

    def matches(self, job: Job) -> bool:
        """The same test the store's SQL makes, for a job in memory (live updates of a filtered view).

        `latest_only` is not judged here (a job does not know its later attempts): a view that uses it drops a
        job's row when a later attempt of it arrives."""
        if self.states is not None and job.state not in self.states:
            return False
        if self.profile is not None and not (
            job.profile.startswith(self.profile) if self.profile_prefix else job.profile == self.profile
        ):
            return False
        if self.batch is not None and not (
            job.batch == self.batch if self.batch_exact else (job.batch or "").startswith(self.batch)
        ):
            return False
        if self.origin is not None and job.external != (self.origin == "external"):
            return False
        terms = self.terms
        if terms:
            haystack = job_search_text(job)
            return all(term in haystack for term in terms)
        return True


def job_search_text(job: Job) -> str:
    """What free-text filters search: what the job table shows (the state, the failure's short form — `oom` finds
    the rows that read `OOM · KSampler`), ids, the failure (message, node, exception), the warning, output files."""
    parts: list[str | None] = [job.state.value, job.id, job.task_id, job.prompt_id, job.request_id, job.warning]
    if job.failure is not None:
        parts += [short_failure(job.failure), job.failure.message, job.failure.class_type,
                  job.failure.exception_type]
    for output in job.outputs:
        parts.append(f"{output.subfolder}/{output.filename}" if output.subfolder else output.filename)
    text = "\n".join(p for p in parts if p).lower()
    return text if text.isascii() else text.encode("utf-8", "replace").decode("utf-8")  # lone surrogates → ?


# Lifecycle order for sorting by state: active first (ascending), then how it ended.
_STATE_RANK_SQL = "CASE state " + " ".join(f"WHEN '{s.value}' THEN {i}" for i, s in enumerate(JobState)) + " END"
NEWEST_FIRST = "submitted_at DESC, seq DESC"
ORDERS = ("submitted", "state", "profile", "duration", "outputs", "updated", "id")
# No later attempt of this job exists (an index look-up on jobs_by_parent per row).
NOT_RESUBMITTED = "NOT EXISTS (SELECT 1 FROM jobs AS child WHERE child.parent_id = jobs.id)"
CHUNK = 500  # bound on SQL variables per IN (...) list


def where_clause(flt: JobFilter | None) -> tuple[str, list[Any]]:
    """The WHERE clause (with its parameters) for a filter; '' when it selects everything."""
    if flt is None:
        return "", []
    clauses: list[str] = []
    params: list[Any] = []
    if flt.states is not None:
        if not flt.states:
            clauses.append("0")
        else:
            clauses.append(f"state IN ({', '.join('?' * len(flt.states))})")
            params += sorted(s.value for s in flt.states)
    if flt.profile is not None and flt.profile_prefix:
        clauses.append("profile >= ? AND profile < ?")  # every name that starts so (see `batch` below)
        params += [flt.profile, flt.profile + "\U0010ffff"]
    elif flt.profile is not None:
        clauses.append("profile = ?")
        params.append(flt.profile)
    if flt.batch is not None and flt.batch_exact:
        clauses.append("batch = ?")
        params.append(flt.batch)
    elif flt.batch is not None:
        # A prefix, without LIKE's wildcards: a range on the batch index (every string that starts with the name
        # sorts between it and the name followed by the last code point).
        clauses.append("batch >= ? AND batch < ?")
        params += [flt.batch, flt.batch + "\U0010ffff"]
    if flt.origin is not None:
        clauses.append("external = ?")
        params.append(1 if flt.origin == "external" else 0)
    if flt.latest_only:
        clauses.append(NOT_RESUBMITTED)
    for term in flt.terms:
        clauses.append("instr(search_text, ?) > 0")
        params.append(term)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def filter_sql(flt: JobFilter | None) -> tuple[str, list[Any]]:
    """The filter as an SQL condition over the `jobs` table (``1`` when it selects everything), with its
    parameters: for read-only reports that add conditions of their own (tui/core/stats.py)."""
    where, params = where_clause(flt)
    return (where.removeprefix(" WHERE ") or "1"), params


def order_clause(order: str, descending: bool, now: float) -> tuple[str, list[Any]]:
    direction = "DESC" if descending else "ASC"
    if order == "submitted":
        return f"submitted_at {direction}, seq {direction}", []
    if order == "state":
        return f"{_STATE_RANK_SQL} {direction}, {NEWEST_FIRST}", []
    if order == "profile":
        return f"profile {direction}, {NEWEST_FIRST}", []
    if order == "duration":
        # Active jobs count up to now; a job without a duration sorts last either way.
        return f"(COALESCE(finished_at, ?) - submitted_at) {direction}, {NEWEST_FIRST}", [now]
    if order == "outputs":
        return f"output_count {direction}, {NEWEST_FIRST}", []
    if order == "updated":
        return f"updated_at {direction}, seq {direction}", []
    if order == "id":
        return f"id {direction}", []
    raise ValueError(f"cannot order jobs by {order!r} (one of: {', '.join(ORDERS)})")
