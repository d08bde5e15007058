"""A bounded load client for the lab: GET one path of one URL from a few threads at a steady rate, counting failures.

Used by the lab tests (tests/lab/test_release.py) and the release benchmark (bench/release_vs_rolling.py). Every
request is recorded; a failed request is a connection error or an answer that is not 2xx. A keepalive connection
that the server closed while idle (an old nginx worker shutting down after a reload) is resent once and counted
apart, as HTTP clients do for idempotent requests.
"""

import http.client
import threading
import time
import urllib.parse


class Load:
    """GET ``path`` on the GLB from ``threads`` threads, ``rate`` requests/s in all, until stopped.

    One thread keeps its connection alive; the others open one per request. ``records`` holds
    ``(start, status, version, error, request_id)`` per request (``request_id``: the GLB's X-Request-Id, the key of
    the request in the access logs of the GLB and of the load balancers). ``since`` is the wall-clock time the load
    started (the ``--since`` of ``docker logs``).
    """

    def __init__(self, url, path='/version', threads=5, rate=50):
        parts = urllib.parse.urlsplit(url)
        self.host, self.port = parts.hostname, parts.port or 80
        self.path = path
        self.threads = threads
        self.interval = threads / float(rate)
        self.records = []
        self.lbs = {}
        self.resent = 0
        self.since = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._workers = []

    def _get(self, conn):
        conn.request('GET', self.path)
        response = conn.getresponse()
        response.read()
        with self._lock:
            self.lbs[response.getheader('X-LB')] = self.lbs.get(response.getheader('X-LB'), 0) + 1
        return response.status, response.getheader('X-App-Version'), response.getheader('X-Request-Id')

    def _run(self, keepalive):
        conn = None
        while not self._stop.is_set():
            started = time.monotonic()
            status = version = error = request_id = None
            try:
                reused = conn is not None
                if conn is None:
                    conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
                try:
                    status, version, request_id = self._get(conn)
                except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                    if not reused:
                        raise
                    conn.close()
                    conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
                    with self._lock:
                        self.resent += 1
                    status, version, request_id = self._get(conn)
            except Exception as exc:  # pylint: disable=broad-except
                error = repr(exc)
            if not keepalive or error:
                if conn is not None:
                    conn.close()
                conn = None
            with self._lock:
                self.records.append((started, status, version, error, request_id))
            time.sleep(max(0.0, self.interval - (time.monotonic() - started)))
        if conn is not None:
            conn.close()

    def __enter__(self):
        self.since = time.time()
        for index in range(self.threads):
            worker = threading.Thread(target=self._run, args=(index == 0, ), daemon=True)
            worker.start()
            self._workers.append(worker)
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        for worker in self._workers:
            worker.join(15)
        return False

    def failures(self):
        return [r for r in self.records if r[3] is not None or not 200 <= (r[1] or 0) < 300]

    def summary(self):
        versions = {}
        for record in self.records:
            versions[record[2]] = versions.get(record[2], 0) + 1
        return 'requests %d, failed %d, resent after a reload %d, by version %s' % (
            len(self.records), len(self.failures()), self.resent, versions)
