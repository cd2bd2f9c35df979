"""An audit interrupted by Ctrl-C (SIGINT) or kill -9 resumes to the same results.json (issue 12);
SIGTERM unwinds like Ctrl-C.

The interrupted audit is the real command line in a subprocess. So that the signal lands
mid-elicitation, it writes its answer cache in chunks of 16 prompts and pauses after each; it
says on stderr when a chunk is stored, and the test sends the signal after the first one.

Every run here uses chunks of 16: a model's answers move in the seventh digit with the batch
they are computed in, and equal chunking gives equal batches (prompts are chunked in one
fixed order, so a resumed run's chunks are the uninterrupted run's last ones).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from consistency.cli import main

ROOT = Path(__file__).resolve().parents[1]
AUDIT = ["audit", "organism:honest", "--limit", "6", "--checks", "cross-examination,logic", "--no-ladder", "--no-report"]

CHUNK = 16

# The command line with small cache chunks and a pause after each: a window for the signal.
SLOW_CLI = """
import functools, sys, time
import consistency.cache, consistency.engine
from consistency.cli import main
consistency.engine.elicit = functools.partial(consistency.engine.elicit, chunk_size=CHUNK)
put = consistency.cache.AnswerCache.put
def slow_put(self, prompts, answers):
    put(self, prompts, answers)
    print("chunk stored", file=sys.stderr, flush=True)
    time.sleep(0.3)
consistency.cache.AnswerCache.put = slow_put
sys.exit(main(sys.argv[1:]))
""".replace("CHUNK", str(CHUNK))


def run_in_process(argv: list[str]) -> int:
    """The command line in this process, with the same chunking as the interrupted runs."""
    import functools

    from consistency import engine

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(engine, "elicit", functools.partial(engine.elicit, chunk_size=CHUNK))
        return main(argv)


def comparable(out: Path) -> dict:
    """results.json without what differs between two runs of one audit: when, how long, where."""
    results = json.loads((out / "results.json").read_text())
    for key in ("created", "timings"):
        results.pop(key)
    results["config"].pop("out")
    return results


def default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def interrupt(out: Path, sig: int) -> int:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    # A shell without job control starts background commands (`pytest &`) with SIGINT ignored,
    # and exec keeps ignored signals ignored: the child gets SIGINT's default back, as a command
    # run at a terminal has it, or the Ctrl-C this test sends would never reach it.
    process = subprocess.Popen([sys.executable, "-c", SLOW_CLI, *AUDIT, "--out", str(out)], cwd=ROOT, env=env,
                               stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)
    assert process.stderr is not None
    deadline = time.monotonic() + 120
    for line in process.stderr:  # wait for the first stored chunk
        if "chunk stored" in line or time.monotonic() > deadline:
            break
    process.send_signal(sig)
    rest = process.stderr.read()
    code = process.wait(timeout=60)
    assert "Traceback" not in rest
    return code


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("reference") / "run"
    assert run_in_process([*AUDIT, "--quiet", "--out", str(out)]) == 0
    return comparable(out)


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGKILL, -signal.SIGKILL)])
def test_interrupted_audit_resumes_to_the_same_results(tmp_path, reference, capsys, sig, code):
    out = tmp_path / "run"
    assert interrupt(out, sig) == code
    assert not (out / "results.json").exists()
    (cache,) = (out / "cache").iterdir()
    stored = list(cache.glob("shard-*.safetensors"))
    assert stored  # at least the first chunk survived the signal
    if sig == signal.SIGINT:  # Ctrl-C unwinds and removes its temporary files; kill -9 may leave one
        assert not list(out.rglob("*.tmp"))

    capsys.readouterr()
    assert run_in_process([*AUDIT, "--out", str(out)]) == 0  # the same command resumes: no --overwrite needed
    bar = capsys.readouterr().err
    total = int(bar.split("asking ")[1].split()[0])
    computed = int(bar.rsplit("eliciting: 100%", 1)[1].split("/")[1].split()[0])
    assert computed <= total - CHUNK * len(stored)  # what the interrupted run stored was not asked again
    assert comparable(out) == reference


def test_sigterm_unwinds_with_one_error_line_and_the_shells_status(monkeypatch, capsys):
    """``kill`` or ``timeout`` (SIGTERM) ends a command like Ctrl-C, with its own word and status,
    instead of killing the process silently; SIGTERM's default action is back afterwards."""
    from consistency import cli

    def terminated_mid_command(args):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(10)  # the handler raises at the next bytecode, long before this ends
        raise AssertionError("SIGTERM did not interrupt the command")

    previous = signal.signal(signal.SIGTERM, signal.SIG_DFL)  # as a shell starts a command
    try:
        monkeypatch.setattr(cli, "_run", terminated_mid_command)
        assert main(["checks"]) == 128 + signal.SIGTERM
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    finally:
        signal.signal(signal.SIGTERM, previous)
    err = capsys.readouterr().err
    assert err.splitlines() == ["error: terminated; answers computed so far are in the run's cache and will be reused"]
