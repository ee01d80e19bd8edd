"""Serving the public endpoints to agents: Gradio's MCP server under ``--auth``.

``launch(mcp_server=True)`` serves every public named endpoint as an MCP tool at ``/gradio_api/mcp/``
(streamable HTTP; SSE at ``/gradio_api/mcp/sse``). The page's own events are ``api_visibility="private"``,
so they are not tools. Gradio 6.31 mounts that route outside its sign-in; ``protect.Protect`` closes it
(MCP clients send the sign-in as HTTP Basic credentials). And a tool call reaches the endpoint through a
``gradio_client.Client`` that Gradio creates on first use without credentials, so with ``auth=`` every call
would fail: the lifespan hook here, which runs before the server takes its first request, makes Gradio
create that client signed in.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from gradio_client import Client


def loopback_app_kwargs(auth: tuple[str, str] | None) -> dict[str, Any]:
    """``launch(app_kwargs=...)`` entries for MCP: with a sign-in, the lifespan that signs the loopback in."""
    return {"lifespan": _signed_in_loopback(auth)} if auth else {}


def _signed_in_loopback(auth: tuple[str, str]) -> Callable[[Any], AbstractAsyncContextManager[None]]:
    """A lifespan (it runs before the server takes requests) that makes Gradio's MCP server sign in."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        server = app.get_blocks().mcp_server_obj
        if server is not None:
            server._get_or_create_client = functools.partial(_signed_in_client, server, auth)
        yield

    return lifespan


def _signed_in_client(server: Any, auth: tuple[str, str]) -> Client:
    """Gradio's GradioMCPServer._get_or_create_client, plus the sign-in (created on the first tool call)."""
    if server._client_instance is None:
        if not server.local_url:
            raise RuntimeError("the MCP server's loopback address is not known yet")
        server._client_instance = Client(
            server.local_url,
            auth=auth,
            download_files=False,
            verbose=False,
            analytics_enabled=False,
            ssl_verify=False,
            _skip_components=False,
            headers={"x-gradio-user": "mcp"},
        )
    return server._client_instance
