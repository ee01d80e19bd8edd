"""Load: 32 concurrent users of the app (each with its own key and photo) and a memory/temp-file soak.

Concurrency: 32 gradio_client sessions (spread over 4 processes, like users on other machines) call
``/cleanup`` (one Novita round trip) at once against the fake server answering after 1 s, each with its own
key and photo; the same load runs again with the Novita queue at Gradio's default concurrency of 1
(``app.py --novita-concurrency 1``), side by side.
Soak: sequential Offline and Novita requests with 12 MP photos against ``python app.py`` in a subprocess;
its resident memory after warm-up and the size of Gradio's temp folder are sampled.

    .venv/bin/python -m benchmarks.bench_load [--quick] [--soak N]
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil
from PIL import Image

from tests.fake_novita import FakeNovita, running_fake_novita
from tests.images import box_mask, encode, photo_like

ROOT = Path(__file__).resolve().parents[1]
COMMAND = ".venv/bin/python -m benchmarks.bench_load"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def app_process(base_url: str, novita_concurrency: int, folder: Path) -> Iterator[str]:
    """``python app.py`` as shipped (no server key), with the Novita queue's concurrency set by its flag."""
    from tests.app_process import start_app, stop_app

    workdir = folder / f"app-{novita_concurrency}"
    workdir.mkdir()
    server = start_app(
        base_url=base_url, workdir=workdir, args=["--novita-concurrency", str(novita_concurrency)]
    )
    try:
        yield server.url
    finally:
        stop_app(server)


def _session_inputs(folder: Path, users: int) -> list[tuple[str, Path, Path, tuple[int, int]]]:
    """Per user: a key, a photo of a size only that user has, and a mask."""
    inputs = []
    for i in range(users):
        size = (96 + 2 * i, 64)
        image, mask = folder / f"user{i}.jpg", folder / f"user{i}-mask.png"
        image.write_bytes(encode(photo_like(*size, seed=i)))
        mask.write_bytes(encode(box_mask(*size, (20, 20, 40, 40)), "PNG"))
        inputs.append((f"sk_user_{i:02d}", image, mask, size))
    return inputs


# Load-generator processes: real users come from other machines, so the clients must not share one
# interpreter (GIL) with each other or with the fake server.
PROCESSES = 4


User = tuple[str, str, str, tuple[int, int]]  # key, photo path, mask path, photo size


def _user_process(url: str, users: list[User], barrier: Any, out: Any) -> None:
    """One load-generator process: its sessions connect, wait at the barrier, then all call at once."""
    import ssl

    from gradio_client import Client, handle_file

    # gradio_client opens a new httpx client for every request, and each loads the CA bundle (~30 ms of
    # CPU) unless handed a ready SSL context: 32 users would burn ~6 CPU-seconds of this 2-core machine on
    # that alone, starving the app being measured. Verification stays on.
    tls = ssl.create_default_context()
    clients = [Client(url, verbose=False, ssl_verify=tls) for _ in users]  # httpx takes a context too

    def one(index: int) -> tuple[bool, float]:
        key, image, mask, size = users[index]
        try:
            path = clients[index].predict(
                handle_file(image), handle_file(mask), "png", key, api_name="/cleanup"
            )
            with Image.open(path) as result:
                ok = result.size == tuple(size) and result.format == "PNG"
        except Exception:
            ok = False
        return ok, time.time()

    with ThreadPoolExecutor(max_workers=len(users)) as pool:
        barrier.wait(timeout=120)
        out.put(list(pool.map(one, range(len(users)))))
    for client in clients:
        client.close()


def concurrent_users(fake: FakeNovita, url: str, users: int, folder: Path) -> dict[str, Any]:
    """All users at once; returns wall time and whether every user got exactly its own result."""
    import multiprocessing

    inputs = _session_inputs(folder, users)
    fake.valid_keys = {key for key, *_ in inputs}
    fake.clear()
    context = multiprocessing.get_context("spawn")
    barrier, out = context.Barrier(PROCESSES + 1), context.Queue()
    shares = [[(k, str(i), str(m), s) for k, i, m, s in inputs[n::PROCESSES]] for n in range(PROCESSES)]
    workers = [context.Process(target=_user_process, args=(url, share, barrier, out)) for share in shares]
    for worker in workers:
        worker.start()
    barrier.wait(timeout=120)  # every session is connected
    started = time.time()
    finished = [item for _ in workers for item in out.get(timeout=300)]
    wall = max(at for _, at in finished) - started
    for worker in workers:
        worker.join(30)
    submits = fake.requests_to("/v3/cleanup")
    by_key = {r.headers["authorization"].removeprefix("Bearer "): r.extras["image_size"] for r in submits}
    own_keys = all(by_key.get(key) == size for key, _, _, size in inputs)
    store_clean = all("authorization" not in r.headers for r in fake.requests_to("/results/"))
    return {
        "wall_s": wall,
        "all_correct": all(ok for ok, _ in finished) and own_keys and len(submits) == users,
        "store_clean": store_clean,
    }


