"""Agents use the app over MCP: ``python app.py --mcp``, driven by the official ``mcp`` client over Gradio's
streamable HTTP transport, against the fake Novita server. Images go in as data URIs and come back as MCP
image content plus a URL to the exact file, the way Gradio's MCP server does it."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult, ImageContent, TextContent
from PIL import Image

from novita_ui.config import env_flag
from novita_ui.errors import NovitaUIError
from novita_ui.pixels import imaging
from novita_ui.ui import user_message
from novita_ui.ui.server.protect import basic_credentials, password_ok
from tests.app_process import AppServer, start_app, stop_app
from tests.fake_novita import FILL, TEST_KEY, TEXT_INK, FakeNovita, running_fake_novita
from tests.images import box_mask, encode, phone_photo, photo_like

pytestmark = pytest.mark.slow  # app.py subprocesses, a wheel build or many-megapixel photos

BOX = (100, 50, 200, 150)  # the masked area of the 300 x 200 test photo
Served = tuple[FakeNovita, AppServer]
MCP_ROUTE = "/gradio_api/mcp/"  # Gradio's streamable HTTP transport
OWN_KEY, WRONG_KEY = "sk_caller_own_key", "sk_wrong_one"  # keys an agent passes as api_key


@contextlib.contextmanager
def running_app(fake: FakeNovita, workdir: Path, *args: str, **kwargs: Any) -> Iterator[AppServer]:
    """``python app.py --port N args`` against the fake, stopped afterwards."""
    # A generous start-up deadline: importing gradio takes seconds, and much longer on a busy machine.
    app = start_app(base_url=fake.url, workdir=workdir / "app", args=args, timeout=240, **kwargs)
    try:
        yield app
    finally:
        stop_app(app)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One ``app.py --mcp`` (no server key) and its fake Novita, shared by the tests that only read."""
    with running_fake_novita() as fake, running_app(fake, tmp_path_factory.mktemp("mcp"), "--mcp") as app:
        yield fake, app


