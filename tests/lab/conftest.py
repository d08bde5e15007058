"""Fixtures for tests that run against the lab's real nodes (bring it up with `make lab`)."""

import json
import os
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import testinfra

REPO = Path(__file__).resolve().parents[2]
INVENTORY = REPO / "inventories" / "lab"
KEY = REPO / ".lab" / "ssh" / "id_ed25519"
SSH_ARGS = "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"
# Version 2 of fleet is released with an environment of its own (the inventory gives every version TZ=UTC): a cold
# rollback to 2 must bring it back, not today's. A bundle never changes, so every test that stages 2 gives it.
FLEET_ENV_2 = '{"release_env": {"TZ": "Asia/Shanghai"}}'


def _inventory():
    out = subprocess.run(["ansible-inventory", "-i", str(INVENTORY), "--list"],
                         check=True, capture_output=True, text=True, cwd=REPO).stdout
    return json.loads(out)


INV = _inventory()
HOSTVARS = INV["_meta"]["hostvars"]


def group_hosts(name):
    """Every host of inventory group ``name``, its child groups included."""
    group = INV.get(name, {})
    hosts = set(group.get("hosts", []))
    for child in group.get("children", []):
        hosts |= group_hosts(child)
    return hosts


# The nodes of the lab's clouds (the spare nodes of group lab_spare, for the roles' molecule scenarios, are not
# among them).
NODES = sorted(group_hosts("docker_hosts"))


def pytest_collection_modifyitems(config, items):
    # A lab that is not up fails the run: the tests on the nodes are never skipped quietly.
    if not KEY.exists():
        raise pytest.UsageError(f"the lab is not up ({KEY.relative_to(REPO)} is missing): run `make lab` first")


@pytest.fixture(scope="session")
def hostvars():
    return HOSTVARS


@pytest.fixture(scope="session")
def group_vars():
    import yaml
    return yaml.safe_load((INVENTORY / "group_vars" / "docker_hosts.yml").read_text())


def node_host(name):
    return testinfra.get_host(
        f"ssh://root@{HOSTVARS[name]['ansible_host']}",
        ssh_identity_file=str(KEY), ssh_extra_args=SSH_ARGS)


@pytest.fixture(scope="session", params=NODES)
def node(request):
    """(inventory name, testinfra host) for every lab node."""
    return request.param, node_host(request.param)


def run_playbook(*args, check=False):
    """Run ansible-playbook from the repository root; return the CompletedProcess."""
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
               ANSIBLE_ROLES_PATH=str(REPO / "roles"), ANSIBLE_NOCOLOR="1")
    return subprocess.run(["ansible-playbook", "-i", str(INVENTORY), *args],
                          capture_output=True, text=True, cwd=REPO, env=env, check=check)


def run_module_output(host, module, args="", *flags):
    """Run one module ad hoc on a host, with more ansible options in ``flags`` (``--check``, ``--diff``);
    return (rc, result dict, everything it printed on stdout and stderr)."""
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_CALLBACK_RESULT_FORMAT="json", ANSIBLE_LOAD_CALLBACK_PLUGINS="0")
    cmd = ["ansible", "-i", str(INVENTORY), host, "-m", module] + (["-a", args] if args else []) + list(flags)
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=env)
    out = res.stdout
    start = out.find("=> {") + 3 if "=> {" in out else -1
    assert start >= 0, f"no result from {module} on {host}:\n{out}\n{res.stderr}"
    return res.returncode, json.loads(out[start:]), out + res.stderr


def run_module(host, module, args=""):
    """Run one module ad hoc on a host; return (rc, result dict)."""
    rc, result, _ = run_module_output(host, module, args)
    return rc, result


def wait_for(predicate, timeout=60, what="condition", interval=0.5):
    """The first true value of ``predicate()``, asked every ``interval`` seconds; AssertionError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def prometheus(path, **params):
    """The ``data`` of a Prometheus API answer of the lab's monitoring server (``path`` with its query, or ``params``)."""
    server = sorted(group_hosts("monitoring_servers"))[0]
    url = f"http://{HOSTVARS[server]['lab_interconnect_address']}:9090{path}"
    if params:
        url += "?" + urllib.parse.urlencode(params)
    with urllib.request.urlopen(url, timeout=10) as response:
        body = json.load(response)
    assert body["status"] == "success", body
    return body["data"]


# The proxies between the load client and the app: (inventory host, container).
PROXIES = [(h, "glb") for h in sorted(group_hosts("glb"))] + [(h, "lb") for h in sorted(group_hosts("lb"))]


def _troubled(line):
    """True for a line of nginx's log that tells about a failed attempt: a warning or error of nginx itself, or an
    access log entry whose answer is 499 (the client gave up) or 5xx, or whose request an upstream failed first."""
    try:
        entry = json.loads(line[line.index("{"):])
    except ValueError:
        return "[warn]" in line or "[error]" in line or "[crit]" in line or "[alert]" in line
    upstream = str(entry.get("upstream_status", ""))
    return not 200 <= int(entry.get("status", 0)) < 499 or "," in upstream or upstream.startswith("5")


def explain(load, limit=40):
    """The failed requests of ``load`` with what the GLB and the load balancers logged about failed attempts while
    it ran, for the message of a failed assertion: the request ids in the load's records are the ones in the logs."""
    failed = load.failures()
    lines = ["%d failed request(s), first ones: %s" % (len(failed), failed[:5])]
    for host, container in PROXIES:
        cmd = "docker logs --timestamps --since %d %s 2>&1" % (int(load.since or 0) - 1, container)
        try:
            out = node_host(host).check_output(cmd)
        except Exception as exc:  # pylint: disable=broad-except
            lines.append("%s %s: cannot read its log: %s" % (host, container, exc))
            continue
        troubled = [line for line in out.splitlines() if _troubled(line)]
        lines.append("%s %s: %d line(s) about failed attempts%s" % (host, container, len(troubled), ":" if troubled else ""))
        lines.extend("  " + line for line in troubled[:limit])
    return "\n".join(lines)
