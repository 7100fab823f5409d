"""The life cycle both layer-archive writers share.

An archive is streamed into ``<path>.part`` and renamed into place only when complete, so
a failed or interrupted slice never leaves a half archive where a printer could take it.
Subclasses name their layer entries (``add_layer``) and write their metadata before
calling :meth:`_commit` from ``finish``.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Self


class ZipArchiveWriter:
    """Stream layers into a ZIP under a temporary name; ``_commit`` moves it into place."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.tmp = self.path.with_name(self.path.name + ".part")
        self.zip = zipfile.ZipFile(self.tmp, "w", zipfile.ZIP_STORED, allowZip64=True)
        self.count = 0
        self.done = False

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.done:
            self.zip.close()
            self.tmp.unlink(missing_ok=True)

    def _commit(self) -> Path:
        """Close the ZIP and rename it from ``<path>.part`` to ``path``."""
        self.zip.close()
        self.tmp.replace(self.path)
        self.done = True
        return self.path
