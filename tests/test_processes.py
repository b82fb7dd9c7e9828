"""`--processes N`: one supervisor without Python in front of N server processes.

What a user sees: connections spread evenly over the processes; a process that dies,
reaches --max-requests or --max-memory, or wedges is replaced while the others serve,
and only its own in-flight requests can fail (none for a graceful replacement);
SIGHUP serves new code with zero failed requests; the probe port answers for the pod
(/ready fails while a process is missing, while the processes' queues add up to
--req-queue-len, and from SIGTERM), and /metrics sums the processes, replaced ones
included.
"""

from __future__ import annotations

import http.client
import os
import re
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
from datetime import datetime

import pytest

from support.client import request
from support.env import base_env, requires
from support.poll import poll_until
from support.probes import PYTHONPATH, assert_promtool_clean, fetch_into, in_threads, sample_value, scrape, wait_probe
from support.projects import add_view, make_site, set_hello
from support.reload import ClientLoop, wait_body
from support.server import run_hurricane
from support.webhook import Receiver

pytestmark = requires("processes", "probe")

WEDGE_VIEW = '''

def wedge(request):
    """Hold the GIL in one C call for hours (added by tests/test_processes.py)."""
    return HttpResponse(str(sum(range(10**13))), content_type="text/plain")
'''

GROW_VIEW = '''

_HELD = []


def grow(request):
    """Keep `mb` MiB more, touched (added by tests/test_processes.py)."""
    _HELD.append(b"x" * (int(request.GET.get("mb", 50)) * 1024 * 1024))
    return HttpResponse(f"holding {len(_HELD)}", content_type="text/plain")
'''

NAP_VIEW = '''

def nap(request):
    """Sleep `ms` milliseconds, then answer the serving process's id (added by
    tests/test_processes.py)."""
    import os

    time.sleep(int(request.GET.get("ms", 100)) / 1000)
    return HttpResponse(str(os.getpid()), content_type="text/plain")
'''

ORPHAN_VIEW = '''

def orphan(request):
    """Leave a `sleep` behind whose parent has exited (added by tests/test_processes.py)."""
    import subprocess

    started = subprocess.run(["sh", "-c", "sleep 0.5 >/dev/null 2>&1 & echo $!"], capture_output=True, text=True, check=True)
    return HttpResponse(started.stdout.strip(), content_type="text/plain")
'''

SERVES_RE = r"all {n} server processes serve"


@pytest.fixture(scope="module")
def site(mysite, tmp_path_factory):
    site = make_site(mysite, tmp_path_factory.mktemp("processes") / "mysite")
    add_view(site, "wedge", WEDGE_VIEW)
    add_view(site, "grow", GROW_VIEW)
    add_view(site, "nap", NAP_VIEW)
    add_view(site, "orphan", ORPHAN_VIEW)
    return site


def pod_ready(processes: int):
    """Server.start's readiness: the supervisor says every process serves."""

    def ready(server, timeout: float) -> bool:
        rx = re.compile(SERVES_RE.format(n=processes))

        def state():
            exited = server.proc.poll() is not None
            return "ready" if rx.search(server.log()) else "exited" if exited else None

        return poll_until(state, timeout, what=f"{server.name}: all processes serve", context=server.tail) == "ready"

    return ready


def start_pod(one_server, cwd, *args: str, processes: int = 2, env: dict[str, str] | None = None):
    server = one_server("pod", ["--processes", str(processes), *args], cwd, env, start=False)
    return server.start(ready=pod_ready(processes))


def serving_pid(pod) -> int:
    return int(request(pod.port, "GET", "/pid").body)


def restarts(pod, reason: str) -> float:
    return sample_value(scrape(pod), "hurricane_process_restarts", "hurricane_process_restarts_total", reason=reason) or 0


def wait_restarts(pod, reason: str, count: int, timeout: float = 20.0) -> float:
    return poll_until(lambda: restarts(pod, reason), timeout, until=lambda n: n >= count, what=f"{count} restarts ({reason})", context=pod.tail)


def log_time(line: str) -> datetime:
    return datetime.fromisoformat(line.split()[0].rstrip("Z"))


def even_within(counts: Counter, processes: int, tolerance: float = 0.2):
    total = sum(counts.values())
    even = total / processes
    assert len(counts) == processes, counts
    assert all(abs(n - even) <= tolerance * even for n in counts.values()), f"uneven spread: {dict(counts)} (even: {even:.0f})"


