"""The Novita AI API: the client (one attempt, the retry policy above it, polling with a deadline, downloads),
request and answer bodies (``wire``), task answers and poll timing (``tasks``), the key scrubber (``scrub``).

The only package that imports httpx; no httpx exception leaves it (``wire`` maps them to our errors).
"""
