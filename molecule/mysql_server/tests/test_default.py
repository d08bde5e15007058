"""Checks of the mysql_server scenario: a MariaDB server on a data volume, published on the node's
interconnect address, with GTID and binary log settings, its accounts, and no password in sight."""
import hashlib
import json
import os
import subprocess

import pytest

NAME = "hnatest-mysql"
ADDRESS = "10.231.0.32"
PORT = 3307
CONFIG_DIR = "/etc/hna-cloudos/mysql/" + NAME
PASSWORD_FILE = CONFIG_DIR + "/secrets/root-password"

# Runs one statement on the node with PyMySQL; the password is read from a file there, so it is on
# no command line. Prints the rows as JSON, or the error number and text.
SQL_SCRIPT = """python3 - <<'EOF'
import json, pymysql
password = open(%(password_file)r).read()
try:
    conn = pymysql.connect(host=%(host)r, port=%(port)d, user=%(user)r, password=password, connect_timeout=5)
    with conn.cursor() as cur:
        cur.execute(%(sql)r)
        print(json.dumps({"rows": [list(r) for r in cur.fetchall()]}, default=str))
except pymysql.MySQLError as exc:
    print(json.dumps({"error": exc.args[0], "message": str(exc.args[-1])}))
EOF"""


def sql(host, statement, user="root", password_file=PASSWORD_FILE):
    out = host.check_output(SQL_SCRIPT % {
        "password_file": password_file, "host": ADDRESS, "port": PORT, "user": user, "sql": statement})
    return json.loads(out)


def rows(host, statement, **kwargs):
    result = sql(host, statement, **kwargs)
    assert "rows" in result, result
    return result["rows"]


@pytest.fixture(scope="module")
def hostvars(host):
    return host.ansible.get_variables()


@pytest.fixture()
def app_password_file(host, hostvars):
    """The application user's password in a 0600 file on the node (copied by Ansible: on no command line)."""
    path = "/root/.hnatest-mysql-app-password"
    password = hostvars["mysql_server_users"][0]["password"]
    host.ansible("ansible.builtin.copy", "content=%s dest=%s mode=0600" % (password, path), check=False)
    yield path
    host.run("rm -f %s" % path)


def test_container_is_healthy_and_published_on_the_address(host):
    out = host.check_output(
        "docker inspect -f '{{.State.Status}} {{.State.Health.Status}} {{.HostConfig.RestartPolicy.Name}}' %s" % NAME)
    assert out == "running healthy unless-stopped"
    ports = json.loads(host.check_output("docker inspect -f '{{json .HostConfig.PortBindings}}' %s" % NAME))
    assert ports == {"3306/tcp": [{"HostIp": ADDRESS, "HostPort": str(PORT)}]}


def test_mounts(host):
    mounts = {m["Destination"]: m for m in json.loads(
        host.check_output("docker inspect -f '{{json .Mounts}}' %s" % NAME))}
    assert mounts["/var/lib/mysql"]["Type"] == "volume"
    assert mounts["/var/lib/mysql"]["Name"] == NAME + "-data"
    assert mounts["/var/lib/mysql"]["RW"] is True
    for target, source in (("/etc/mysql/conf.d", CONFIG_DIR + "/conf.d"),
                           ("/etc/mysql/mariadb.conf.d", CONFIG_DIR + "/empty.d"),
                           ("/run/secrets/hna-cloudos-mysql", CONFIG_DIR + "/secrets")):
        assert mounts[target]["Type"] == "bind" and mounts[target]["Source"] == source, target
        assert mounts[target]["RW"] is False, target


def test_files(host):
    secret = host.file(PASSWORD_FILE)
    assert secret.is_file and secret.user == "root" and secret.mode == 0o600
    assert host.file(CONFIG_DIR + "/secrets").mode == 0o700
    static = host.file(CONFIG_DIR + "/conf.d/50-hna-cloudos-static.cnf").content_string
    assert "binlog_format = ROW" in static and "read_only" not in static
    dynamic = host.file(CONFIG_DIR + "/conf.d/60-hna-cloudos-dynamic.cnf").content_string
    assert "read_only = OFF" in dynamic
    assert host.file(CONFIG_DIR + "/empty.d").listdir() == []
    label = host.check_output(
        "docker inspect -f '{{index .Config.Labels \"org.hna-cloudos.mysql.config-hash\"}}' %s" % NAME)
    assert label == hashlib.sha256(static.encode()).hexdigest()


def test_root_answers_on_the_address_with_the_password_file(host):
    assert rows(host, "SELECT 1") == [[1]]
    wrong = host.check_output("umask 077 && printf wrong > /root/.hnatest-wrong && echo ok")
    assert wrong == "ok"
    try:
        result = sql(host, "SELECT 1", password_file="/root/.hnatest-wrong")
    finally:
        host.run("rm -f /root/.hnatest-wrong")
    assert result.get("error") == 1045, result


