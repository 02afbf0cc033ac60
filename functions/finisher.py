"""The finisher function (AWS): late jobs from the finisher queue, run to their end.

No HTTP: template.yaml feeds it the SQS queue the ingest function hands a late slot's jobs
to (shared/late_results.py), one message per invocation. An order that is not one is
logged and dropped (delivering it again cannot help); a job that fails is closed as failed
by the pipeline, so only a crash (the container lost, storage down) makes the queue deliver
its order again, and an order past its job's limit closes the job.
"""

from __future__ import annotations

import logging

from functions.deps import get_services
from functions.lambda_entry import make_queue_handler
from shared.errors import InvalidInput
from shared.late_results import LateOrder
from shared.usecases.late_jobs import LateJobs

log = logging.getLogger("boothai.late")


async def finish(body: str) -> None:
    try:
        order = LateOrder.from_message(body)
    except InvalidInput:
        log.error("dropped a finisher message that is not an order (%d bytes)", len(body))
        return
    finished = await (await get_services()).late_jobs.run(order)
    if finished is None:
        log.info("job %s had ended already: order dropped", order.job_id)
    else:
        log.info("job %s finished: %s%s", order.job_id, finished.job.status,
                 " (late)" if finished.job.late else "")


handler = make_queue_handler(finish, "finisher", serves=(LateJobs,))
