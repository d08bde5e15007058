"""The fleet demo application's images (lab/images/apps/fleet, docs/releases.md) really running on
the local Docker engine: version 1 beside MariaDB and Redis answers every endpoint, the broken
version 3 fails its health check while still telling its version, and version 4 (the A/B test's
failing variant) is healthy but answers 500 to exactly 10 of every 100 requests of /version.

The images come from `python lab/lab.py build` (the lab stage builds them first); this test builds
nothing, and fails when they are missing. Everything it creates is named with one random prefix
(or FLEET_TEST_PREFIX) and removed at the end.
"""

import io
import json
import os
import secrets
import tarfile
import time
import urllib.error
import urllib.request

import docker
import pytest
from docker.errors import DockerException, ImageNotFound

pytestmark = pytest.mark.docker

IMAGES = ["cloudos/mariadb:10.11", "cloudos/redis:7.0", "cloudos/fleet:1", "cloudos/fleet:3", "cloudos/fleet:4"]
PREFIX = os.environ.get("FLEET_TEST_PREFIX") or f"hnatest-fleet-{secrets.token_hex(3)}"
SECRET_PATH = "/tmp/db-password"
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _put_secret(container, text):
    """Place the password file in a created container: no bind mount, no environment variable."""
    data = text.encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(os.path.basename(SECRET_PATH))
        info.size, info.mode = len(data), 0o444
        tar.addfile(info, io.BytesIO(data))
    container.put_archive(os.path.dirname(SECRET_PATH), buf.getvalue())


def _wait_health(container, wanted, timeout):
    """Wait until the container's health status is `wanted`; return the seconds it took."""
    start = time.monotonic()
    status = None
    while time.monotonic() - start < timeout:
        container.reload()
        status = container.attrs["State"].get("Health", {}).get("Status")
        if status == wanted:
            return time.monotonic() - start
        if container.status not in ("created", "running"):
            break
        time.sleep(0.5)
    logs = container.logs(tail=30).decode(errors="replace")
    pytest.fail(f"{container.name} is {container.status}/{status}, not {wanted} after {timeout}s:\n{logs}")


class Fleet:
    """One running fleet container, reached on its port published on 127.0.0.1."""

    def __init__(self, container, hostname):
        self.container = container
        self.hostname = container.name if hostname is None else hostname
        container.reload()
        port = container.attrs["NetworkSettings"]["Ports"]["8080/tcp"][0]["HostPort"]
        self.base = f"http://127.0.0.1:{port}"

    def request(self, path, method="GET"):
        """(status, headers, body text) of one request; HTTP errors are answers too."""
        req = urllib.request.Request(self.base + path, method=method)
        try:
            with OPENER.open(req, timeout=10) as resp:
                return resp.status, resp.headers, resp.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.headers, err.read().decode()


@pytest.fixture(scope="module")
def engine():
    try:
        client = docker.from_env(timeout=60)
        client.ping()
    except DockerException as exc:
        pytest.fail(f"cannot reach the local Docker engine: {exc}", pytrace=False)
    missing = []
    for image in IMAGES:
        try:
            client.images.get(image)
        except ImageNotFound:
            missing.append(image)
    if missing:
        pytest.fail(f"images missing on the local engine: {', '.join(missing)}; "
                    "build them with `python lab/lab.py build` (or `make lab-up`) first", pytrace=False)
    return client


@pytest.fixture(scope="module")
def stack(engine):
    """MariaDB, Redis, fleet 1 (wired to both) and fleet 3 on a network of their own."""
    password = secrets.token_urlsafe(18)
    created = []
    network = engine.networks.create(f"{PREFIX}-net", driver="bridge")

    def run(role, image, env, publish=False, hostname=None, secret=False):
        kwargs = {"ports": {"8080/tcp": ("127.0.0.1", None)}} if publish else {}
        container = engine.containers.create(
            image, name=f"{PREFIX}-{role}", hostname=hostname, environment=env,
            network=network.name, mem_limit="384m", detach=True, **kwargs)
        created.append(container)
        if secret:
            _put_secret(container, password + "\n")
        container.start()
        return container

    try:
        db = run("mariadb", "cloudos/mariadb:10.11", {
            "MARIADB_ROOT_PASSWORD_FILE": SECRET_PATH, "MARIADB_PASSWORD_FILE": SECRET_PATH,
            "MARIADB_DATABASE": "fleet", "MARIADB_USER": "fleet"}, secret=True)
        redis = run("redis", "cloudos/redis:7.0", {})
        start = time.monotonic()
        one = run("fleet1", "cloudos/fleet:1", {
            "DB_HOST": db.name, "DB_USER": "fleet", "DB_PASSWORD_FILE": SECRET_PATH,
            "REDIS_HOST": redis.name}, publish=True, hostname="fleet-one", secret=True)
        three = run("fleet3", "cloudos/fleet:3", {}, publish=True)
        four = run("fleet4", "cloudos/fleet:4", {}, publish=True)
        _wait_health(one, "healthy", 120)
        print(f"fleet 1: healthy {time.monotonic() - start:.1f}s after it was started")
        _wait_health(db, "healthy", 120)
        _wait_health(redis, "healthy", 60)
        yield {"one": Fleet(one, "fleet-one"), "three": Fleet(three, None), "four": Fleet(four, None),
               "password": password}
    finally:
        for container in reversed(created):
            container.remove(force=True, v=True)
        network.remove()


