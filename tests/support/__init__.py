"""Support code for the end-to-end tests (fixtures live in tests/conftest.py).

- `env`: paths, the binary, its features, the environment a user would have, free ports;
- `poll`: `poll_until`, the one polling loop every wait goes through;
- `client`: a raw-socket HTTP/1.1 client (what is asserted is what went over the wire);
- `server`: one `hurricane serve` process (`Server`) and `run_hurricane`, which runs the
  binary to completion;
- `projects`: copies of the example project (migrated, and with a /pid view for reloads);
- `probes`: probe polling, `?verbose` parsing, metrics scraping, checks' flag files;
- `webhook`: a local receiver recording webhook POSTs;
- `static`: file trees, raw requests with the target sent as is, multipart parsing;
- `reload`: autoreload log lines, a client loop, a small Debug Adapter Protocol client;
- `corpora`: the gunicorn and waitress sdists and the gunicorn request corpus.
"""
