"""The reference handler of the ingest benchmark: decode with msgspec, one RQ enqueue, 202.

No auth, no dedupe, no audit row, no durability fallback: the floor to compare signalgate with.
"""

from __future__ import annotations

import os
from typing import Any

import msgspec
import redis
from litestar import Litestar, Request, Response, post
from rq import Queue
from rq.serializers import JSONSerializer

_decoder = msgspec.json.Decoder(dict[str, Any])
_queue = Queue(
    "reference",
    connection=redis.Redis.from_url(os.environ["REDIS_URL"]),
    serializer=JSONSerializer,
)


@post("/webhook")
async def webhook(request: Request[Any, Any, Any]) -> Response[bytes]:
    alert = _decoder.decode(await request.body())
    job = _queue.enqueue("workers.jobs.execute_signal", alert["id"])
    return Response(
        msgspec.json.encode({"status": "queued", "signal_id": job.id}),
        status_code=202,
        media_type="application/json",
    )


app = Litestar(route_handlers=[webhook])
