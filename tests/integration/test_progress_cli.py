"""`observatoire run` as a person sees it (issue 19): on a terminal (a pseudo-terminal here) progress bars for the
download in flight (with its size), the gates, dbt's build and the publication, then a summary; without a
terminal (a log, a pipe, these tests' captured output) the same lines plain, one per source and step, no
control character."""

from __future__ import annotations

import http.server
import os
import pty
import re
import select
import subprocess
import threading
import time

import pytest

from tests.conftest import RECORDINGS, ROOT, VENV_BIN, run_cli

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
POP_2021 = (RECORDINGS / "insee_pop_qpv" / "2021" / "pop_QPV24.csv").read_bytes()


@pytest.fixture
def slow_server():
    """The 2021 population file over HTTP with its Content-Length, sent in four parts over ~1.5 s: a download a
    person can watch."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/csv")
            self.send_header("Content-Length", str(len(POP_2021)))
            self.end_headers()
            part = len(POP_2021) // 4 + 1
            for k in range(0, len(POP_2021), part):
                self.wfile.write(POP_2021[k:k + part])
                self.wfile.flush()
                time.sleep(0.5)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_port}/pop_QPV24.csv"
    httpd.shutdown()


def _env(url: str, **extra) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env.update(OBSERVATOIRE_URL_INSEE_POP_QPV=url, **extra)
    return env


def run_in_terminal(*args: str, env: dict[str, str], timeout: float = 600) -> tuple[int, str]:
    """``observatoire <args>`` with a pseudo-terminal (120 × 40) as its standard input, output and error: its
    exit status and everything it wrote there."""
    import fcntl
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    proc = subprocess.Popen([str(VENV_BIN / "observatoire"), *args], stdin=slave, stdout=slave, stderr=slave,
                            env={**env, "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "40"}, cwd=ROOT)
    os.close(slave)
    out = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the terminal's last writer is gone
                    break
                if not chunk:
                    break
                out += chunk
            elif proc.poll() is not None:
                break
        else:
            proc.kill()
        return proc.wait(timeout=30), out.decode("utf-8", errors="replace")
    finally:
        os.close(master)


def test_a_terminal_shows_progress_bars_and_a_summary(demo_copy, slow_server):
    code, raw = run_in_terminal("run", "--force", "--source", "insee_pop_qpv", env=_env(slow_server))
    screen = ANSI.sub("", raw)
    assert code == 0, screen[-3000:]
    assert "\x1b[" in raw  # a terminal: colours, cursor moves
    frames = [f.strip() for f in re.split(r"[\r\n]", screen)]
    # the download in flight: its bar, bytes received of the announced size
    size = f"{len(POP_2021) / 1000:.1f}"
    assert any(re.search(rf"insee_pop_qpv 2021 .*━.* \d+\.\d/{re.escape(size)} kB", f) for f in frames), screen
    # the long steps: the raw gate, dbt's nodes and models, the mart gate's suites, the publication
    assert any(re.search(r"dbt build .* \d+/\d+ +models \d+/\d+", f) for f in frames), screen
    assert any(re.search(r"raw gate .*━.* \d/1 ", f) for f in frames), screen
    assert any(re.search(r"mart gate .*━.* \d+/\d+", f) for f in frames), screen
    assert any(re.search(r"publish .*━.* (writing|replacing)", f) for f in frames), screen
    # the lines that stay, then the summary
    for line in (r"  insee_pop_qpv +2021  new +\d+ rows +\d+\.\d kB", r"raw gate: 1 file validated, 1 passed \(",
                 r"load: \d+ tables", r"dbt build: \d+ nodes — \d+ models, \d+ tests, \d+ seeds \(",
                 r"mart gate: \d+ suites validated, \d+ passed", r"publish: \d+ tables in ",
                 r"sources: 1 new, 0 unchanged, 0 failed \(1 file\) in ", r"\d+ QPV — le contrat : 66",
                 r"run \S+: published — "):
        assert re.search(line, screen), (line, screen[-3000:])


def test_without_a_terminal_the_lines_are_plain(demo_copy, slow_server):
    proc = run_cli("run", "--force", "--source", "insee_pop_qpv", env=_env(slow_server))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert not ANSI.search(proc.stderr) and "\r" not in proc.stderr and "━" not in proc.stderr
    lines = proc.stderr.splitlines()
    took = r"(\d+\.\d s|\d+ min \d\d s)"  # human_duration: a loaded machine may take over a minute
    expected = [r"observatoire run — mode demo, data directory ", r"  insee_pop_qpv +2021  new +\d+ rows +\d+\.\d kB",
                rf"raw gate: 1 file validated, 1 passed \({took}\)$", r"load: \d+ tables, [\d,]+ rows into the ",
                rf"dbt build: \d+ nodes — \d+ models, \d+ tests, \d+ seeds \({took}\)$",
                r"mart gate: \d+ suites validated, \d+ passed \(", r"publish: \d+ tables in .*observatoire\.duckdb",
                r"$", rf"sources: 1 new, 0 unchanged, 0 failed \(1 file\) in {took}$"]
    found = [next((i for i, ln in enumerate(lines) if re.match(pattern, ln)), None) for pattern in expected]
    assert None not in found and found == sorted(found), (found, proc.stderr)  # one line each, in this order
    assert re.match(r"run \S+: published — published ", proc.stdout)
    # --quiet: the summary and the result, no line per source or step
    quiet = run_cli("run", "--quiet")
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr.lstrip().startswith("sources: 0 new, ") and "insee_pop_qpv" not in quiet.stderr
    assert "dbt build" not in quiet.stderr and "unchanged" in quiet.stdout