def test_health_answers_without_touching_the_backends(stack):
    status, headers, body = stack["one"].request("/health")
    assert status == 200, body
    assert json.loads(body) == {"status": "ok", "version": "1"}
    assert headers["Content-Type"].startswith("application/json")


def test_deep_health_checks_mariadb_and_redis(stack):
    status, _, body = stack["one"].request("/health?deep=1")
    assert status == 200, body
    assert json.loads(body) == {"status": "ok", "version": "1", "database": "ok", "redis": "ok"}


def test_version_is_the_bare_version_string(stack):
    status, headers, body = stack["one"].request("/version")
    assert status == 200
    assert body == "1\n"
    assert headers["X-App-Version"] == "1"


def test_every_response_names_its_version_and_host(stack):
    one = stack["one"]
    answers = {path: one.request(path) for path in ("/health", "/version", "/hits", "/vehicles", "/no-such-page")}
    for path, (_, headers, _) in answers.items():
        assert (headers["X-App-Version"], headers["X-App-Host"]) == ("1", "fleet-one"), path
    assert answers["/no-such-page"][0] == 404
    assert "Tomcat" not in answers["/no-such-page"][2], "error pages do not tell the server's version"


def test_vehicles_are_written_to_and_read_from_mariadb(stack):
    one = stack["one"]
    vid = f"car-{secrets.token_hex(3)}"
    status, _, body = one.request(f"/vehicles?id={vid}&name=Model%20T", method="POST")
    assert status == 200, body
    assert json.loads(body) == {"id": vid, "name": "Model T", "written_by_version": "1"}
    status, _, body = one.request(f"/vehicles?id={vid}&name=Model%20A", method="POST")
    assert status == 200, body
    status, _, body = one.request("/vehicles")
    assert status == 200, body
    rows = [v for v in json.loads(body)["vehicles"] if v["id"] == vid]
    assert [(v["name"], v["written_by_version"]) for v in rows] == [("Model A", "1")]


def test_a_bad_vehicle_is_refused_naming_the_parameter(stack):
    status, _, body = stack["one"].request("/vehicles?id=no%20spaces&name=x", method="POST")
    assert status == 400
    assert "parameter id" in json.loads(body)["error"]
    status, _, body = stack["one"].request("/vehicles?id=ok", method="POST")
    assert status == 400
    assert "parameter name" in json.loads(body)["error"]


def test_hits_count_in_redis(stack):
    status, _, first = stack["one"].request("/hits")
    assert status == 200, first
    status, _, second = stack["one"].request("/hits")
    assert status == 200, second
    assert json.loads(second)["hits"] == json.loads(first)["hits"] + 1


def test_password_stays_out_of_environment_and_logs(stack):
    container = stack["one"].container
    container.reload()
    assert not any(stack["password"] in e for e in container.attrs["Config"]["Env"])
    assert stack["password"] not in container.logs().decode(errors="replace")


def test_missing_backend_settings_are_named(stack):
    three = stack["three"]  # started without any DB_* or REDIS_* setting
    status, _, body = three.request("/hits")
    assert status == 503
    assert "REDIS_HOST is not set" in json.loads(body)["error"]
    status, _, body = three.request("/vehicles")
    assert status == 503
    assert "DB_HOST is not set" in json.loads(body)["error"]


def test_version_3_fails_its_health_check_but_tells_its_version(stack):
    three = stack["three"]
    status, headers, body = three.request("/health")
    assert status == 500, body
    assert json.loads(body)["status"] == "failing"
    assert headers["X-App-Version"] == "3"
    status, _, body = three.request("/version")
    assert (status, body) == (200, "3\n")
    # The start period (40 s) passes, then three failed checks 5 s apart.
    _wait_health(three.container, "unhealthy", 90)


def test_version_4_is_healthy_and_fails_one_request_in_ten(stack):
    four = stack["four"]
    _wait_health(four.container, "healthy", 120)
    statuses = [four.request("/version")[0] for _ in range(100)]
    assert statuses.count(500) == 10 and statuses.count(200) == 90, statuses
    status, headers, body = four.request("/health")
    assert status == 200 and headers["X-App-Version"] == "4", body


def test_versions_share_every_layer_but_the_last(engine):
    one, three = (engine.images.get(f"cloudos/fleet:{v}").attrs["RootFS"]["Layers"] for v in ("1", "3"))
    assert len(one) == len(three)
    assert one[:-1] == three[:-1]
    assert one[-1] != three[-1]
    tomcat = engine.images.get("cloudos/tomcat:10.1").attrs["RootFS"]["Layers"]
    assert one[:len(tomcat)] == tomcat, "fleet is built on the lab's tomcat image"
