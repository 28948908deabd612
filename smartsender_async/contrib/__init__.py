"""Glue for the places the client is used: web frameworks and job workers.

Each submodule imports its framework, so import only the one you use (each needs its
extra, e.g. ``pip install 'smartsender-async[fastapi]'``):

* :mod:`smartsender_async.contrib.fastapi`: a lifespan that opens one client for the app
  and a dependency that hands it to handlers;
* :mod:`smartsender_async.contrib.aiohttp`: a ``cleanup_ctx`` and an ``AppKey``;
* :mod:`smartsender_async.contrib.arq`: worker ``on_startup``/``on_shutdown`` hooks that
  give each worker process one client and one Redis-backed limiter shared by all workers;
* :mod:`smartsender_async.contrib.opentelemetry`: ``instrument(client)``, spans and
  metrics for every call (the ``otel`` extra).

The core package never imports these.
"""
