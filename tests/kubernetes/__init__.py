"""Kubernetes, simulated on loopback with real servers: the kubelet, the endpoints
controller, kube-proxy and the Deployment controller, driven by deploy/kubernetes, with
real `hurricane serve` processes as the pods and steady HTTP load through the proxy.

- `manifest`: the Deployment, its ConfigMap and Service as Kubernetes reads them, and
  the time factor the tests run them with;
- `images`: the example project as the Dockerfile builds it (v1 and v2) and the command
  a container runs (hurricane, or django-hurricane 1.6.2 for the comparison);
- `kubelet`: pods, their containers (processes) and probes, kills and restarts;
- `endpoints`: EndpointSlices and their propagation delay to the proxy;
- `proxy`: kube-proxy, a process splicing each new connection to a ready endpoint;
- `deployment`: rolling updates and scaling;
- `load`: the clients (keep-alive and new-connection), a process of their own;
- `cluster`: all of it wired together, with logs;
- `analysis`, `scenarios`: the results; `run`: the full-length run and its table
  (`python -m tests.kubernetes`).
"""
