"""The trusted app store on the lab: the catalog that `make lab` published into the lab's registry,
the Redis it deployed from it, and each middleware app of the catalog deployed with one task into a
namespace of its own on a node of the other cloud (health, the namespace's DNS from another
container, the published port, rerun and check mode), an upgrade that keeps the data, a tampered
image and bad parameters refused before anything changes, and no secret in any output."""

import json
import secrets
import shlex
import shutil
from pathlib import Path

import pytest
import yaml

from conftest import HOSTVARS, REPO, node_host, run_module, run_module_output, wait_for

CATALOG = REPO / ".lab" / "catalog"
REGISTRY = HOSTVARS["bj2-node1"]["lab_registry_address"]
STORE = HOSTVARS["bj2-node1"]["lab_store_app"]
STORE_PASSWORD_FILE = REPO / ".lab" / "secrets" / "store-cache-redis"
# The apps of the tests below run on a node of the other cloud, in a namespace of their own.
NODE = "hz-node2"
NAMESPACE = "storetest"
SECRETS = []  # every secret value the tests give; none may appear in any output


def ansible_app(args, *flags, host=NODE):
    """Run hna.cloudos.app ad hoc with ``args`` (a dict; secret values are given as ``{{ lookup('file', ...) }}``,
    so that they are in no command line); return (rc, result, raw output)."""
    rc, result, out = run_module_output(host, "hna.cloudos.app", json.dumps(args), *flags)
    for value in SECRETS:
        assert value not in out, "a secret is in the output of hna.cloudos.app"
    return rc, result, out


def secret_file(tmp_dir, name):
    """A new random secret in a file of the control machine; return the lookup that reads it."""
    value = secrets.token_hex(12)
    SECRETS.append(value)
    path = Path(tmp_dir) / name
    path.write_text(value)
    path.chmod(0o600)
    return "{{ lookup('ansible.builtin.file', '%s') }}" % path


def app_args(name, app, version, params=None, **extra):
    args = dict(name=name, app=app, version=version, namespace=NAMESPACE, registry=REGISTRY,
                catalog_path=str(CATALOG), params=params or {})
    args.update(extra)
    return args


def probe(host, network, command, image="cloudos/redis:7.0"):
    """Run ``command`` (bash) in another container on ``network`` (a namespace's network, or host)."""
    return host.run("docker run --rm --network %s %s/%s bash -c %s" % (network, REGISTRY, image, shlex.quote(command)))


def container_of(result):
    names = [c["name"] for s in result["services"].values() for c in s.get("containers", [])]
    assert len(names) == 1, result["services"]
    return names[0]


def wait_healthy(host, container, timeout=240):
    wait_for(lambda: host.run("docker inspect --format '{{.State.Health.Status}}' %s" % container).stdout.strip() == "healthy",
             timeout, "%s to be healthy" % container, 2)


@pytest.fixture(scope="module")
def node():
    host = node_host(NODE)
    rc, result = run_module(NODE, "hna.cloudos.namespace", "name=%s" % NAMESPACE)
    assert rc == 0, result
    yield host
    # Whatever a failed test left: the apps of the namespace with their data, then the namespace.
    listing = host.run("docker ps -aq --filter label=io.hna.cloudos.namespace=%s" % NAMESPACE).stdout.split()
    if listing:
        host.run("docker rm -f %s" % " ".join(listing))
    volumes = host.run("docker volume ls -q --filter label=io.hna.cloudos.namespace=%s" % NAMESPACE).stdout.split()
    if volumes:
        host.run("docker volume rm %s" % " ".join(volumes))
    run_module(NODE, "hna.cloudos.namespace", "name=%s state=absent" % NAMESPACE)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    return tmp_path_factory.mktemp("app-store")


