"""The Deployment controller (pkg/controller/deployment, rolling.go) with the
ReplicaSet controller's choice of pods to delete folded in.

A pod belongs to the new ReplicaSet when it runs the Deployment's current image.
Terminating pods count for nothing (the controller only sees the ReplicaSets' replicas).
Each pass, as `rolloutRolling` does:
- scale up the new pods: at most replicas + maxSurge pods in all, at most replicas new;
- scale down old pods: at most (all pods - (replicas - maxUnavailable) - new pods not
  yet available), the old pods that are not available first (cleanupUnhealthyReplicas),
  then only while more than replicas - maxUnavailable pods are available
  (scaleDownOldReplicaSetsForRollingUpdate).
A pod is available once Ready for minReadySeconds. Without old pods the new ones are
scaled to `replicas`. The pods to delete are ranked as the ReplicaSet controller ranks
them: not Ready first, then Ready for less time, more restarts, created later.
"""

from __future__ import annotations

import threading

from support.poll import poll_until

TICK = 0.02  # the controller reacts to a change within this (it is event driven)


def deletion_rank(pod) -> tuple:
    ready_since = pod.ready_since if pod.ready else None
    return (ready_since is not None, -(ready_since or 0.0), -pod.restarts, -pod.created)


class Deployment:
    def __init__(self, cluster, image, replicas: int):
        self.cluster = cluster
        self.manifest = cluster.manifest
        self.image = image
        self.replicas = replicas
        self.lock = threading.Lock()
        self.closed = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="deployment", daemon=True)
        self.thread.start()

    # -- what a user does (kubectl set image / kubectl scale) -------------------------
    def set_image(self, image):
        with self.lock:
            self.image = image
        self.cluster.events.add("deployment", "set image", image.name)

    def scale(self, replicas: int):
        with self.lock:
            self.replicas = replicas
        self.cluster.events.add("deployment", "scale", str(replicas))

    # -- status -------------------------------------------------------------------
    def status(self) -> dict:
        with self.lock:
            image, replicas = self.image, self.replicas
        pods = self.cluster.live_pods()
        new = [p for p in pods if p.revision == image.name]
        return {
            "replicas": len(pods),
            "updated": len(new),
            "available": sum(p.available(self.manifest.min_ready) for p in pods),
            "old": len(pods) - len(new),
            "wanted": replicas,
        }

    def complete(self) -> bool:
        """kubectl rollout status: every pod updated and available, no old pod left."""
        s = self.status()
        return s["updated"] == s["wanted"] == s["available"] == s["replicas"] and s["old"] == 0

    def wait_complete(self, timeout: float):
        poll_until(self.complete, timeout, interval=0.05, what="the rollout to complete", context=lambda: f"{self.status()}\n{self.cluster.describe()}")

    # -- the controller -----------------------------------------------------------
    def _loop(self):
        while not self.closed.wait(TICK):
            self.reconcile()

    def reconcile(self):
        with self.lock:
            image, replicas = self.image, self.replicas
        pods = self.cluster.live_pods()
        new = [p for p in pods if p.revision == image.name]
        old = [p for p in pods if p.revision != image.name]
        if not old:
            self._scale_new(image, new, replicas - len(new))
            return
        surge, unavailable = self.manifest.surge_and_unavailable(replicas)
        room = min(replicas + surge - len(pods), replicas - len(new))
        self._scale_new(image, new, max(0, room))
        min_available = replicas - unavailable
        min_ready = self.manifest.min_ready
        new_unavailable = len(new) - sum(p.available(min_ready) for p in new)
        budget = len(pods) - min_available - new_unavailable
        if budget <= 0:
            return
        unhealthy = sorted((p for p in old if not p.available(min_ready)), key=deletion_rank)[:budget]
        for pod in unhealthy:
            self.cluster.delete_pod(pod, "rolling update: old pod not available")
        old = [p for p in old if p not in unhealthy]
        available = sum(p.available(min_ready) for p in self.cluster.live_pods())
        for pod in sorted(old, key=deletion_rank)[: max(0, available - min_available)]:
            self.cluster.delete_pod(pod, "rolling update: scale down old")

    def _scale_new(self, image, new: list, change: int):
        for _ in range(change):
            self.cluster.create_pod(image)
        if change < 0:
            for pod in sorted(new, key=deletion_rank)[:-change]:
                self.cluster.delete_pod(pod, "scale down")

    def close(self):
        self.closed.set()
        self.thread.join(5)
