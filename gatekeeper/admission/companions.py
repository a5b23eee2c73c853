"""What runs beside the webhook's requests: certificate reloads, policy files, the cluster's
Namespaces and signed checkpoints of the audit log."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from gatekeeper.admission.namespaces import NamespaceWatch
from gatekeeper.admission.tls import CertificateReloader
from gatekeeper.audit.checkpoints import CheckpointScheduler
from gatekeeper.policy.watch import PolicyWatcher

log = logging.getLogger(__name__)


@dataclass
class Companions:
    """Each part is optional; `running` starts and stops the ones there are."""

    watcher: PolicyWatcher | None = None
    namespaces: NamespaceWatch | None = None
    scheduler: CheckpointScheduler | None = None

    @contextlib.asynccontextmanager
    async def running(self, reloader: CertificateReloader | None) -> AsyncIterator[None]:
        """Run the companions while the app serves. Checkpoints go on until
        `final_checkpoint`, so that the last one can cover the last decision."""
        tasks = [asyncio.create_task(reloader.run())] if reloader is not None else []
        # Reloads parse and probe the new set on a thread of their own, whose policy engine
        # goes with that thread when it ends.
        reloads = ThreadPoolExecutor(max_workers=1, thread_name_prefix="policy-reload")
        if self.watcher is not None and self.watcher.interval > 0:
            tasks.append(asyncio.create_task(_follow_policies(self.watcher, reloads)))
        if self.namespaces is not None:
            self.namespaces.start()
        if self.scheduler is not None:
            self.scheduler.start()
        try:
            yield
        finally:
            if self.namespaces is not None:
                self.namespaces.stop()
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await asyncio.to_thread(reloads.shutdown, wait=True)

    async def final_checkpoint(self) -> None:
        """Stop the checkpoints, signing one last over the head."""
        if self.scheduler is not None:
            await asyncio.to_thread(self.scheduler.stop)


async def _follow_policies(watcher: PolicyWatcher, reloads: ThreadPoolExecutor) -> None:
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(watcher.interval)
        try:
            await loop.run_in_executor(reloads, watcher.check)
        except Exception:  # a failed look must not end the following
            log.exception("checking the policy files failed")