def test_make_lab_published_the_catalog_pinned_to_what_the_registry_serves():
    rc, result = run_module("localhost", "hna.cloudos.app_catalog_info", "catalog_path=%s" % CATALOG)
    assert rc == 0 and result["problems"] == [], result
    published = {a["name"]: a["versions"][-1] for a in result["apps"]}
    # Every app of the collection's catalog whose image the lab builds (all but MongoDB, docs/app-store.md).
    assert set(published) == {"activemq", "jdk", "mariadb", "nginx", "redis", "tomcat"}, sorted(published)
    for name, entry in published.items():
        repository, tag = entry["image"]["repository"], entry["image"]["tag"]
        rc, listing = run_module(
            "localhost", "hna.cloudos.registry_info",
            # The password is templated from the inventory, so it is in no command line.
            "registry_url=%s username=cloudos password={{ lab_registry_password }} ca_path=%s repository=%s include_details=true"
            % (REGISTRY, REPO / ".lab" / "registry-ca" / "ca.crt", repository))
        assert rc == 0, listing
        digests = [t.get("digest") for r in listing["repositories"] for t in r["tags"] if t["tag"] == tag]
        assert entry["pinned"] and digests == [entry["image"]["digest"]], (name, entry["image"], digests)


def test_make_lab_deployed_a_redis_from_the_store_reachable_by_name_and_port():
    host = node_host(STORE["node"])
    names = host.check_output("docker ps --filter label=io.hna.cloudos.app=%s --filter label=io.hna.cloudos.namespace=%s "
                              "--format '{{.Names}} {{.Status}}'" % (STORE["name"], STORE["namespace"])).splitlines()
    assert len(names) == 1 and "(healthy)" in names[0], names
    # From another container of the namespace, by <app>.<namespace>: it answers, and wants the password.
    answer = probe(host, STORE["namespace"], "redis-cli -h %s.%s ping" % (STORE["name"], STORE["namespace"]))
    assert "NOAUTH" in answer.stdout + answer.stderr, answer.stdout + answer.stderr
    # On its published port, with the password (read from the secret file on the node, in no command line).
    secret = host.check_output("find /var/lib/hna-cloudos/stacks/%s.apps/%s -type f | head -1"
                               % (STORE["namespace"], STORE["name"]))
    assert secret, "no secret file of the app on the node"
    pong = host.run("REDISCLI_AUTH=\"$(cat %s)\" docker run --rm --network host -e REDISCLI_AUTH %s/cloudos/redis:7.0 "
                    "redis-cli -h 127.0.0.1 -p 6379 ping" % (secret, REGISTRY))
    assert pong.stdout.strip() == "PONG", pong.stdout + pong.stderr
    # The password is nowhere in the container's configuration.
    password = STORE_PASSWORD_FILE.read_text().strip()
    inspected = host.check_output("docker inspect %s" % names[0].split()[0])
    assert password not in inspected


def deploy_and_check(node, args, port):
    """Check mode, apply, rerun, rerun in check mode; then the app answers on <name>.<namespace> and its port."""
    rc, planned, _ = ansible_app(args, "--check", "--diff")
    assert rc == 0 and planned["changed"], planned
    assert not node.run("docker ps -aq --filter label=io.hna.cloudos.app=%s" % args["name"]).stdout.strip()
    rc, applied, _ = ansible_app(args)
    assert rc == 0 and applied["changed"], applied
    rc, again, _ = ansible_app(args)
    assert rc == 0 and not again["changed"], again.get("plan")
    rc, checked, _ = ansible_app(args, "--check", "--diff")
    assert rc == 0 and not checked["changed"], checked.get("plan")
    assert applied["image"].startswith("%s/%s@sha256:" % (REGISTRY, applied["image"].split("/", 1)[1].split("@")[0]))
    dns = applied["reach"]["dns"]
    assert dns.startswith("%s.%s:" % (args["name"], NAMESPACE)), applied["reach"]
    hostname, inner = dns.rsplit(":", 1)
    reached = probe(node, NAMESPACE, "exec 3<>/dev/tcp/%s/%s && echo open" % (hostname, inner))
    assert reached.stdout.strip() == "open", reached.stdout + reached.stderr
    published = probe(node, "host", "exec 3<>/dev/tcp/127.0.0.1/%s && echo open" % port)
    assert published.stdout.strip() == "open", published.stdout + published.stderr
    assert applied["reach"]["published"] == "127.0.0.1:%s" % port
    return applied


