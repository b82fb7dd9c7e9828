"""The endpoints controller and the way its changes reach kube-proxy.

Every change of a pod (Ready flips, deletion, the container's end) gives a new
EndpointSlice: each live pod with its conditions (`ready` = Ready and not
terminating, `serving` = Ready, `terminating`). A slice reaches the proxy after a
random delay between 0 and the maximum (a seeded RNG, every delay recorded); the
proxy's watch delivers slices in order, so a slice is never applied before an earlier
one (its delivery waits for the previous delivery if need be).
"""

from __future__ import annotations

import heapq
import random
import threading
import time
from dataclasses import dataclass


@dataclass
class Delivery:
    version: int
    changed_at: float  # the pod change that made this slice
    delay: float  # the random delay drawn for it
    due: float  # when it reaches the proxy (never before the previous one)
    endpoints: list[dict]
    delivered_at: float | None = None

    def ready(self) -> list[str]:
        return [e["name"] for e in self.endpoints if e["ready"]]


class EndpointsController:
    def __init__(self, proxy, seed: int, delay_range: tuple[float, float], events):
        self.proxy = proxy
        self.rng = random.Random(seed)
        self.delay_range = delay_range
        self.events = events
        self.lock = threading.Condition()
        self.version = 0
        self.last_endpoints: list[dict] | None = None
        self.last_due = 0.0
        self.queue: list[tuple[float, int, Delivery]] = []
        self.deliveries: list[Delivery] = []
        self.closed = False
        self.thread = threading.Thread(target=self._deliver, name="endpoints", daemon=True)
        self.thread.start()

    def update(self, pods):
        """A pod changed: compute the slice from every live pod; queue it if it differs."""
        with self.lock:
            endpoints = sorted((p.endpoint() for p in list(pods) if not p.gone), key=lambda e: e["name"])
            if endpoints == self.last_endpoints:
                return
            self.last_endpoints = endpoints
            self.version += 1
            now = time.time()
            delay = self.rng.uniform(*self.delay_range)
            due = max(now + delay, self.last_due)
            self.last_due = due
            item = Delivery(self.version, now, delay, due, endpoints)
            self.deliveries.append(item)
            heapq.heappush(self.queue, (due, self.version, item))
            self.lock.notify_all()

    def _deliver(self):
        with self.lock:
            while not self.closed:
                if not self.queue:
                    self.lock.wait()
                    continue
                due, _, item = self.queue[0]
                wait = due - time.time()
                if wait > 0:
                    self.lock.wait(wait)
                    continue
                heapq.heappop(self.queue)
                self.proxy.apply(item.version, item.endpoints)
                item.delivered_at = time.time()
                self.events.add("proxy", "endpoints", f"v{item.version} ready={item.ready()} after {item.delivered_at - item.changed_at:.3f}s")
                self.lock.notify_all()

    def in_proxy(self) -> list[Delivery]:
        with self.lock:
            return [d for d in self.deliveries if d.delivered_at is not None]

    def proxy_view(self) -> Delivery | None:
        """The slice the proxy has now."""
        done = self.in_proxy()
        return done[-1] if done else None

    def settled(self) -> bool:
        """Every slice made so far has reached the proxy."""
        with self.lock:
            return not self.queue

    def close(self):
        with self.lock:
            self.closed = True
            self.lock.notify_all()
        self.thread.join(5)

    def delays(self) -> list[float]:
        with self.lock:
            return [d.delay for d in self.deliveries]
