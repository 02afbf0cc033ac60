"""What AWS Lambda behind a Function URL lets through, in one place.

A Function URL in BUFFERED mode carries at most 6 MB of invocation payload each way, and a
binary body travels base64-encoded inside it (4/3 of its size) next to the event's headers.
So about 4.5 MB of raw body fits in a request and in a response; anything larger is refused
by AWS itself — a request with AWS's own 413 before our code runs, a response as a bare 502
to the caller. Both directions keep a margin below that: LAMBDA_BODY_BYTES.
"""

from __future__ import annotations

LAMBDA_INVOKE_PAYLOAD_BYTES = 6 * 1024 * 1024
LAMBDA_BODY_BYTES = 4 * 1024 * 1024