def remove(node, name):
    rc, result, _ = ansible_app(dict(name=name, namespace=NAMESPACE, state="absent", remove_data=True))
    assert rc == 0 and result["changed"], result
    assert not node.run("docker ps -aq --filter label=io.hna.cloudos.app=%s --filter label=io.hna.cloudos.namespace=%s"
                        % (name, NAMESPACE)).stdout.strip()


def test_tomcat_and_an_nginx_in_front_of_it(node):
    tomcat = deploy_and_check(node, app_args("web", "tomcat", "10.1", {"port": 18080}), 18080)
    wait_healthy(node, container_of(tomcat))
    front = deploy_and_check(node, app_args("front", "nginx", "1.22", {"port": 18081, "upstream": "web.%s:8080" % NAMESPACE}),
                             18081)
    wait_healthy(node, container_of(front))
    # nginx proxies to Tomcat over the namespace's DNS: Tomcat's page through nginx's published port.
    page = probe(node, "host", "curl -s -o /dev/null -w '%{http_code} ' http://127.0.0.1:18081/ ; "
                 "curl -s http://127.0.0.1:18081/ | head -c 2000", image="cloudos/tomcat:10.1")
    assert page.stdout.startswith("200 ") and "Tomcat" in page.stdout, page.stdout[:300]
    remove(node, "front")
    remove(node, "web")
    assert front["params"]["upstream"] == "web.%s:8080" % NAMESPACE


def test_mariadb_with_its_secrets_as_files(node, scratch):
    params = {"port": 13306, "root_password": secret_file(scratch, "root"), "password": secret_file(scratch, "user")}
    db = deploy_and_check(node, app_args("db", "mariadb", "10.11", params), 13306)
    assert db["params"]["root_password"] == "(hidden)" and db["params"]["password"] == "(hidden)"
    container = container_of(db)
    wait_healthy(node, container)
    inspected = node.check_output("docker inspect %s" % container)
    assert not [value for value in SECRETS if value in inspected]
    # The user the entry creates logs in over the namespace's DNS with its password (given to the client as a file).
    login = node.run("docker exec %s sh -c 'mariadb -h db.%s -u app -p\"$(cat /run/secrets/password)\" -N -e \"select 42\"'"
                     % (container, NAMESPACE))
    assert login.stdout.strip() == "42", login.stdout + login.stderr
    remove(node, "db")


def test_activemq(node):
    mq = deploy_and_check(node, app_args("mq", "activemq", "5.17", {"port": 16161}), 16161)
    assert mq["reach"]["dns"] == "mq.%s:61616" % NAMESPACE
    wait_healthy(node, container_of(mq))
    remove(node, "mq")


def test_a_bare_jdk_runs_a_jar_put_in_its_volume(node):
    # A jar: an HTTP server of the JDK's own (com.sun.net.httpserver), compiled with the image's javac.
    source = ("import com.sun.net.httpserver.HttpServer; import java.net.InetSocketAddress;"
              "public class Hello { public static void main(String[] a) throws Exception {"
              " HttpServer s = HttpServer.create(new InetSocketAddress(8080), 0);"
              " s.createContext(\"/\", x -> { byte[] b = \"hello from the jdk\".getBytes();"
              " x.sendResponseHeaders(200, b.length); x.getResponseBody().write(b); x.close(); });"
              " s.start(); } }")
    node.check_output("rm -rf /tmp/jdkapp && mkdir -m 0777 -p /tmp/jdkapp && printf '%%s' %s > /tmp/jdkapp/Hello.java" % shlex.quote(source))
    built = node.run("docker run --rm -v /tmp/jdkapp:/w -w /w %s/cloudos/tomcat:10.1 sh -c "
                     "'javac Hello.java && jar cfe app.jar Hello *.class'" % REGISTRY)
    assert built.rc == 0, built.stdout + built.stderr
    args = app_args("runner", "jdk", "17", {"port": 18082}, wait=False)
    rc, first, _ = ansible_app(args)
    assert rc == 0 and first["changed"], first
    container = container_of(first)
    node.check_output("docker cp /tmp/jdkapp/app.jar %s:/srv/app/app.jar" % container)
    wait_healthy(node, container)
    deploy = dict(args, wait=True)
    rc, again, _ = ansible_app(deploy)
    assert rc == 0 and not again["changed"], again.get("plan")
    reached = probe(node, NAMESPACE, "curl -s http://runner.%s:8080/" % NAMESPACE, image="cloudos/tomcat:10.1")
    assert reached.stdout == "hello from the jdk", reached.stdout + reached.stderr
    published = probe(node, "host", "curl -s http://127.0.0.1:18082/", image="cloudos/tomcat:10.1")
    assert published.stdout == "hello from the jdk", published.stdout + published.stderr
    remove(node, "runner")


