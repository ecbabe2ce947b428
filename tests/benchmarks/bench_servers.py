"""Captioning through inference servers (issue 13): figures side by side in one run.

Run:  .venv/bin/python tests/benchmarks/bench_servers.py [--photos N] [--model smolvlm]

Real llama-servers on loopback (built by packaging/llama_server.py) with a tiny
random-weight test model, a library of N real photos (scikit-image's) captioned by the
app's own worker (CaptionWorker: the pool, the queue, the database), each run on a fresh
copy of the same library:

  overhead   the app through one llama-server (--parallel 2) against a minimal direct
             asyncio client (httpx2) sending the same pre-resized JPEGs with the same
             request to the same server, 2 at a time. Target: app >= 0.95x the direct
             client's throughput.
  scaling    two llama-servers with one thread and one slot each, against one.
             Target: >= 1.8x on 2 cores (the scheduler keeps both busy).
  failover   the two servers, one of them (behind the test fault proxy) killed once a
             quarter of the photos are done: every photo captioned exactly once; the
             time lost against the run without the kill, against the request timeout.
  local      llama-server --parallel 2 (2 threads) through the pool against the
             in-process engine (the serial worker), same model and settings. Reported:
             on 2 CPU cores no gain is expected; on a GPU is where it is.
  memory     the worker's resident memory (this process) with 2 servers x 4 slots in
             flight, over its resident memory before the run.

A tiny model answers in milliseconds, so these figures weigh the app's own work far
more than a real model would: the app decodes and resizes each original (the direct
client gets the JPEGs ready-made), streams the answer token by token (so Cancel stops
a request mid-answer), stores it and writes the XMP sidecar. "The app's own cost per
photo" is that work; against a real model's seconds per photo it is a few per cent.
Likewise two one-thread servers on 2 cores leave no core for the app itself.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import httpx2  # noqa: E402
import psutil  # noqa: E402

from app.core.captioning.job_settings import SettingsSnapshot, sampling_for  # noqa: E402
from app.core.captioning.prepare import prepare  # noqa: E402
from app.core.captioning.worker import CaptionWorker  # noqa: E402
from app.core.datadir import DataDir  # noqa: E402
from app.core.library.library import Library  # noqa: E402
from app.core.servers.members import ServerMember  # noqa: E402
from app.core.servers.registry import ServerEntry  # noqa: E402
from app.core.settings import CaptionBackends, SettingsValues  # noqa: E402
from app.core.storage.db import Database  # noqa: E402
from models.prompts import build_messages, builtin_prompts  # noqa: E402
from models.runtime import jpeg_data_uri  # noqa: E402
from models.servers.dialects import dialect_for  # noqa: E402
from tests.media_factory import write_photo  # noqa: E402
from tests.models.conftest import fixture_pair  # noqa: E402
from tests.servers.conftest import (  # noqa: E402
    RunningServer,
    free_port,
    llama_server_binary,
    server_command,
    start,
)
from tests.servers.fault_proxy import FaultProxy, wait_until  # noqa: E402

PICTURES = ("astronaut", "coffee", "chelsea", "rocket", "camera", "hubble_deep_field")
# No EXIF line in the prompt: the direct client sends the same prompt without one.
SETTINGS = {
    "max_caption_tokens": 64,
    "temperature": 0.0,
    "model_image_side": 256,
    "include_exif_context": False,
}
SIZE = (640, 480)
REQUEST_TIMEOUT_S = 120.0  # the client's default (models/servers/config.py)


class Bench:
    def __init__(self, base: Path, photos: int, model: str) -> None:
        self.base, self.photos, self.model = base, photos, model
        self.binary = llama_server_binary()
        self.template = base / "template"
        self.servers: list[RunningServer] = []
        self.runs = 0

    # -- set-up ---------------------------------------------------------------------------
    def make_template(self) -> None:
        folder = self.base / "photos"
        for i in range(self.photos):
            name = PICTURES[i % len(PICTURES)]
            write_photo(folder / f"{name}-{i:04d}.jpg", name, size=SIZE)
        data_dir = DataDir.resolve(str(self.template))
        db = Database(data_dir.database)
        try:
            library = Library(db)
            library.settings.set("auto_caption", True)
            for key, value in SETTINGS.items():
                library.settings.set(key, value)
            model, mmproj = fixture_pair(self.model)
            library.settings.set("custom_model_path", str(model))
            library.settings.set("custom_mmproj_path", str(mmproj))
            library.scan(library.add_root(folder).id)
            assert library.jobs.counts() == {"queued": self.photos}, library.jobs.counts()
        finally:
            db.close()

    def fresh(self) -> DataDir:
        self.runs += 1
        copy = self.base / f"run{self.runs}"
        shutil.copytree(self.template, copy)
        return DataDir.resolve(str(copy))

    def server(self, parallel: int, threads: int) -> RunningServer:
        port = free_port()
        command = server_command(self.binary, self.model, port, parallel=parallel, threads=threads)
        log = self.base / f"llama-server-{port}.log"
        running = start(command, f"http://127.0.0.1:{port}", log, "/health")
        self.servers.append(running)
        return running

    def stop_servers(self) -> None:
        for running in self.servers:
            running.stop()
        self.servers.clear()

    # -- runs -----------------------------------------------------------------------------
    def app(self, members: Callable[[], Sequence[Any]], mode: CaptionBackends) -> float:
        """Seconds for the app's worker to caption the whole library (checked)."""
        data_dir = self.fresh()
        worker = CaptionWorker(data_dir, members=members, mode=mode)
        started = time.perf_counter()
        code = worker.run()
        seconds = time.perf_counter() - started
        check_once(data_dir, self.photos, code)
        return seconds

    def prepared_jpegs(self) -> list[bytes]:
        """The JPEGs the worker sends: the photos decoded and resized by its own code."""
        data_dir = self.fresh()
        db = Database(data_dir.database)
        try:
            with db.read() as conn:
                rows = conn.exec_driver_sql("SELECT id, path, kind FROM media_items").all()
        finally:
            db.close()
        return [
            prepare(
                item_id,
                path,
                kind,
                thumbnails=data_dir.thumbnails,
                max_side=256,
                max_keyframes=1,
                with_exif_context=False,
            ).images[0]
            for item_id, path, kind in rows
        ]


