"""Routes for printers (stub: filled in by that area's work)."""

from fastapi import APIRouter

router = APIRouter()