def test_new_connections_are_spread_evenly_over_the_processes(one_server, site):
    pod = start_pod(one_server, site)
    counts: Counter = Counter()
    lock = threading.Lock()

    def client():
        for _ in range(40):
            pid = request(pod.port, "GET", "/pid").body
            with lock:
                counts[pid] += 1

    threads = [threading.Thread(target=client) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    even_within(counts, 2)


def test_keep_alive_connections_are_spread_evenly_over_the_processes(one_server, site):
    pod = start_pod(one_server, site)
    connections = [http.client.HTTPConnection("127.0.0.1", pod.port, timeout=10) for _ in range(16)]
    counts: Counter = Counter()
    for _ in range(5):
        for conn in connections:
            conn.request("GET", "/pid")
            counts[conn.getresponse().read()] += 1
    for conn in connections:
        conn.close()
    even_within(counts, 2)


def test_a_killed_process_is_replaced_at_once_and_only_its_requests_fail(one_server, site):
    pod = start_pod(one_server, site)
    victim = serving_pid(pod)
    loops = [ClientLoop(pod.port, "/hello") for _ in range(4)]
    for loop in loops:
        loop.__enter__()
    time.sleep(1)
    mark = pod.mark()
    os.kill(victim, signal.SIGKILL)
    died = pod.wait_log(rf".*server process {victim} exited unexpectedly.*", since=mark, timeout=10)
    served = pod.wait_log(r".*server process \d+ serves \(exited\).*", since=mark, timeout=10)
    time.sleep(1)
    for loop in loops:
        loop.__exit__()
    replaced_in = (log_time(served.group(0)) - log_time(died.group(0))).total_seconds()
    assert replaced_in < 1.0, f"replaced {replaced_in:.2f} s after the process died"
    failures = [f for loop in loops for f in loop.failures]
    # At most the requests the killed process had in flight: one per client loop.
    assert len(failures) <= len(loops), failures
    assert all(len(loop.ok) > 20 for loop in loops), [len(loop.ok) for loop in loops]
    assert restarts(pod, "exited") == 1
    assert pod.probe("/alive").status == 200


def test_max_requests_replaces_processes_without_a_failed_request_and_every_request_is_counted(one_server, site):
    pod = start_pod(one_server, site, "--max-requests", "50", "--max-requests-jitter", "10")
    with ClientLoop(pod.port, "/hello") as first, ClientLoop(pod.port, "/hello") as second:
        wait_restarts(pod, "max-requests", 4, timeout=60)
    assert first.failures == [] and second.failures == []
    served = len(first.ok) + len(second.ok)

    def counted():
        return sample_value(scrape(pod), "request_counter", "request_counter_total")

    # Replaced processes' requests stay in the pod's total: it counts every one.
    poll_until(counted, 10, until=lambda n: n == served, what=f"request_counter_total == {served}", context=pod.tail)


def test_a_process_above_max_memory_is_replaced_without_a_failed_request(one_server, site):
    pod = start_pod(one_server, site, "--max-memory", "200")
    with ClientLoop(pod.port, "/hello") as loop:
        grown = request(pod.port, "GET", "/grow?mb=250", timeout=30)
        assert grown.status == 200, grown
        wait_restarts(pod, "max-memory", 1)
        time.sleep(1)
    assert loop.failures == []
    assert re.search(r"resident memory \d+ MiB is above --max-memory 200 MiB; asking to be replaced", pod.log())


def test_a_wedged_process_is_replaced_while_the_others_serve(one_server, site):
    pod = start_pod(one_server, site)
    wedged: list = []
    with ClientLoop(pod.port, "/hello") as loop:
        fetch = threading.Thread(target=fetch_into, args=(wedged, pod.port, "/wedge", 60), daemon=True)
        fetch.start()
        pod.wait_log(r"has failed its liveness checks for 10 s; replacing it", timeout=40)
        wait_restarts(pod, "unresponsive", 1)
        time.sleep(1)
        ok_before_end = len(loop.ok)
    fetch.join(timeout=15)
    # The wedged process's own requests fail (the /wedge one, and at most the loop's
    # one request it held); everything else was served by the other process.
    assert len(loop.failures) <= 1, loop.failures
    assert ok_before_end > 100, ok_before_end
    assert wedged and not (hasattr(wedged[0], "status") and wedged[0].status == 200), wedged
    assert pod.probe("/alive").status == 200


def test_sighup_serves_new_code_with_zero_failed_requests(one_server, mysite, tmp_path):
    site = make_site(mysite, tmp_path / "mysite")
    pod = start_pod(one_server, site)
    with ClientLoop(pod.port, "/hello") as loop:
        set_hello(site, "Hello after SIGHUP")
        os.kill(pod.pid, signal.SIGHUP)
        wait_restarts(pod, "reload", 2)
        time.sleep(0.5)
    assert loop.failures == []
    wait_body(pod, "/hello", "Hello after SIGHUP")
    bodies = {request(pod.port, "GET", "/hello").body for _ in range(20)}
    assert bodies == {b"Hello after SIGHUP"}


def test_the_probe_port_answers_for_the_pod(one_server, site):
    pod = start_pod(one_server, site)
    assert pod.probe("/startup").status == 200
    assert pod.probe("/ready").status == 200
    assert pod.probe("/alive").status == 200
    for _ in range(10):
        request(pod.port, "GET", "/hello")
    body = pod.probe("/metrics").body
    assert_promtool_clean(body)
    families = scrape(pod)
    assert sample_value(families, "hurricane_processes", "hurricane_processes") == 2
    assert sample_value(families, "hurricane_info", "hurricane_info") == 1
    poll_until(lambda: sample_value(scrape(pod), "request_counter", "request_counter_total"), 5, until=lambda n: n == 10, what="10 requests counted")


def test_a_process_that_cannot_start_stops_the_pod_with_one_message(site):
    run = run_hurricane(["serve", "--processes", "2", "--settings", "no_such.settings"], site, listen=True)
    assert run.returncode == 1, run.stderr
    assert "hurricane: error: a server process exited before it served" in run.stderr, run.stderr
    assert "Traceback" not in run.stderr.split("hurricane: error:")[-1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--processes", "0"], "is not `auto` or a number of processes from 1 to 256"),
        (["--processes", "2", "--autoreload"], "--processes 2 cannot be combined with --autoreload"),
    ],
)
def test_processes_options_that_cannot_work_are_refused(site, args, message):
    run = run_hurricane(["serve", *args], site, listen=True)
    assert run.returncode != 0 and message in run.stderr, run.stderr