def check_once(data_dir: DataDir, photos: int, code: int) -> None:
    db = Database(data_dir.database)
    try:
        with db.read() as conn:
            per_item = conn.exec_driver_sql(
                """SELECT m.id, count(c.id) FROM media_items m LEFT JOIN captions c
                   ON c.item_id = m.id AND c.keyframe_id IS NULL GROUP BY m.id"""
            ).all()
    finally:
        db.close()
    counts = [n for _item, n in per_item]
    assert code == 0 and len(counts) == photos and set(counts) == {1}, (code, counts)


def members_at(*urls: str) -> Callable[[], list[ServerMember]]:
    def make() -> list[ServerMember]:
        return [ServerMember(ServerEntry(f"server-{i}", url)) for i, url in enumerate(urls)]

    return make


def direct(url: str, jpegs: Sequence[bytes], concurrency: int) -> float:
    """A minimal asyncio client: the same request (messages, schema, sampling) for each
    JPEG, `concurrency` in flight, answers not checked."""
    template = builtin_prompts()["short"]
    settings = SettingsSnapshot.of(SettingsValues(**SETTINGS))  # type: ignore[arg-type]
    sampling = sampling_for(settings, template)
    dialect = dialect_for("llama-server")

    def body(jpeg: bytes) -> dict[str, Any]:
        messages = build_messages(template, [jpeg_data_uri(jpeg)], language="English")
        return dialect.body(
            model="model", messages=messages, sampling=sampling, moments=0, stream=False
        )

    bodies = [body(j) for j in jpegs]

    async def run() -> None:
        limits = httpx2.Limits(max_connections=concurrency)
        async with httpx2.AsyncClient(base_url=url, limits=limits, timeout=600) as client:
            gate = asyncio.Semaphore(concurrency)

            async def one(request: dict[str, Any]) -> None:
                async with gate:
                    response = await client.post("/v1/chat/completions", json=request)
                    response.raise_for_status()

            await asyncio.gather(*(one(b) for b in bodies))

    started = time.perf_counter()
    asyncio.run(run())
    return time.perf_counter() - started


