"""What a person can do to a job: cancel, retry, approve, reject (API, web page, CLI).

Each is one store transition with the states it is allowed from; anything else is a
:class:`~printprep.service.store.JobStateError` (HTTP 409) naming the job and its state.
"""

from __future__ import annotations

import json
from typing import Any

from printprep.errors import PrintprepError
from printprep.service.store import WORKING_STATES, Job, Store

CANCELLABLE = ("received", *WORKING_STATES, "queued", "printing", "needs_attention")
RETRYABLE = ("failed", "cancelled")


#: Job options a submitter may set, and their types.
OPTION_TYPES: dict[str, type] = {"units": str, "no_prepare": bool, "prepare": dict}
UNITS = ("mm", "inch", "m", "cm")


def parse_options(text: str | None) -> dict[str, Any]:
    """The ``options`` form field: a JSON object of :data:`OPTION_TYPES` keys."""
    if not text:
        return {}
    try:
        options = json.loads(text)
    except ValueError as exc:
        raise PrintprepError(f"options: not valid JSON ({exc})") from None
    if not isinstance(options, dict):
        raise PrintprepError("options: must be a JSON object")
    unknown = sorted(set(options) - set(OPTION_TYPES))
    if unknown:
        raise PrintprepError(
            f"options: unknown key(s) {', '.join(unknown)}; known: {', '.join(OPTION_TYPES)}"
        )
    for key, value in options.items():
        if not isinstance(value, OPTION_TYPES[key]):
            raise PrintprepError(f"options: {key} must be a {OPTION_TYPES[key].__name__}")
    if "units" in options and options["units"] not in UNITS:
        raise PrintprepError(f"options: units must be one of {', '.join(UNITS)}")
    return options


def check_alloy(alloy: str) -> str:
    """Validate an alloy name against ``printprep.mesh.ALLOYS`` when it is available."""
    try:
        from printprep.mesh import ALLOYS
    except ImportError:
        return alloy
    if alloy not in ALLOYS:
        raise PrintprepError(f"unknown alloy {alloy!r}; known: {', '.join(sorted(ALLOYS))}")
    return alloy


def cancel(store: Store, job_id: str, *, by: str | None = None) -> Job:
    """Cancel a job that has not finished. A worker running it stops at its next step;
    a printing job is stopped on its printer by the dispatcher."""
    who = f" by {by}" if by else ""
    return store.transition(
        job_id, "cancelled", f"cancelled{who}", expect=CANCELLABLE, claimed_by=None
    )


def retry(store: Store, job_id: str, *, by: str | None = None) -> Job:
    """Run a failed or cancelled job again from the start (attempts reset)."""
    who = f" by {by}" if by else ""
    return store.transition(
        job_id,
        "received",
        f"retry requested{who}",
        expect=RETRYABLE,
        error=None,
        attempts=0,
        claimed_by=None,
        heartbeat_at=None,
        progress_pct=0.0,
        printer=None,
        archive=None,
        stage_detail=None,
    )


def approve(store: Store, job_id: str, *, by: str | None = None, reason: str | None = None) -> Job:
    """A person accepts what made the job stop.

    A job stopped by the pipeline (no archive yet) runs again past that question; a job
    stopped at the printer (its archive exists: a print was cut short and the plate has
    been checked) is queued to print again.
    """
    job = store.get(job_id)
    options = dict(job.options)
    options["approved"] = True
    if by:
        options["approved_by"] = by
    msg = f"approved by {by or 'someone'}" + (f": {reason}" if reason else "")
    if job.archive_path is not None and job.archive_path.is_file():
        return store.transition(
            job_id, "queued", msg + "; queued to print again", expect="needs_attention",
            options=options, error=None, printer=None, progress_pct=0.0,
        )
    return store.transition(
        job_id,
        "received",
        msg,
        expect="needs_attention",
        options=options,
        error=None,
        attempts=0,
        claimed_by=None,
        heartbeat_at=None,
    )


def reject(store: Store, job_id: str, *, by: str | None = None, reason: str | None = None) -> Job:
    """A person refuses the job after review; it fails with their reason."""
    error = f"rejected by {by or 'someone'}" + (f": {reason}" if reason else "")
    return store.transition(job_id, "failed", error, expect="needs_attention", error=error)
