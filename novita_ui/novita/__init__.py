"""The Novita AI API: the client (each endpoint; the eraser's polling with a deadline), one call's attempt,
retries and download (``calls``, ``retry``), request and answer bodies (``wire``), task answers and poll
timing (``tasks``), the key scrubber (``scrub``).

The only package that imports httpx; no httpx exception leaves it (``wire`` maps them to our errors).
"""