def peak_rss_during(work: Callable[[], object]) -> tuple[float, float]:
    """(resident MB before, peak resident MB while `work` runs) of this process."""
    me = psutil.Process()
    before = me.memory_info().rss / 1e6
    peak = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            peak[0] = max(peak[0], me.memory_info().rss / 1e6)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        work()
    finally:
        done.set()
        sampler.join()
    return before, peak[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=48)
    parser.add_argument("--model", default="smolvlm")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="bench-servers-"))
    bench = Bench(base, args.photos, args.model)
    rows: list[tuple[str, str, str]] = []
    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs, {args.photos} photos")
    try:
        bench.make_template()
        jpegs = bench.prepared_jpegs()

        shared = bench.server(parallel=2, threads=2)
        t_direct = direct(shared.url, jpegs, 2)
        t_app = bench.app(members_at(shared.url), CaptionBackends.SERVERS)
        t_direct = min(t_direct, direct(shared.url, jpegs, 2))
        t_app = min(t_app, bench.app(members_at(shared.url), CaptionBackends.SERVERS))
        rows.append(("overhead: direct asyncio client, 2 at a time", f"{t_direct:.2f} s", ""))
        ratio = t_direct / t_app
        rows.append(("overhead: app through the pool", f"{t_app:.2f} s", f"{ratio:.2f}x"))
        per_photo = (t_app - t_direct) / args.photos * 1000
        rows.append(("overhead: the app's own cost per photo", f"{per_photo:.0f} ms", ""))
        t_local_server = t_app
        bench.stop_servers()

        t_engine = bench.app(lambda: [], CaptionBackends.LOCAL)
        rows.append(("local: in-process engine (serial worker)", f"{t_engine:.2f} s", ""))
        rows.append(
            (
                "local: llama-server --parallel 2 via the pool",
                f"{t_local_server:.2f} s",
                f"{t_engine / t_local_server:.2f}x",
            )
        )

        a, b = bench.server(parallel=1, threads=1), bench.server(parallel=1, threads=1)
        t_one = bench.app(members_at(a.url), CaptionBackends.SERVERS)
        t_two = bench.app(members_at(a.url, b.url), CaptionBackends.SERVERS)
        rows.append(("scaling: one server (1 thread, 1 slot)", f"{t_one:.2f} s", ""))
        rows.append(("scaling: two such servers", f"{t_two:.2f} s", f"{t_one / t_two:.2f}x"))

        proxy = FaultProxy(b.url)
        quarter = args.photos // 4
        killer = threading.Thread(
            target=lambda: wait_until(lambda: proxy.chat_requests >= quarter, 600) and proxy.kill()
        )
        killer.start()
        t_failover = bench.app(members_at(a.url, proxy.url), CaptionBackends.SERVERS)
        killer.join()
        # Without losing time, the kill leaves the rest to one server.
        expected = t_two * 0.5 + t_one * 0.5
        rows.append(("failover: one of two killed at a quarter", f"{t_failover:.2f} s", "all once"))
        rows.append(
            (
                "failover: time lost vs. the same work without loss",
                f"{max(0.0, t_failover - expected):.2f} s",
                f"timeout {REQUEST_TIMEOUT_S:.0f} s",
            )
        )
        bench.stop_servers()

        c, d = bench.server(parallel=4, threads=1), bench.server(parallel=4, threads=1)
        before, peak = peak_rss_during(
            lambda: bench.app(members_at(c.url, d.url), CaptionBackends.SERVERS)
        )
        rows.append(
            ("memory: worker, 2 servers x 4 slots", f"{peak:.0f} MB", f"+{peak - before:.0f} MB")
        )
    finally:
        bench.stop_servers()
        shutil.rmtree(base, ignore_errors=True)
    width = max(len(r[0]) for r in rows) + 2
    print()
    for what, figure, ratio_text in rows:
        print(f"{what:<{width}}{figure:>12}  {ratio_text}")
    print("\ntargets: overhead >= 0.95x, scaling >= 1.8x, failover time lost <= one timeout")
    return 0


if __name__ == "__main__":
    sys.exit(main())
