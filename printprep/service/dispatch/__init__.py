"""Dispatcher: queued jobs -> idle printers whose profile matches, and prints -> job states.

``Dispatcher(store, printers, config)`` runs one thread (``start()`` / ``stop()``). Each
tick (``poll_s``) it

1. reads every printer's status, reconnects offline printers (at most every
   ``reconnect_s``), and publishes changed statuses on :attr:`Dispatcher.events`;
2. follows each print it started: progress into the job, ``finished`` -> job ``done``,
   printer ``error`` -> job ``failed`` with the printer's message, a job cancelled in
   the store -> the print is cancelled;
3. gives each free printer the best queued job for its profile: highest priority
   first, then the oldest; one job per printer. A printer is free when it is ``idle``:
   after a print finishes it stays ``finished`` until someone confirms the plate is
   cleared (:mod:`.plates`), unless it is configured with ``auto_clear``.

A printer that goes offline keeps its job. When it comes back still holding the job, the
job carries on. When it comes back without it (restarted), or stays away longer than
``offline_grace_s``: a job that had not started printing (0 %) is queued again for any
matching printer; a job that had (> 0 %) goes to ``needs_attention``, because a
half-printed part may be on the plate and only a person can tell. On a service restart,
jobs left ``printing`` are picked up again the same way. Every step is written to the
job's event log.

The code: :mod:`.loop` (the thread, matching jobs to printers, sending),
:mod:`.supervision` (following prints, offline printers, restarts), :mod:`.plates`
(finished prints waiting for the plate to be cleared), :mod:`.cancels` (cancels waiting
for an unreachable printer), :mod:`.ledger` (the small JSON files those two keep),
:mod:`.batching` (plates of several resin jobs), :mod:`.prints`, :mod:`.settings`,
:mod:`.events`.
"""

from printprep.service.dispatch.events import EventHub
from printprep.service.dispatch.loop import Dispatcher
from printprep.service.dispatch.prints import job_archive_path
from printprep.service.dispatch.settings import DispatchSettings, dispatch_settings

__all__ = ["DispatchSettings", "Dispatcher", "EventHub", "dispatch_settings", "job_archive_path"]
