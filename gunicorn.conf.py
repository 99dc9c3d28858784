"""gunicorn's settings for the web process: ``gunicorn -c gunicorn.conf.py app:app`` (the Procfile's web line).

Threads (``gthread``) rather than gunicorn's default ``sync`` workers: a sync
worker belongs to one client for as long as that client takes to send its
request, so two clients sending a byte a second stop a two-worker site. A
gthread worker gives such a client one thread and answers everyone else with
the others; idle kept-alive connections wait in its poller, not in a thread.
On the public internet put a reverse proxy in front that reads whole requests
before passing them on (nginx does by default; bound it with
``client_header_timeout`` and ``client_body_timeout``), so slow clients never
reach gunicorn at all.

Each setting can be changed from the environment, as the names below say.
"""

import os

bind = f"127.0.0.1:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", "8"))
timeout = 30  # a worker whose main loop stops answering is replaced; requests run in threads
graceful_timeout = 10
keepalive = 5
# X-Forwarded-Proto and X-Forwarded-For are believed only from this machine, where the reverse proxy
# runs (gunicorn's own default, kept deliberately): a client elsewhere cannot make the answers' URLs
# say https by sending the header itself. Set SYNDICATE_BASE_URL in production: then no header plays
# any part in an answer.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