def test_a_process_with_requests_stuck_past_the_timeout_is_replaced(one_server, site):
    # --workers 4: more than one stuck request (a quarter of 4) replaces a process.
    pod = start_pod(one_server, site, "--timeout", "1", "--workers", "4")
    stuck: list = []
    with ClientLoop(pod.port, "/hello") as loop:
        sleepers = [threading.Thread(target=fetch_into, args=(stuck, pod.port, "/sleep?ms=6000", 30)) for _ in range(4)]
        for sleeper in sleepers:
            sleeper.start()
        for sleeper in sleepers:
            sleeper.join(timeout=30)
        wait_restarts(pod, "stuck-requests", 1)
        time.sleep(0.5)
    assert [getattr(r, "status", r) for r in stuck] == [504] * 4, stuck
    assert loop.failures == []
    assert re.search(r"requests are stuck past --timeout \(more than 1\); asking to be replaced", pod.log())


def test_ready_fails_while_the_processes_queues_add_up_to_req_queue_len(one_server, site):
    # One Python thread per process: of the 4 requests each process gets, 3 wait. Each
    # process's queue (3) stays below --req-queue-len 4; the pod's (6) does not.
    pod = start_pod(one_server, site, "--workers", "1", "--concurrency", "fixed", "--req-queue-len", "4")
    assert pod.probe("/ready").status == 200
    naps: list = []
    threads = in_threads(fetch_into, [(naps, pod.port, "/nap?ms=2000", 60)] * 8)
    wait_probe(pod, "/ready", 400, re.compile(rb"request queue length [4-6] >= 4"), timeout=10)
    assert len(naps) < 8, "/ready failed only after every request was answered"
    for thread in threads:
        thread.join(timeout=60)
    assert [getattr(r, "status", r) for r in naps] == [200] * 8, naps
    # Neither process alone had --req-queue-len requests waiting.
    assert sorted(Counter(r.body for r in naps).values()) == [4, 4], naps
    wait_probe(pod, "/ready", 200, timeout=10)
    assert pod.probe("/alive").status == 200


