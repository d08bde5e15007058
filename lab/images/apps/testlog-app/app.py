"""testlog: count visits in Redis, report MySQL's reachability; standard library only."""

import json
import os
import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

REDIS = (os.environ.get("REDIS_HOST", "redis"), int(os.environ.get("REDIS_PORT", "6379")))
MYSQL = (os.environ.get("MYSQL_HOST", "mysql"), int(os.environ.get("MYSQL_PORT", "3306")))


def redis_incr(key):
    """INCR a key over the Redis protocol; return the new value."""
    with socket.create_connection(REDIS, timeout=2) as conn:
        conn.sendall(f"*2\r\n$4\r\nINCR\r\n${len(key)}\r\n{key}\r\n".encode())
        reply = conn.recv(64).decode()
    if not reply.startswith(":"):
        raise RuntimeError(f"redis answered {reply.strip()!r}")
    return int(reply[1:].strip())


def mysql_up():
    """True when MySQL sends its handshake."""
    try:
        with socket.create_connection(MYSQL, timeout=2) as conn:
            return len(conn.recv(4)) == 4
    except OSError:
        return False


class Handler(BaseHTTPRequestHandler):
    def _send(self, code, body):
        data = (json.dumps(body) + "\n").encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/healthz":
            self._send(200, {"status": "ok"})
            return
        try:
            hits = redis_incr("testlog:hits")
        except (OSError, RuntimeError) as exc:
            self._send(503, {"service": "testlog", "error": f"redis: {exc}"})
            return
        self._send(200, {"service": "testlog", "hits": hits, "mysql": "up" if mysql_up() else "down",
                         "host": socket.gethostname()})

    def log_message(self, fmt, *args):
        pass


if __name__ == "__main__":
    ThreadingHTTPServer(("0.0.0.0", int(os.environ.get("APP_PORT", "8080"))), Handler).serve_forever()