def concurrency(users: int = 32, latency: float = 1.0) -> list[dict[str, Any]]:
    """Our queue (as shipped) vs Gradio's default of 1, in the same run."""
    from novita_ui.ui import Options

    results = {}
    with running_fake_novita() as fake, tempfile.TemporaryDirectory(prefix="bench_load_") as temp:
        fake.latency = latency
        for label, limit in (("ours", Options().novita_concurrency), ("gradio default (1)", 1)):
            with app_process(fake.url, limit, Path(temp)) as url:
                results[label] = concurrent_users(fake, url, users, Path(temp))
    ours, base = results["ours"], results["gradio default (1)"]
    return [
        {
            "figure": f"{users} concurrent users, {latency:g} s API latency (s)",
            "value": round(ours["wall_s"], 2),
            "target": "<= 3, each gets its own result and key",
            "baseline": f"{base['wall_s']:.1f} (concurrency 1)",
            "ok": ours["wall_s"] <= 3 and ours["all_correct"] and ours["store_clean"],
        }
    ]


def _folder_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6


def soak(requests: int) -> list[dict[str, Any]]:
    """Sequential 12 MP requests (Offline and Novita); memory growth after warm-up and temp-folder size."""
    from gradio_client import Client, handle_file

    from tests.app_process import start_app, stop_app
    from tests.fake_novita import TEST_KEY

    with running_fake_novita() as fake, tempfile.TemporaryDirectory(prefix="bench_soak_") as temp:
        folder = Path(temp)
        image, mask = folder / "photo.jpg", folder / "mask.png"
        image.write_bytes(encode(photo_like(4000, 3000, seed=3)))
        mask.write_bytes(encode(box_mask(4000, 3000, (1800, 1300, 2200, 1700)), "PNG"))
        server = start_app(base_url=fake.url, workdir=folder / "app", server_key=TEST_KEY)
        gradio_tmp, url = server.temp_dir, server.url
        try:
            app = psutil.Process(server.process.pid)
            client = Client(url, verbose=False)
            rows = []
            for endpoint, args in (("/local", ("png",)), ("/erase", ("", "jpeg", ""))):
                rss, temp_mb = [], []
                for i in range(requests):
                    client.predict(handle_file(str(image)), handle_file(str(mask)), *args, api_name=endpoint)
                    if i == min(4, requests - 1):  # warm-up done: caches, pools and imports are in place
                        rss.append(app.memory_info().rss)
                    if i % 10 == 9 or i == requests - 1:
                        temp_mb.append(_folder_mb(gradio_tmp))
                rss.append(app.memory_info().rss)
                growth = (rss[-1] - rss[0]) / 2**20
                rows.append(
                    {
                        "figure": f"soak {endpoint}: {requests} x 12 MP, RSS growth after warm-up (MB)",
                        "value": round(growth),
                        "target": "<= 100",
                        "baseline": f"temp folder peak {max(temp_mb):.0f} MB, end {temp_mb[-1]:.0f} MB",
                        "ok": growth <= 100,
                    }
                )
                print(
                    f"  {endpoint}: RSS +{growth:.0f} MB; temp folder every 10 requests (MB): "
                    + " ".join(f"{m:.0f}" for m in temp_mb),
                    file=sys.stderr,
                    flush=True,
                )
            client.close()
            return rows
        finally:
            stop_app(server)


def run(quick: bool = False, soak_requests: int | None = None) -> list[dict[str, Any]]:
    """Concurrency and soak figures (quick: 16 users and 10 soak requests each)."""
    rows = concurrency(16 if quick else 32)
    rows += soak(soak_requests or (10 if quick else 200))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Concurrency and soak")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--soak", type=int, metavar="N", help="soak requests per engine (default 200)")
    args = parser.parse_args(argv)
    from benchmarks.bench_client import print_table

    print_table(run(args.quick, args.soak), COMMAND + (" --quick" if args.quick else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
