"""A local two-node Ray cluster on loopback, the way an operator starts one: ``ray start
--head`` and ``ray start --address`` (a second node on the same machine), each a process of
its own, every port picked free; shut down by process id (never ``ray stop``, which would stop
every Ray cluster of this user on the machine)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.cli import free_port
from tests.s3server import SECRET_KEY as S3_SECRET_KEY

REPO = Path(__file__).resolve().parents[2]
START_SECONDS = 180


@dataclass(frozen=True)
class Cluster:
    address: str  # the job API (dashboard): what --ray-address takes
    gcs: str  # host:port of the head's GCS: what ray.init and worker nodes take
    temp_dir: Path

    def logs(self, pattern: str = "*") -> str:
        parts = []
        for path in sorted(self.temp_dir.glob(f"session_latest/logs/{pattern}")):
            if path.is_file():
                parts.append(f"--- {path.name}\n{path.read_text(errors='replace')[-4000:]}")
        return "\n".join(parts)


def _ray() -> str:
    return str(Path(sys.executable).with_name("ray"))


def cluster_env() -> dict[str, str]:
    """What the nodes (and so their job drivers and actors) run with: this checkout first on
    the path, the tests' models folder, the S3 secret of the tests' S3-protocol server (jobs
    never carry secrets: the nodes' environment has them, docs/deploy.md), no other
    LABELARTS_* setting (jobs bring theirs)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LABELARTS_", "RAY_"))}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    env["PATH"] = os.pathsep.join((str(Path(sys.executable).parent), env.get("PATH", "")))
    env["LABELARTS_MODELS_DIR"] = os.environ["LABELARTS_MODELS_DIR"]
    env["LABELARTS_S3_SECRET_ACCESS_KEY"] = S3_SECRET_KEY
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    return env


def _descendants(roots: list[int]) -> list[int]:
    """Every live process below ``roots`` (Ray's workers start sessions of their own, so a
    process group does not hold them all)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found: list[int] = []
    todo = list(roots)
    while todo:
        pid = todo.pop()
        for child in children.get(pid, []):
            found.append(child)
            todo.append(child)
    return found


def _signal_all(pids: list[int], signum: int) -> None:
    for pid in pids:
        with suppress(ProcessLookupError):
            os.kill(pid, signum)


def _node_count(dashboard: str) -> int:
    response = httpx.get(f"{dashboard}/nodes?view=summary", timeout=5)
    if response.status_code != 200:
        return 0
    summary = response.json().get("data", {}).get("summary", [])
    return sum(1 for node in summary if node.get("raylet", {}).get("state") == "ALIVE")


@contextmanager
def local_cluster(cpus_per_node: int = 1, nodes: int = 2) -> Iterator[Cluster]:
    """A head node and ``nodes - 1`` worker nodes on 127.0.0.1, ``cpus_per_node`` CPUs each;
    every process they started is ended on the way out."""
    temp_dir = Path(tempfile.mkdtemp(prefix="lr", dir="/tmp"))  # Unix socket paths are short
    env = cluster_env()
    gcs_port, dashboard_port = free_port(), free_port()
    gcs = f"127.0.0.1:{gcs_port}"
    dashboard = f"http://127.0.0.1:{dashboard_port}"
    common = ["--block", "--node-ip-address=127.0.0.1", f"--num-cpus={cpus_per_node}", "--num-gpus=0"]
    procs: list[subprocess.Popen[bytes]] = []

    def node_ports() -> list[str]:
        return [
            f"--dashboard-agent-listen-port={free_port()}",
            f"--metrics-export-port={free_port()}",
            f"--runtime-env-agent-port={free_port()}",
        ]

    head = [
        _ray(),
        "start",
        "--head",
        f"--port={gcs_port}",
        "--include-dashboard=true",
        "--dashboard-host=127.0.0.1",
        f"--dashboard-port={dashboard_port}",
        f"--ray-client-server-port={free_port()}",
        f"--temp-dir={temp_dir}",
        "--disable-usage-stats",
        *common,
        *node_ports(),
    ]
    try:
        with (temp_dir / "head.log").open("wb") as out:
            procs.append(subprocess.Popen(head, env=env, stdout=out, stderr=out, start_new_session=True))
        for i in range(nodes - 1):
            with (temp_dir / f"node{i}.log").open("wb") as out:
                worker = [_ray(), "start", f"--address={gcs}", *common, *node_ports()]
                procs.append(
                    subprocess.Popen(worker, env=env, stdout=out, stderr=out, start_new_session=True)
                )
        deadline = time.monotonic() + START_SECONDS
        while True:
            for proc in procs:
                assert proc.poll() is None, (temp_dir / "head.log").read_text(errors="replace")
            try:
                if _node_count(dashboard) >= nodes:
                    break
            except (httpx.TransportError, ValueError):
                pass
            assert time.monotonic() < deadline, "the Ray cluster did not start"
            time.sleep(0.5)
        yield Cluster(address=dashboard, gcs=gcs, temp_dir=temp_dir)
    finally:
        roots = [p.pid for p in procs]
        everything = roots + _descendants(roots)
        _signal_all(everything, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for proc in procs:
            with suppress(subprocess.TimeoutExpired):
                proc.wait(max(0.1, deadline - time.monotonic()))
        time.sleep(1)
        _signal_all(everything + _descendants(roots), signal.SIGKILL)
        for proc in procs:
            proc.wait()
        shutil.rmtree(temp_dir, ignore_errors=True)
