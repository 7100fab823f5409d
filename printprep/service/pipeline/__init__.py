"""The pipeline a worker runs for one job: check -> repair -> prepare -> slice -> queued.

Each stage calls the library (``printprep.mesh``, ``printprep.casting``,
``printprep.slicing``) exactly as the CLI does, writes its artifacts into a private work
folder and renames them into the job's folder once complete, then moves the job to the
next state in one store transaction. A job cancelled (or taken back from this worker)
meanwhile refuses that transition and the worker simply stops.

Outcomes other than ``queued``:

- ``failed``: unreadable input, a stage error; ``error`` says which file and why.
- ``needs_attention``: a decision only a person can make: a mesh repair could not make
  sound, or walls below the casting minimum of the job's alloy. ``approve`` runs the job
  again past that question; ``reject`` fails it.

Stages that are not in this build (a missing library function) are skipped with an
event saying so, except slicing, without which nothing can be printed.

Modules, one concern each:

- :mod:`.runner`: :func:`run_job` and :class:`JobRun`, the stages in order and the
  state transitions between them;
- :mod:`.stages`: the library calls and the job's inputs (profile, material, options);
- :mod:`.report`: the job's report as JSON data;
- :mod:`.attention`: what a check report asks of a person (``needs_attention``);
- :mod:`.artifacts`: the work folder and publishing files into the job's folder.

Work done once per attempt: the original is read and parsed once, and that
``LoadedMesh`` goes to the check and to repair; the check report is converted to JSON
data once, and the ``needs_attention`` decision reads that data; the job the ``failed``
transition returns is the one a failed watch job is filed with (no second read). The
casting report is converted again after ``write_prepared`` adds the slice figures to it:
0.3 ms for a ring's report against 17 s of preparing it, not worth a cache.
"""

from printprep.service.pipeline.artifacts import REPORT_NAME
from printprep.service.pipeline.runner import JobRun, run_job

__all__ = ["REPORT_NAME", "JobRun", "run_job"]
