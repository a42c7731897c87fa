"""gunicorn settings for the tracker: `gunicorn -c deploy/gunicorn.conf.py wsgi:app`.

Every value comes from the environment (the systemd unit reads /etc/tracker/tracker.env), with
defaults for a machine of N cores: N workers of 4 threads each. The app waits on the database more
than it computes, so threads carry the concurrency and workers use the cores. Each worker has its
own connection pool (DB_POOL_SIZE, DB_MAX_OVERFLOW): keep DB_POOL_SIZE >= the threads.
"""

import multiprocessing
import os

bind = os.environ.get("BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count()))
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", 4))
timeout = int(os.environ.get("WEB_TIMEOUT", 60))  # an export streams; a request that hangs is killed
graceful_timeout = 30
keepalive = 5
max_requests = int(os.environ.get("WEB_MAX_REQUESTS", 5000))  # recycle workers now and then
max_requests_jitter = 500
# The app is built after the fork (no preload): every worker opens its own database connections.
preload_app = False
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")  # the nginx in front
# gunicorn's control socket (gunicornc) is one path per user by default: two instances on one
# machine would fight over it. Off unless asked for, with a path of its own.
control_socket = os.environ.get("CONTROL_SOCKET", "")
control_socket_disable = not control_socket
accesslog = os.environ.get("ACCESS_LOG", "-")
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info")