def test_redis_upgrade_keeps_its_data_and_a_path_the_entry_does_not_declare_is_refused(node, scratch):
    # A catalog of the test's own: the published Redis 7.0 and a 7.0.1 that upgrades from it (another memory limit).
    catalog = scratch / "catalog"
    shutil.copytree(CATALOG / "redis", catalog / "redis")
    entry = yaml.safe_load((catalog / "redis" / "7.0.yml").read_text())
    entry["version"] = "7.0.1"
    entry["upgrades_from"] = ["7.0"]
    entry["params"]["memory"]["default"] = "300m"
    (catalog / "redis" / "7.0.1.yml").write_text(yaml.safe_dump(entry))
    params = {"port": 16379, "password": secret_file(scratch, "redis")}
    first = dict(app_args("kv", "redis", "7.0", params), catalog_path=str(catalog))
    rc, result, _ = ansible_app(first)
    assert rc == 0 and result["changed"], result
    container = container_of(result)
    cli = "docker exec %s sh -c 'REDISCLI_AUTH=\"$(cat /run/secrets/redis-password)\" redis-cli %%s'" % container
    assert node.check_output(cli % "set kept yes") == "OK"
    rc, upgraded, _ = ansible_app(dict(first, version="7.0.1"))
    assert rc == 0 and upgraded["changed"] and upgraded["version"] == "7.0.1", upgraded
    container = container_of(upgraded)
    assert node.check_output("docker inspect --format '{{.HostConfig.Memory}}' %s" % container) == str(300 * 1024 * 1024)
    cli = "docker exec %s sh -c 'REDISCLI_AUTH=\"$(cat /run/secrets/redis-password)\" redis-cli %%s'" % container
    wait_healthy(node, container)
    assert node.check_output(cli % "get kept") == "yes"
    # Back to 7.0: 7.0 declares no path from 7.0.1; refused, and the app stays as it is.
    rc, refused, _ = ansible_app(first)
    assert rc != 0 and "cannot replace version '7.0.1' in place" in refused["msg"], refused
    assert node.check_output("docker inspect --format '{{.State.Running}}' %s" % container) == "true"
    remove(node, "kv")


def test_tampered_image_and_bad_parameters_are_refused_before_anything_changes(node, scratch):
    catalog = scratch / "tampered"
    shutil.copytree(CATALOG / "redis", catalog / "redis")
    shutil.copytree(CATALOG / "nginx", catalog / "nginx")
    # The Redis entry pinned to another image's digest: the registry serves another one for the tag.
    entry = yaml.safe_load((catalog / "redis" / "7.0.yml").read_text())
    nginx = yaml.safe_load((catalog / "nginx" / "1.22.yml").read_text())
    entry["image"]["digest"] = nginx["image"]["digest"]
    (catalog / "redis" / "7.0.yml").write_text(yaml.safe_dump(entry))
    password = secret_file(scratch, "tampered-password")
    cases = [
        (dict(app_args("bad", "redis", "7.0", {"password": password}), catalog_path=str(catalog)),
         "the image was replaced"),
        (app_args("bad", "redis", "7.0", {"password": password, "port": "six"}), "port"),
        (app_args("bad", "redis", "7.0", {"password": password, "colour": "red"}), "colour"),
        (app_args("bad", "redis", "7.0", {}), "password"),
    ]
    for args, named in cases:
        rc, result, _ = ansible_app(args)
        assert rc != 0 and named in result["msg"] and "\n" not in result["msg"], (named, result.get("msg"))
        assert not node.run("docker ps -aq --filter label=io.hna.cloudos.app=bad").stdout.strip()
        assert not node.run("docker volume ls -q --filter label=io.hna.cloudos.app=bad").stdout.strip()
