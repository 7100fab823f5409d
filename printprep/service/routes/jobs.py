"""``/api/jobs``: submit, list, inspect, cancel, retry, approve, reject, download files."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, HTTPException, Query, Response, UploadFile, status
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, Field

from printprep.errors import ProfileError
from printprep.service import jobs as job_actions
from printprep.service.deps import SettingsDep, StoreDep, TokenName
from printprep.service.intake import UploadTooLarge, check_profile_name, intake_stream
from printprep.service.store import STATES

router = APIRouter(prefix="/api/jobs", tags=["jobs"])


class Decision(BaseModel):
    """Body of approve / reject (optional)."""

    reason: str | None = Field(default=None, max_length=2000)


def job_detail(store: Any, job: Any) -> dict[str, Any]:
    """The job with its report, events and artifact names (``GET /api/jobs/{id}``)."""
    out = job.to_dict()
    out["report"] = job.report
    out["events"] = [e.to_dict() for e in store.events(job.id)]
    out["artifacts"] = job.artifacts()
    out["files"] = {name: f"/api/jobs/{job.id}/files/{name}" for name in out["artifacts"]}
    return out


@router.post("", status_code=status.HTTP_201_CREATED, summary="Submit a mesh as a new job")
def submit_job(
    response: Response,
    store: StoreDep,
    settings: SettingsDep,
    who: TokenName,
    file: Annotated[UploadFile, File(description="the mesh (STL, OBJ, PLY, OFF, 3MF, GLB)")],
    profile: Annotated[str | None, Form(description="printer profile name")] = None,
    alloy: Annotated[str | None, Form()] = None,
    material: Annotated[str | None, Form()] = None,
    priority: Annotated[int, Form(ge=-1000, le=1000)] = 0,
    name: Annotated[str | None, Form(max_length=200)] = None,
    notes: Annotated[str | None, Form(max_length=10000)] = None,
    order_ref: Annotated[
        str | None,
        Form(max_length=200, description="the customer's order or bag number"),
    ] = None,
    options: Annotated[
        str | None,
        Form(description='JSON object: {"units": "mm|inch|m|cm", "no_prepare": true, '
                         '"prepare": {PrepareOptions fields}}'),
    ] = None,
    source: Annotated[str, Form(description="upload (web page), api or cli")] = "upload",
) -> dict[str, Any]:
    profile = profile or settings.server.default_profile
    if source not in ("upload", "api", "cli"):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY,
                            f"source must be upload, api or cli, not {source!r}")
    job_options = job_actions.parse_options(options)
    try:
        check_profile_name(profile)
    except ProfileError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, f"profile: {exc}") from None
    if alloy:
        job_actions.check_alloy(alloy)
    try:
        job = intake_stream(
            store,
            file.file,
            filename=file.filename,
            source=source,
            profile=profile,
            options=job_options,
            submitter=who,
            name=name,
            material=material,
            alloy=alloy,
            priority=priority,
            notes=notes,
            order_ref=order_ref,
            limit_bytes=settings.upload_limit_bytes,
        )
    except UploadTooLarge as exc:
        raise HTTPException(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, str(exc)) from None
    response.headers["Location"] = f"/api/jobs/{job.id}"
    return job_detail(store, job)


@router.get("", summary="List jobs, newest first")
def list_jobs(
    store: StoreDep,
    _: TokenName,
    state: Annotated[
        list[str] | None, Query(description="only these states (repeat or comma-separate)")
    ] = None,
    profile: Annotated[str | None, Query(description="only jobs for this printer profile")] = None,
    printer: Annotated[str | None, Query(description="only jobs sent to this printer")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> JSONResponse:
    states = None
    if state:
        states = [s.strip() for item in state for s in item.split(",") if s.strip()]
        bad = [s for s in states if s not in STATES]
        if bad:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_ENTITY,
                f"unknown state(s) {', '.join(bad)}; known: {', '.join(STATES)}",
            )
    profile = profile or None
    printer = printer or None
    jobs = store.list_jobs(states, limit=limit, offset=offset, profile=profile, printer=printer)
    body = {
        "jobs": [j.to_dict() for j in jobs],
        "total": store.count_jobs(states, profile=profile, printer=printer),
        "limit": limit,
        "offset": offset,
    }
    # plain JSON data already: skip FastAPI's generic encoder (10x slower on 50 jobs)
    return JSONResponse(body)


@router.get("/{job_id}", summary="One job: state, progress, report, events, artifacts")
def get_job(job_id: str, store: StoreDep, _: TokenName) -> dict[str, Any]:
    return job_detail(store, store.get(job_id))


@router.post("/{job_id}/cancel", summary="Cancel a job that has not finished")
def cancel_job(job_id: str, store: StoreDep, who: TokenName) -> dict[str, Any]:
    return job_detail(store, job_actions.cancel(store, job_id, by=who))


@router.post("/{job_id}/retry", summary="Run a failed or cancelled job again from the start")
def retry_job(job_id: str, store: StoreDep, who: TokenName) -> dict[str, Any]:
    return job_detail(store, job_actions.retry(store, job_id, by=who))


def _decide(
    decision: Callable[..., Any], store: Any, job_id: str, who: str, body: Decision | None
) -> dict[str, Any]:
    """Approve or reject (``decision``: :func:`printprep.service.jobs.approve` or
    ``reject``) job ``job_id`` for ``who`` with the body's reason; the job as it is now."""
    reason = body.reason if body else None
    return job_detail(store, decision(store, job_id, by=who, reason=reason))


@router.post("/{job_id}/approve", summary="Go on with a job that needs attention")
def approve_job(
    job_id: str, store: StoreDep, who: TokenName, body: Decision | None = None
) -> dict[str, Any]:
    return _decide(job_actions.approve, store, job_id, who, body)


@router.post("/{job_id}/reject", summary="Stop a job that needs attention (it fails)")
def reject_job(
    job_id: str, store: StoreDep, who: TokenName, body: Decision | None = None
) -> dict[str, Any]:
    return _decide(job_actions.reject, store, job_id, who, body)


@router.get("/{job_id}/files/{name}", summary="Download one artifact of a job")
def get_file(job_id: str, name: str, store: StoreDep, _: TokenName) -> FileResponse:
    job = store.get(job_id)
    # Only names that are files in the job's folder: no path can escape it.
    if name not in job.artifacts():
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"job {job_id} has no file {name!r}")
    return FileResponse(job.folder / name, filename=name)