@contextlib.asynccontextmanager
async def agent(app: AppServer, auth: tuple[str, str] | None = None) -> AsyncIterator[ClientSession]:
    """An initialised MCP client session on the app's MCP endpoint."""
    http = httpx.AsyncClient(
        auth=httpx.BasicAuth(*auth) if auth else None, timeout=httpx.Timeout(60, read=300)
    )
    async with (
        http,
        streamable_http_client(app.url.rstrip("/") + MCP_ROUTE, http_client=http) as (read, write, _),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


def data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode()


def photo_and_mask() -> tuple[np.ndarray, str, str]:
    pixels = photo_like(300, 200)
    photo = data_uri(encode(pixels, "PNG"), "image/png")
    mask = data_uri(encode(box_mask(300, 200, BOX), "PNG"), "image/png")
    return pixels, photo, mask


def returned_image(result: CallToolResult) -> tuple[str, Image.Image, str]:
    """The (MIME type, decoded image, file URL) a tool call returned."""
    assert not result.isError, result.content
    images = [c for c in result.content if isinstance(c, ImageContent)]
    texts = [c.text for c in result.content if isinstance(c, TextContent)]
    assert len(images) == 1, result.content
    image = Image.open(io.BytesIO(base64.b64decode(images[0].data)))
    image.load()
    url = next(t.split(": ", 1)[1] for t in texts if t.startswith("Image URL: "))
    return images[0].mimeType, image, url


async def fetch(url: str) -> bytes:
    async with httpx.AsyncClient() as http:
        response = await http.get(url)
        response.raise_for_status()
        return response.content


def browser_message(function: Any, *args: Any) -> str:
    """The message the page shows for the error ``function(*args)`` raises."""
    with pytest.raises(NovitaUIError) as caught:
        function(*args)
    return user_message(caught.value)


def error_text(result: CallToolResult) -> str:
    assert result.isError, result.content
    return " ".join(c.text for c in result.content if isinstance(c, TextContent))


async def test_agents_see_exactly_the_four_documented_tools(served: Served) -> None:
    async with agent(served[1]) as session:
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
    # The page's own events (photo loading, Remove, history...) are not tools.
    assert set(tools) == {"erase", "cleanup", "remove_text", "local", "select"}
    assert tools["select"].inputSchema["required"] == ["image", "box"]
    assert "pass it as the mask of erase, cleanup or local" in (tools["select"].description or "")
    for name, schema in tools["select"].inputSchema["properties"].items():
        assert len(schema.get("description", "")) > 20, name
    tools.pop("select")  # the rest are removals
    assert tools["erase"].inputSchema["required"] == ["image"]  # a mask or a prompt, or both
    assert tools["cleanup"].inputSchema["required"] == ["image", "mask"]
    assert tools["local"].inputSchema["required"] == ["image", "mask"]
    assert set(tools["local"].inputSchema["properties"]) == {"image", "mask", "output_format"}
    assert tools["remove_text"].inputSchema["required"] == ["image"]  # no mask: Novita finds the text
    assert set(tools["remove_text"].inputSchema["properties"]) == {"image", "output_format", "api_key"}
    for tool in tools.values():
        text = tool.description or ""
        masked = tool.name != "remove_text"
        assert masked == ("white (or opaque) pixels are removed" in text), tool.name
        for fact in (
            "JPEG, PNG, WebP",
            "100 megapixels",
            "tool error",
        ):
            assert fact in text, (tool.name, fact)
        for name, schema in tool.inputSchema["properties"].items():
            assert len(schema.get("description", "")) > 20, (tool.name, name)  # every parameter explained
    assert "16 megapixels and 30 MB" in (tools["erase"].description or "")
    assert "Novita finds the text itself" in (tools["remove_text"].description or "")
    assert "server's Novita key unless api_key is given" in (tools["cleanup"].description or "")


async def test_local_and_erase_round_trip_a_photo(served: Served) -> None:
    fake, app = served
    fake.clear()
    pixels, photo, mask = photo_and_mask()
    async with agent(app) as session:
        local = await session.call_tool("local", {"image": photo, "mask": mask, "output_format": "png"})
        erase = await session.call_tool(
            "erase", {"image": photo, "mask": mask, "output_format": "jpeg", "api_key": TEST_KEY}
        )
    mime, image, url = returned_image(local)
    assert mime == "image/png" and image.format == "PNG" and image.size == (300, 200)
    after = np.asarray(image.convert("RGB"))
    outside = box_mask(300, 200, BOX) == 0
    assert np.array_equal(after[outside], pixels[outside])  # only the masked area changed
    assert not np.array_equal(after[~outside], pixels[~outside])
    with Image.open(io.BytesIO(await fetch(url))) as exact:  # the URL serves the file itself
        assert exact.format == "PNG" and np.array_equal(np.asarray(exact.convert("RGB")), after)

    mime, image, url = returned_image(erase)
    assert mime == "image/jpeg" and image.size == (300, 200)
    x0, y0, x1, y1 = BOX
    centre = np.asarray(image.convert("RGB"))[(y0 + y1) // 2, (x0 + x1) // 2].astype(int)
    assert np.abs(centre - FILL).max() < 40  # the fake model's fill, so Novita's answer came back
    with Image.open(io.BytesIO(await fetch(url))) as exact:
        assert exact.format == "JPEG" and exact.size == (300, 200)
    assert len(fake.requests_to("/v3/async/image-eraser")) == 1


async def test_an_agent_removes_all_text_with_its_own_key(served: Served) -> None:
    fake, app = served
    fake.clear()
    pixels = photo_like(300, 200)
    pixels[..., 1] = np.maximum(pixels[..., 1], 100)  # nothing near the fake's ink but the caption
    pixels[150:170, 40:200] = TEXT_INK
    photo = data_uri(encode(pixels, "PNG"), "image/png")
    async with agent(app) as session:
        result = await session.call_tool(
            "remove_text", {"image": photo, "output_format": "png", "api_key": TEST_KEY}
        )
        no_key = await session.call_tool("remove_text", {"image": photo})
    _, image, _ = returned_image(result)
    after = np.asarray(image.convert("RGB"))
    assert np.abs(after[152:168, 42:198].astype(int) - FILL).max() < 40  # the caption is gone
    assert np.array_equal(after[:120], pixels[:120])  # far from it, the original's pixels exactly
    assert error_text(no_key).startswith("This server has no Novita API key, so Novita needs yours")
    assert len(fake.requests_to("/v3/remove-text")) == 1 and fake.keys_seen == [TEST_KEY]


async def test_an_agent_can_send_a_heic_or_avif_photo(served: Served) -> None:
    _, app = served
    pixels = photo_like(300, 200)
    mask = data_uri(encode(box_mask(300, 200, BOX), "PNG"), "image/png")
    heic = data_uri(phone_photo(pixels, "HEIF"), "image/heic")
    avif = data_uri(phone_photo(pixels, "AVIF"), "image/avif")
    async with agent(app) as session:
        results = [await session.call_tool("local", {"image": p, "mask": mask}) for p in (heic, avif)]
    for result in results:
        mime, image, url = returned_image(result)
        assert mime == "image/jpeg" and image.size == (300, 200)  # a phone photo comes back as JPEG
        with Image.open(io.BytesIO(await fetch(url))) as exact:
            assert exact.format == "JPEG" and exact.getexif().get(0x010F) == "TestPhone"


async def test_bad_input_is_a_tool_error_with_the_browser_message(served: Served) -> None:
    fake, app = served
    fake.clear()
    _, photo, _ = photo_and_mask()
    square_png = encode(box_mask(100, 100, (10, 10, 50, 50)), "PNG")
    square = data_uri(square_png, "image/png")
    text = data_uri(b"not a picture", "text/plain")
    async with agent(app) as session:
        not_image = await session.call_tool("local", {"image": text, "mask": square})
        wrong_mask = await session.call_tool("local", {"image": photo, "mask": square})
        no_key = await session.call_tool("erase", {"image": photo, "prompt": "dog"})
    # Word for word what the page shows (its gr.Error carries user_message of the same error).
    assert error_text(not_image) == browser_message(imaging.open_photo, b"not a picture")
    assert error_text(wrong_mask) == browser_message(imaging.load_mask, square_png, (300, 200))
    assert error_text(no_key).startswith("This server has no Novita API key, so Novita needs yours")
    for result in (not_image, wrong_mask, no_key):
        assert "Traceback" not in error_text(result)
    assert fake.requests == []


async def test_the_key_never_reaches_agents_and_the_budget_holds(fake: FakeNovita, tmp_path: Path) -> None:
    fake.valid_keys = {TEST_KEY, OWN_KEY}
    _, photo, mask = photo_and_mask()
    # NOVITA_UI_MCP=1 is how a Space turns it on; one Novita request per hour on the server's key.
    with running_app(
        fake, tmp_path, "--max-requests-per-hour", "1", server_key=TEST_KEY, env={"NOVITA_UI_MCP": "1"}
    ) as app:
        async with agent(app) as session:
            listing = await session.list_tools()
            first = await session.call_tool("cleanup", {"image": photo, "mask": mask})
            refused = await session.call_tool("cleanup", {"image": photo, "mask": mask})
            own = await session.call_tool(
                "cleanup", {"image": photo, "mask": mask, "api_key": "sk_caller_own_key"}
            )
            wrong = await session.call_tool(
                "cleanup", {"image": photo, "mask": mask, "api_key": "sk_wrong_one"}
            )
        log = app.log()
    returned_image(first)
    assert "shared Novita budget (1 requests per hour) is used up" in error_text(refused)
    returned_image(own)
    assert "rejected" in error_text(wrong).lower()
    # Server key for the first call, the caller's own for the next: the refused one never left the server.
    assert fake.keys_seen == [TEST_KEY, OWN_KEY, WRONG_KEY]
    seen_by_agent = json.dumps([r.model_dump(mode="json") for r in (listing, first, refused, own, wrong)])
    for key in (TEST_KEY, OWN_KEY, WRONG_KEY):
        assert key not in seen_by_agent
        assert key not in log


async def test_sign_in_closes_the_mcp_route_to_strangers(fake: FakeNovita, tmp_path: Path) -> None:
    _, photo, mask = photo_and_mask()
    with running_app(fake, tmp_path, "--mcp", "--auth", "ann:s3cret:pass") as app:
        mcp_url = app.url + "gradio_api/mcp/"
        hello = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
        accept = {"Accept": "application/json, text/event-stream"}
        async with httpx.AsyncClient() as http:
            assert (await http.post(mcp_url, json=hello, headers=accept)).status_code == 401
            wrong = await http.post(mcp_url, json=hello, headers=accept, auth=("ann", "wrong"))
            assert wrong.status_code == 401 and "HTTP Basic" in wrong.text
            assert (await http.get(app.url + "gradio_api/mcp/sse")).status_code == 401
            assert (await http.get(app.url + "gradio_api/mcp/schema")).status_code == 401
        with pytest.raises(BaseException):  # noqa: B017 - the mcp client wraps the 401 in an exception group
            async with agent(app) as session:
                await session.list_tools()
        async with agent(app, auth=("ann", "s3cret:pass")) as session:
            names = {tool.name for tool in (await session.list_tools()).tools}
            result = await session.call_tool("local", {"image": photo, "mask": mask, "output_format": "webp"})
    assert names == {"erase", "cleanup", "remove_text", "local", "select"}
    mime, image, _ = returned_image(result)  # the call got through Gradio's own sign-in too
    assert mime == "image/webp" and image.size == (300, 200)


@pytest.mark.parametrize(
    ("header", "allowed"),
    [
        (b"Basic " + base64.b64encode(b"ann:s3cret:pass"), True),
        (b"basic " + base64.b64encode(b"ann:s3cret:pass"), True),
        (b"Basic " + base64.b64encode(b"ann:s3cret"), False),
        (b"Basic " + base64.b64encode(b"bob:s3cret:pass"), False),
        (b"Basic " + base64.b64encode(b"anns3cret:pass"), False),
        (b"Basic not-base64!", False),
        (b"Bearer s3cret:pass", False),
        (b"", False),
    ],
)
def test_mcp_sign_in_accepts_only_the_configured_user_and_password(header: bytes, allowed: bool) -> None:
    credentials = basic_credentials(header)
    gradio_auth = {"ann": "s3cret:pass"}  # what Gradio keeps in app.auth for auth=("ann", "s3cret:pass")
    assert (credentials is not None and password_ok(gradio_auth, *credentials)) is allowed


def test_mcp_switch_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    import app as app_module

    parser = app_module.build_parser()
    assert parser.parse_args([]).mcp is None  # then NOVITA_UI_MCP decides, off by default
    assert parser.parse_args(["--mcp"]).mcp is True and parser.parse_args(["--no-mcp"]).mcp is False
    assert env_flag("NOVITA_UI_MCP") is False
    for value, expected in (("1", True), ("TRUE", True), ("0", False), ("off", False)):
        monkeypatch.setenv("NOVITA_UI_MCP", value)
        assert env_flag("NOVITA_UI_MCP") is expected
    monkeypatch.setenv("NOVITA_UI_MCP", "maybe")
    with pytest.raises(ValueError, match="NOVITA_UI_MCP must be 1 or 0"):
        env_flag("NOVITA_UI_MCP")


def test_readme_client_snippets_point_at_the_route_the_tests_use() -> None:
    readme = (Path(__file__).resolve().parents[1] / "docs" / "api-and-mcp.md").read_text()
    section = readme[readme.index("## From AI agents (MCP)") :]
    local, space = (json.loads(block) for block in re.findall(r"```json\n(.*?)```", section, re.S)[:2])
    assert local["mcpServers"]["novita-ui"]["url"] == "http://127.0.0.1:7860" + MCP_ROUTE
    args = space["mcpServers"]["novita-ui"]["args"]
    assert args[1].endswith(".hf.space" + MCP_ROUTE) and args[2] == "--header"
    scheme, encoded = args[3].removeprefix("Authorization: ").split()
    assert scheme == "Basic" and base64.b64decode(encoded) == b"user:pass"  # printf 'user:pass' | base64