def test_replication_settings(host):
    expected_id = int(hashlib.sha1(b"mol-node2").hexdigest()[:8], 16) % 4294967294 + 1
    (values,) = rows(host, "SELECT @@server_id, @@log_bin, @@binlog_format, @@gtid_strict_mode, @@log_slave_updates,"
                           " @@gtid_domain_id, @@report_host, @@report_port, @@relay_log, @@read_only,"
                           " @@binlog_expire_logs_seconds, @@max_connections, @@innodb_buffer_pool_size,"
                           " @@character_set_server, @@log_bin_basename")
    assert values[:13] == [expected_id, 1, "ROW", 1, 1, 0, ADDRESS, PORT, "relay-bin", 0, 7 * 86400, 151,
                           128 * 1024 * 1024]
    assert values[13] == "utf8mb4"
    assert values[14].endswith("/mysql-bin")


def test_database_and_users(host):
    assert rows(host, "SELECT SCHEMA_NAME, DEFAULT_CHARACTER_SET_NAME FROM information_schema.SCHEMATA"
                      " WHERE SCHEMA_NAME = 'hnatest_app'") == [["hnatest_app", "utf8mb4"]]
    grants = [r[0] for r in rows(host, "SHOW GRANTS FOR 'hnatest_app'@'%'")]
    assert any(g.startswith("GRANT SELECT, INSERT, UPDATE, DELETE ON `hnatest_app`.* TO `hnatest_app`@`%`")
               for g in grants), grants
    assert any(g.startswith("GRANT USAGE ON *.*") for g in grants), grants
    assert len(grants) == 2, grants
    grants = [r[0] for r in rows(host, "SHOW GRANTS FOR 'hnatest_repl'@'10.231.0.%'")]
    assert len(grants) == 1 and grants[0].startswith("GRANT REPLICATION SLAVE ON *.* TO `hnatest_repl`@`10.231.0.%`"), grants
    # No anonymous accounts.
    assert rows(host, "SELECT COUNT(*) FROM mysql.user WHERE User = ''") == [[0]]


def test_application_user_has_least_privilege(host, app_password_file):
    assert rows(host, "SELECT COUNT(*) FROM hnatest_app.marker", user="hnatest_app",
                password_file=app_password_file) == [[1]]
    denied = sql(host, "SELECT COUNT(*) FROM mysql.user", user="hnatest_app", password_file=app_password_file)
    assert denied.get("error") == 1142, denied
    denied = sql(host, "CREATE TABLE hnatest_app.t (id INT)", user="hnatest_app", password_file=app_password_file)
    assert denied.get("error") == 1142, denied


def test_passwords_appear_nowhere(host, hostvars):
    passwords = [hostvars["mysql_server_root_password"], hostvars["mysql_server_replication_password"],
                 hostvars["mysql_server_users"][0]["password"]]
    inspect = host.check_output("docker inspect %s" % NAME)
    processes = host.check_output("ps -eo args ww")
    for password in passwords:
        assert password not in inspect
        assert password not in processes
    env = json.loads(host.check_output("docker inspect -f '{{json .Config.Env}}' %s" % NAME))
    assert "MARIADB_ROOT_PASSWORD_FILE=/run/secrets/hna-cloudos-mysql/root-password" in env
    assert not [e for e in env if e.startswith(("MARIADB_ROOT_PASSWORD=", "MYSQL_ROOT_PASSWORD="))]
    for path in ("50-hna-cloudos-static.cnf", "60-hna-cloudos-dynamic.cnf"):
        content = host.file("%s/conf.d/%s" % (CONFIG_DIR, path)).content_string
        assert not [p for p in passwords if p in content]


def rerun_converge(*flags):
    """Run the scenario's converge again from the controller with `flags`; return its combined output."""
    env = dict(os.environ)
    inventory = env.get("MOLECULE_INVENTORY_FILE")
    scenario = env.get("MOLECULE_SCENARIO_DIRECTORY")
    if not inventory or not scenario:
        pytest.skip("not run by molecule")
    result = subprocess.run(
        ["ansible-playbook", *flags, "-i", os.path.dirname(inventory), os.path.join(scenario, "converge.yml")],
        capture_output=True, text=True, env=env, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    return output


def test_verbose_rerun_changes_nothing_and_hides_the_passwords(hostvars):
    """Runs the converge again with -vvv on the controller: no change, and no password is printed."""
    output = rerun_converge("-vvv", "--diff")
    assert "Create the replication account" in output  # the secret-handling tasks ran
    for password in (hostvars["mysql_server_root_password"], hostvars["mysql_server_replication_password"],
                     hostvars["mysql_server_users"][0]["password"]):
        assert password not in output
    assert "changed=0" in output and "failed=0" in output


def test_check_mode_rerun_predicts_no_change():
    output = rerun_converge("--check", "--diff")
    assert "changed=0" in output and "failed=0" in output, output[-3000:]
