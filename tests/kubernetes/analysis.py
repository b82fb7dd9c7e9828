"""From the load's attempts and the proxy's routing log to a scenario's result:
which pod each request went to, which requests failed and why, the retries.

A request is one logical GET: its attempts (a second one only after a retried first)
share an id; the last attempt decides. It failed when that attempt got no response
(refused, reset, closed, timed out), a status other than 200, or a body that is not an
app version the scenario allows at that moment.
"""

from __future__ import annotations

import bisect
import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

MATCH_WINDOW = 2.0  # seconds between the client's connect and the proxy's accept


@dataclass
class Result:
    scenario: str
    server: str
    requests: int
    failed: int
    retries: int
    duration: float
    notes: list[str] = field(default_factory=list)
    failures: list[dict] = field(default_factory=list)  # the failed requests' last attempts
    rate: float = 0.0
    seed: int | None = None
    checks: dict = field(default_factory=dict)  # scenario facts for the assertions

    def row(self) -> list[str]:
        return [self.scenario, self.server, str(self.requests), str(self.failed), str(self.retries), f"{self.duration:.1f}s", f"{self.rate:.0f}"]

    def summary(self) -> str:
        lines = [f"{self.scenario} [{self.server}]: {self.requests} requests ({self.rate:.0f}/s), {self.failed} failed, {self.retries} retried, {self.duration:.1f}s"]
        lines += [f"  - {n}" for n in self.notes]
        for f in self.failures[:15]:
            lines.append(f"  ! t={f['t0']:.3f} {f['client']} pod={f.get('pod')} reused={f['reused']} status={f['status']} body={f['body']!r} error={f['error']}")
        if len(self.failures) > 15:
            lines.append(f"  ! ... {len(self.failures) - 15} more")
        return "\n".join(lines)


class Routes:
    """The proxy's routing decisions, looked up by the client's port and connect time."""

    def __init__(self, proxy_records: list[dict]):
        self.by_port: dict[int, list[tuple[float, str | None, str]]] = defaultdict(list)
        for r in proxy_records:
            if r["ev"] in ("route", "reject"):
                self.by_port[r["client_port"]].append((r["t"], r["pod"], r["ev"]))
        for entries in self.by_port.values():
            entries.sort(key=lambda e: e[0])
        self.syncs = [r for r in proxy_records if r["ev"] == "sync"]

    def pod_of(self, local_port: int | None, conn_t0: float | None) -> tuple[str | None, str | None]:
        """(pod, "route" | "reject") of the connection, or (None, None) if not found."""
        if local_port is None:
            return None, None
        entries = self.by_port.get(local_port, [])
        i = bisect.bisect_left(entries, (conn_t0 - MATCH_WINDOW,))
        best = None
        for t, pod, ev in entries[i:]:
            if t > conn_t0 + MATCH_WINDOW:
                break
            if best is None or abs(t - conn_t0) < abs(best[0] - conn_t0):
                best = (t, pod, ev)
        return (best[1], best[2]) if best else (None, None)

    def routed(self, pod: str, start: float, end: float) -> list[float]:
        """Times of new connections routed to `pod` in [start, end]."""
        return sorted(t for entries in self.by_port.values() for t, p, ev in entries if p == pod and ev == "route" and start <= t <= end)


def attribute(records: list[dict], routes: Routes) -> list[dict]:
    for r in records:
        r["pod"], r["route"] = routes.pod_of(r.get("local_port"), r.get("conn_t0"))
    return records


def final_attempts(records: list[dict]) -> list[dict]:
    by_id: dict[int, dict] = {}
    for r in records:
        if r["id"] not in by_id or r["attempt"] > by_id[r["id"]]["attempt"]:
            by_id[r["id"]] = r
    return sorted(by_id.values(), key=lambda r: r["t0"])


def failed(r: dict, allowed) -> bool:
    return r["outcome"] != "ok" or r["status"] != 200 or r["body"] not in allowed(r)


def result(scenario: str, server: str, records: list[dict], allowed, duration: float) -> Result:
    final = final_attempts(records)
    failures = [r for r in final if failed(r, allowed)]
    retries = sum(1 for r in records if r["outcome"] == "retried")
    span = (max(r["t1"] for r in final) - min(r["t0"] for r in final)) if final else 0.0
    res = Result(scenario, server, len(final), len(failures), retries, duration, failures=failures, rate=len(final) / span if span else 0.0)
    if failures:
        kinds = Counter(_why(r, allowed) for r in failures)
        res.notes.append("failed: " + ", ".join(f"{n} {k}" for k, n in kinds.most_common()))
        pods = Counter(r.get("pod") or "?" for r in failures)
        res.notes.append("failed requests by pod: " + ", ".join(f"{p} {n}" for p, n in pods.most_common()))
    if retries:
        pods = Counter(r.get("pod") or "?" for r in records if r["outcome"] == "retried")
        res.notes.append("retried (no response on a reused connection) by pod: " + ", ".join(f"{p} {n}" for p, n in pods.most_common()))
    return res


def _why(r: dict, allowed) -> str:
    if r["outcome"] != "ok":
        err = r["error"] or "?"
        return "timeout" if err == "timeout" else re.sub(r"\[Errno \d+\] ", "", err.split(":")[0] if err.startswith("no response") else err)[:60]
    if r["status"] != 200:
        return f"status {r['status']}"
    return f"body {r['body']!r} (allowed {sorted(allowed(r))})"


def per_pod_ok(records: list[dict]) -> Counter:
    """Successful attempts per pod (each reached that pod's access log once)."""
    return Counter(r["pod"] for r in records if r["outcome"] == "ok")


# hurricane's access log: text `... INFO hurricane::access: 200 GET /hello (...)` or JSON.
ACCESS_TEXT = re.compile(r"^(\S+)\s+INFO\s+hurricane::access:\s+(\d{3}) (\S+) (\S+)")


def access_log(text: str) -> list[tuple[str, int, str, str]]:
    """(timestamp, status, method, path) of each access line of a hurricane log."""
    lines = []
    for line in text.splitlines():
        if line.startswith("{"):
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if obj.get("target") == "hurricane::access" and "status" in obj:
                lines.append((obj["timestamp"], int(obj["status"]), obj.get("method", ""), obj.get("path", "")))
            continue
        m = ACCESS_TEXT.match(line)
        if m:
            lines.append((m.group(1), int(m.group(2)), m.group(3), m.group(4)))
    return lines


def access_counts(logdir: Path, pod: str, path: str = "/hello") -> int:
    """Requests for `path` in every run's log of `pod`."""
    total = 0
    for log in sorted(logdir.glob(f"{pod}.run*.stderr.log")):
        total += sum(1 for _, _, m, p in access_log(log.read_text(errors="replace")) if p == path and m == "GET")
    return total