def test_ready_fails_while_a_replacement_starts_and_alive_stays_200(one_server, site, tmp_path):
    # testsettings.held: a process started while the hold file exists waits in its
    # settings (as one waiting for a secret) and serves once the file is gone.
    hold = tmp_path / "hold"
    env = base_env(HOLD_STARTUP_FILE=hold)
    pod = start_pod(one_server, site, "--settings", "testsettings.held", *PYTHONPATH, env=env)
    wait_probe(pod, "/ready", 200)
    hold.write_text("held")
    alive: list = []

    def ready():
        alive.append(pod.probe("/alive").status)
        return pod.probe("/ready")

    mark = pod.mark()
    try:
        os.kill(serving_pid(pod), signal.SIGKILL)
        held = poll_until(ready, 10, until=lambda r: r.status != 200, what="/ready to fail", context=pod.tail)
        assert (held.status, held.body) == (500, b"not every server process serves"), held
        assert request(pod.port, "GET", "/hello").status == 200
        families = scrape(pod)
        assert sample_value(families, "hurricane_processes", "hurricane_processes") == 1
        assert sample_value(families, "hurricane_probe_passing", "hurricane_probe_passing", probe="readiness") == 0
        assert "serves (exited)" not in pod.log_since(mark)
    finally:
        hold.unlink(missing_ok=True)
    poll_until(ready, 30, until=lambda r: r.status == 200, what="/ready to pass again", context=pod.tail)
    assert re.search(r"server process \d+ serves \(exited\)", pod.log_since(mark)), pod.tail()
    assert set(alive) == {200}, alive
    families = scrape(pod)
    assert sample_value(families, "hurricane_probe_passing", "hurricane_probe_passing", probe="readiness") == 1
    assert sample_value(families, "hurricane_probe_passing", "hurricane_probe_passing", probe="liveness") == 1


def test_keep_alive_clients_that_connect_while_the_pod_starts_are_spread_over_its_processes(one_server, site, tmp_path):
    # testsettings.held with tokens: one process serves, the other waits for its token
    # while 8 keep-alive clients connect. Had the serving process taken them all, they
    # would stay on it for as long as they keep their connections.
    tokens = tmp_path / "tokens"
    tokens.mkdir()
    (tokens / "first").write_text("")
    pod = one_server("pod", ["--processes", "2", "--settings", "testsettings.held", *PYTHONPATH], site, env=base_env(HOLD_STARTUP_TOKENS=tokens), start=False)
    pod.launch()
    pod.wait_log(r"Starting HTTP server on port", timeout=30)
    connected = threading.Barrier(9)
    pids: list = []

    def client():
        conn = http.client.HTTPConnection("127.0.0.1", pod.port, timeout=60)
        conn.connect()
        connected.wait(timeout=10)
        answers = set()
        for _ in range(3):
            conn.request("GET", "/nap?ms=0")
            answers.add(conn.getresponse().read())
        conn.close()
        pids.append(answers)

    threads = in_threads(client, [()] * 8)
    try:
        connected.wait(timeout=10)
    finally:
        (tokens / "second").write_text("")
    for thread in threads:
        thread.join(timeout=60)
    assert all(len(answers) == 1 for answers in pids), f"a keep-alive connection changed process: {pids}"
    assert sorted(Counter(next(iter(a)) for a in pids).values()) == [4, 4], pids


def test_ready_fails_from_sigterm_while_the_pod_serves_for_the_shutdown_delay(one_server, site):
    pod = start_pod(one_server, site, "--shutdown-delay", "2")
    assert pod.probe("/ready").status == 200
    pod.proc.send_signal(signal.SIGTERM)
    ready = poll_until(lambda: pod.probe("/ready"), 2, until=lambda r: r.status != 200, interval=0.02, what="/ready to fail after SIGTERM", context=pod.tail)
    assert (ready.status, ready.body) == (503, b"shutting down"), ready
    assert pod.probe("/alive").status == 200
    # The delay is for the balancer to see the failing readiness: the pod still serves.
    hello = request(pod.port, "GET", "/hello")
    assert (hello.status, hello.body) == (200, b"Hello, world!"), hello
    assert pod.proc.wait(timeout=20) == 0, pod.tail()


