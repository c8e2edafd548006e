"""docs/tutorial.md as a script: its ``console`` blocks' commands, run in order in one shell.

The test (tests/cli/test_tutorial.py) runs them against a loopback server and checks each
exits 0 and prints what the page shows (ids, numbers and widths aside). The page's outputs are
real: ``python -m tests.cli.tutorial`` runs the steps the same way and writes what they print
back into the page.

In the page, a ``console`` block holds ``$ command`` lines, each followed by its output; other
blocks (```bash: starting the server) are for the reader only. The commands run in a folder
laid out like a checkout (``labelarts-data/initial-credentials.json`` as the first start writes
it, ``exports/``, and ``../shared/data``), with HOME in a temporary folder and
LABELARTS_ENDPOINT pointing at the test's server.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "tutorial.md"
# What the page shows in place of the temporary folders of a run.
SHOWN_CHECKOUT = "/home/you/labelarts"
SHOWN_SHARED = "/home/you/shared"
SHOWN_ENDPOINT = "http://127.0.0.1:8080"
_BLOCK = re.compile(r"^```console\n(.*?)^```", re.M | re.S)
_MARK = "@@tutorial-step@@"


@dataclass
class Step:
    command: str
    shown: str  # the output the page shows


def steps(markdown: str) -> list[Step]:
    """The ``$ command`` lines of the console blocks, in order, with the output under each."""
    found: list[Step] = []
    for block in _BLOCK.findall(markdown):
        for chunk in re.split(r"^\$ ", block, flags=re.M)[1:]:
            command, _, output = chunk.partition("\n")
            found.append(Step(command.strip(), output))
    return found


def shared_data() -> Path | None:
    """../shared/data beside the checkout (or beside the main checkout of a worktree), or
    LABELARTS_SHARED_DATA."""
    configured = os.environ.get("LABELARTS_SHARED_DATA")
    candidates = [Path(configured)] if configured else []
    repo = Path(__file__).resolve().parents[2]
    candidates.append(repo.parent / "shared" / "data")
    try:
        common = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--path-format=absolute", "--git-common-dir"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        candidates.append(Path(common).parent.parent / "shared" / "data")
    except (OSError, subprocess.CalledProcessError):
        pass
    return next((c.resolve() for c in candidates if (c / "cifar10-train-200").is_dir()), None)


@dataclass
class Place:
    checkout: Path  # the working directory of the commands
    home: Path
    exports: Path
    shared: Path  # the real shared/data folder

    endpoint: str = ""

    def shown(self, text: str) -> str:
        """``text`` with this run's folders and server URL replaced by the ones the page shows
        (in table rows, the cell keeps its width)."""
        swaps = [(str(self.checkout), SHOWN_CHECKOUT), (str(self.shared.parent), SHOWN_SHARED)]
        if self.endpoint:
            swaps.append((self.endpoint, SHOWN_ENDPOINT))
        return "\n".join(_swap_line(line, swaps) for line in text.split("\n"))


def _swap_line(line: str, swaps: list[tuple[str, str]]) -> str:
    for old, new in swaps:
        while old in line:
            at = line.index(old)
            rest = line[at + len(old) :]
            grow = len(new) - len(old)
            if "│" in line and grow < 0:
                rest = " " * -grow + rest
            elif "│" in line and grow > 0:
                spaces = len(rest) - len(rest.lstrip(" "))
                rest = rest[min(grow, max(spaces - 1, 0)) :]
            line = line[:at] + new + rest
    return line


@contextmanager
def place(shared: Path) -> Iterator[Place]:
    with tempfile.TemporaryDirectory(prefix="labelarts-tutorial-") as tmp:
        root = Path(tmp).resolve()
        checkout = root / "labelarts"
        (checkout / "labelarts-data").mkdir(parents=True)
        (checkout / "exports").mkdir()
        home = root / "home"
        home.mkdir()
        # ../shared/data as in a checkout; the CLI sends real paths, so the server's import
        # root (the real folder) contains them.
        (root / "shared").symlink_to(shared.parent, target_is_directory=True)
        # `. .venv/bin/activate` as in a checkout: the interpreter running this.
        activate = checkout / ".venv" / "bin" / "activate"
        activate.parent.mkdir(parents=True)
        activate.write_text(f'export PATH="{Path(sys.executable).parent}:$PATH"\n')
        yield Place(checkout, home, checkout / "exports", shared)


def write_credentials(place: Place, project_id: str, access_key: str, secret_key: str) -> None:
    """labelarts-data/initial-credentials.json as ``labelarts serve`` writes it on first start."""
    path = place.checkout / "labelarts-data" / "initial-credentials.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(
            {"user": "admin", "project_id": project_id, "access_key": access_key, "secret_key": secret_key},
            out,
            indent=2,
        )


def run(
    all_steps: list[Step], place: Place, endpoint: str, *, timeout: float = 1800
) -> list[tuple[int, str]]:
    """Run the commands in order in one bash (variables carry over); each one's exit status
    and output (stdout and stderr together, as a terminal shows them, but without one)."""
    script = ["set +e"]
    for step in all_steps:
        script += [f"echo '{_MARK}'", step.command, f'echo "{_MARK} $?"']
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("LABELARTS_") and k not in ("COLUMNS", "XDG_CONFIG_HOME")
    }
    env.update(HOME=str(place.home), LABELARTS_ENDPOINT=endpoint, COLUMNS="100")
    place.endpoint = endpoint
    done = subprocess.run(
        ["bash", "-c", "\n".join(script)],
        cwd=place.checkout,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        start_new_session=True,
    )
    results: list[tuple[int, str]] = []
    for part in done.stdout.split(f"{_MARK}\n")[1:]:
        output, _, status = part.rpartition(f"{_MARK} ")
        results.append((int(status.strip().splitlines()[0]), place.shown(output)))
    return results


_ID = re.compile(r"\b(?=[A-Za-z0-9]*[0-9])(?=[A-Za-z0-9]*[A-Za-z])[A-Za-z0-9]{16,40}\b")
_BOX = re.compile(r"[━─│┃┏┓┗┛┡┩└┘├┤┬┴┼╇╈╭╮╰╯┳┻╋┠┨┯┷┿]+")


def masked(text: str) -> str:
    """The first line with ids, numbers, table borders and spacing taken out: what stays the
    same from run to run when the command and its output format do."""
    line = next((ln for ln in text.splitlines() if _BOX.sub("", ln).strip()), "")
    line = _ID.sub("ID", line)
    line = re.sub(r"\d+(\.\d+)?", "N", line)
    line = re.sub(r"\b(sample|file|label|dataset|task)s\b", r"\1", line)  # 1 sample, 2 samples
    return " ".join(_BOX.sub(" ", line).split())


def regenerate(doc: Path = DOC) -> None:
    """Run the page's steps against a fresh server and write their outputs into it."""
    shared = shared_data()
    if shared is None:
        raise SystemExit("no ../shared/data with cifar10-train-200 (set LABELARTS_SHARED_DATA)")
    text = doc.read_text()
    all_steps = steps(text)
    with place(shared) as where, tutorial_server(where) as endpoint:
        results = run(all_steps, where, endpoint)
    failed = [(s.command, out) for s, (status, out) in zip(all_steps, results, strict=True) if status != 0]
    if failed:
        raise SystemExit(f"steps failed: {failed}")
    outputs = iter(results)

    def fill(block: re.Match[str]) -> str:
        parts = re.split(r"^\$ ", block.group(1), flags=re.M)
        rebuilt = parts[0]
        for chunk in parts[1:]:
            command = chunk.partition("\n")[0]
            rebuilt += f"$ {command}\n{next(outputs)[1]}"
        return f"```console\n{rebuilt}```"

    doc.write_text(_BLOCK.sub(fill, text))


@contextmanager
def tutorial_server(where: Place) -> Iterator[str]:
    """A loopback server as ``./scripts/serve --import-root ../shared/data --export-root exports``
    would run, with the first start's credentials written; yields its URL."""
    from labelarts.config import Settings
    from labelarts.container import build_services
    from tests.conftest import PASSWORD, fresh_database_url, start_server

    data = where.checkout.parent / "server"
    data.mkdir()
    with fresh_database_url(data) as url:
        settings = Settings(
            data_dir=data / "data",
            database_url=url,
            import_roots=[f"{where.shared}=*"],
            export_roots=[f"{where.exports}=*"],
            secret_key="test-server-secret-0123456789",
        )
        services = build_services(settings)
        server = start_server(settings, services)
        try:
            creds = services.users.create_user("admin", project_id=uuid.uuid4().hex, password=PASSWORD)
            write_credentials(where, creds.project_id, creds.access_key, creds.secret_key)
            yield server.url
        finally:
            server.stop()
            services.close()


if __name__ == "__main__":
    regenerate()
    print(f"wrote {DOC}")