def test_max_lifetime_replaces_processes_without_a_failed_request(one_server, site):
    pod = start_pod(one_server, site, "--max-lifetime", "3")
    with ClientLoop(pod.port, "/hello") as first, ClientLoop(pod.port, "/hello") as second:
        wait_restarts(pod, "max-lifetime", 4, timeout=60)
        time.sleep(1)
    assert first.failures == [] and second.failures == []
    assert restarts(pod, "unresponsive") == 0
    assert restarts(pod, "max-lifetime") >= 4
    assert re.search(r"\d+ requests served, more than --max-lifetime 3; asked to be replaced", pod.log())
    assert pod.probe("/alive").status == 200


@pytest.fixture
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.close()


def sent(receiver) -> list[tuple[str, str]]:
    return [(p["type"], p["status"]) for p in receiver.payloads()]


@requires("webhook")
def test_a_pod_sends_one_startup_webhook_and_one_per_change_of_its_readiness(one_server, site, receiver):
    pod = start_pod(one_server, site, "--webhook-url", receiver.url, "--shutdown-delay", "2")
    receiver.wait_for(lambda p: [x for x in p if x["type"] == "startup"], what="startup webhook")
    for _ in range(3):
        assert pod.probe("/ready").status == 200
    receiver.wait_for(lambda p: [x for x in p if x["type"] == "readiness"], what="readiness webhook")
    time.sleep(2)  # a process's own webhooks would have arrived by now
    assert sent(receiver) == [("startup", "succeeded"), ("readiness", "succeeded")]
    startup = receiver.payloads("startup")[0]
    assert startup["podname"] == socket.gethostname() and startup["version"] is None, startup

    pod.proc.send_signal(signal.SIGTERM)
    poll_until(lambda: pod.probe("/ready").status, 2, until=lambda s: s == 503, what="/ready 503 while draining")
    for _ in range(3):
        assert pod.probe("/ready").status == 503
    receiver.wait_for(lambda p: len([x for x in p if x["type"] == "readiness"]) >= 2, what="readiness failed webhook")
    assert pod.stop() == 0
    assert sent(receiver) == [("startup", "succeeded"), ("readiness", "succeeded"), ("readiness", "failed")]


@requires("webhook")
def test_a_pod_that_cannot_start_sends_one_failed_startup_webhook(site, receiver):
    run = run_hurricane(["serve", "--processes", "2", "--settings", "no_such.settings", "--webhook-url", receiver.url], site, listen=True)
    assert run.returncode == 1, run.stderr
    (failed,) = receiver.wait_for(lambda p: [x for x in p if x["type"] == "startup"], timeout=3, what="startup webhook")
    time.sleep(1)
    assert sent(receiver) == [("startup", "failed")]
    assert "a server process exited before it served" in failed["traceback"], failed


def children_named(parent: int, comm: str) -> list[int]:
    """Pids of the processes named `comm` whose parent is `parent`, zombies included."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = open(f"/proc/{entry.name}/stat").read()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        if ppid == parent and name == comm:
            found.append(int(entry.name))
    return found


def can_be_pid_1() -> bool:
    try:
        return subprocess.run([*PID_1, "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


# A new PID namespace (with its own /proc, as a container has) in which the command is
# PID 1; killing `unshare` kills it.
PID_1 = ["unshare", "--pid", "--mount-proc", "--kill-child=SIGTERM", "--"]


def test_as_pid_1_the_supervisor_reaps_orphaned_processes(one_server, site):
    if not can_be_pid_1():
        pytest.skip("cannot start a process as PID 1 of a new PID namespace here (needs root and unshare)")
    pod = one_server("pod", ["--processes", "2"], site, start=False)
    pod.prefix = PID_1
    pod.start(ready=pod_ready(2))
    supervisor = poll_until(lambda: [int(p) for p in open(f"/proc/{pod.pid}/task/{pod.pid}/children").read().split()], 5, what="the supervisor under unshare")[0]
    for _ in range(4):
        assert request(pod.port, "GET", "/orphan").status == 200
    # The kernel gave each `sleep` to PID 1 when its shell exited...
    assert len(children_named(supervisor, "sleep")) == 4, pod.tail()
    # ...and once they exit, PID 1 waits for them: no zombie is left.
    poll_until(lambda: children_named(supervisor, "sleep"), 10, until=lambda left: not left, what="the orphans reaped", context=pod.tail)
    assert request(pod.port, "GET", "/hello").status == 200
