"""MariaDB replication across the two clouds as `make lab` sets it up (playbooks/db_replication.yml):
the primary on bj2-node1 (hna-bj2), its replica on hz-node1 (aliyun-hz), reached by IP over the
interconnect. Rows replicate, faults are reported with the server's error number, a replica whose
GTIDs were purged is refused and then reseeded under a write load with identical data, bad input
changes nothing, no password ever shows, and a switchover under a write load and a failover lose no
committed row. The lab ends as it started (bj2-node1 primary).

The write loads are bounded (at most 50 statements a second, one client) and aimed only at the
lab's database addresses."""

import json
import re
import threading
import time

import pymysql
import pytest

from conftest import HOSTVARS, REPO, node_host, run_module, run_module_output, run_playbook, wait_for

PRIMARY, REPLICA = "bj2-node1", "hz-node1"
ADDRESS = {h: HOSTVARS[h]["lab_interconnect_address"] for h in (PRIMARY, REPLICA)}
SECRETS = REPO / ".lab" / "secrets"
ROOT_PASSWORD = (SECRETS / "mysql-root-password").read_text().strip() if (SECRETS / "mysql-root-password").exists() else None
REPL_PASSWORD = (SECRETS / "mysql-repl-password").read_text().strip() if (SECRETS / "mysql-repl-password").exists() else None
WRITER, WRITER_PASSWORD = "hnatest_writer", "Wr1ter-only-for-the-lab-tests"
ER_READ_ONLY = 1290
SEED_ROWS = 100_000


def connect(host, user="root", password=None, database=None, autocommit=True):
    return pymysql.connect(host=ADDRESS[host], port=3306, user=user,
                           password=ROOT_PASSWORD if password is None else password,
                           database=database, autocommit=autocommit, connect_timeout=10)


def query(host, sql, args=None):
    with connect(host) as conn, conn.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchall()


def info(host):
    rc, result = run_module(host, "hna.cloudos.mysql_replication_info",
                            f"login_host={ADDRESS[host]} login_password={ROOT_PASSWORD}")
    assert rc == 0, result
    return result


def replication_args(host, source, **extra):
    args = dict(login_host=ADDRESS[host], login_password=ROOT_PASSWORD, state="running",
                primary_host=ADDRESS[source], primary_user="repl", primary_password=REPL_PASSWORD,
                primary_admin_user="root", primary_admin_password=ROOT_PASSWORD,
                seed_container="mysql", max_lag=5, wait_timeout=300)
    args.update(extra)
    return " ".join(f"{k}={v}" for k, v in args.items())


def caught_up(replica, primary):
    """True when the replica has applied every transaction of the primary's binary log."""
    pos = query(primary, "SELECT @@gtid_binlog_pos")[0][0]
    return query(replica, "SELECT MASTER_GTID_WAIT(%s, 60)", (pos,))[0][0] == 0


def checksums(host, database):
    tables = [r[0] for r in query(host, "SELECT table_name FROM information_schema.tables "
                                        "WHERE table_schema = %s ORDER BY table_name", (database,))]
    assert tables, f"no tables in {database} on {host}"
    out = {}
    for table in tables:
        out[table] = query(host, f"CHECKSUM TABLE `{database}`.`{table}`")[0][1]
    return out


def roles_settle(primary, replica):
    """Wait until `primary` is a primary and `replica` a replica only. Right after a switch the new
    replica may still list the old one's dump thread among its replicas (role "both") for a moment."""
    wait_for(lambda: info(primary)["role"] == "primary" and info(replica)["role"] == "replica",
             30, f"{primary} to be the primary and {replica} its replica")


def recap(stdout):
    return [line for line in stdout.splitlines() if " ok=" in line and " changed=" in line]


class Writer(threading.Thread):
    """One bounded client inserting numbered rows into hnatest_load.rows, at most `rate` a second.

    It writes to `target` and, when that server answers read-only (a switchover froze it), to the
    other server. It counts what was committed (the commit returned) and every failure by error."""

    def __init__(self, target, user="root", password=None, rate=50):
        super().__init__(daemon=True)
        self.target, self.user, self.password, self.rate = target, user, password, rate
        self.committed, self.failures, self.stop = 0, {}, threading.Event()

    def run(self):
        conn, seq = None, 0
        while not self.stop.is_set():
            time.sleep(1 / self.rate)
            try:
                if conn is None:
                    conn = connect(self.target, self.user, self.password, "hnatest_load", autocommit=False)
                with conn.cursor() as cur:
                    cur.execute("INSERT INTO `rows` (seq, written_to) VALUES (%s, %s)", (seq, self.target))
                conn.commit()
                self.committed += 1
                seq += 1
            except pymysql.MySQLError as exc:
                code = exc.args[0] if exc.args else 0
                self.failures[code] = self.failures.get(code, 0) + 1
                if conn is not None:
                    try:
                        conn.close()
                    except pymysql.MySQLError:
                        pass
                conn = None
                if code == ER_READ_ONLY:
                    self.target = REPLICA if self.target == PRIMARY else PRIMARY

    def finish(self):
        self.stop.set()
        self.join(30)


class ProcessWatch(threading.Thread):
    """Samples the process lists of both database nodes (which include their containers' processes)."""

    def __init__(self):
        super().__init__(daemon=True)
        self.hosts = [node_host(PRIMARY), node_host(REPLICA)]
        self.samples, self.stop = [], threading.Event()

    def run(self):
        while not self.stop.is_set():
            for host in self.hosts:
                self.samples.append(host.check_output("ps -eo args"))
            time.sleep(0.2)

    def finish(self):
        self.stop.set()
        self.join(30)


@pytest.fixture(scope="module", autouse=True)
def lab_topology():
    assert ROOT_PASSWORD and REPL_PASSWORD, "the lab's database secrets are missing: run make lab"
    query(PRIMARY, "CREATE DATABASE IF NOT EXISTS hnatest_load")
    query(PRIMARY, "CREATE TABLE IF NOT EXISTS hnatest_load.`rows` (id BIGINT AUTO_INCREMENT PRIMARY KEY, "
                   "seq BIGINT NOT NULL, written_to VARCHAR(32) NOT NULL, at TIMESTAMP(6) DEFAULT CURRENT_TIMESTAMP(6))")
    yield
    # The lab ends as the inventory describes it: bj2-node1 primary, hz-node1 its replica.
    roles_settle(PRIMARY, REPLICA)


def test_the_replica_in_the_other_cloud_runs_and_keeps_up():
    replica, primary = info(REPLICA), info(PRIMARY)
    assert primary["role"] == "primary" and primary["read_only"] is False
    assert replica["role"] == "replica" and replica["read_only"] is True
    assert (replica["source"]["host"], replica["source"]["port"]) == (ADDRESS[PRIMARY], 3306)
    assert replica["io_running"] == "Yes" and replica["sql_running"] == "Yes"
    # The primary's heartbeat event refreshes its row every second: the lag is read on the replica alone.
    lags = []
    for _ in range(3):
        lags.append(info(REPLICA)["lag"])
        time.sleep(2)
    assert all(lag is not None and lag <= 5 for lag in lags), lags
    assert HOSTVARS[PRIMARY]["cloud_name"] != HOSTVARS[REPLICA]["cloud_name"]


def test_rows_written_on_the_primary_appear_on_the_replica():
    query(PRIMARY, "CREATE TABLE IF NOT EXISTS hnatest_load.marks (id INT PRIMARY KEY, note VARCHAR(64))")
    mark = int(time.time() * 1000) % 1_000_000_000
    query(PRIMARY, "INSERT INTO hnatest_load.marks VALUES (%s, 'from bj2')", (mark,))
    wait_for(lambda: query(REPLICA, "SELECT note FROM hnatest_load.marks WHERE id = %s", (mark,)),
             30, "the row on the replica")


def test_a_stopped_sql_thread_is_reported():
    query(REPLICA, "STOP SLAVE SQL_THREAD")
    try:
        status = info(REPLICA)
        assert status["io_running"] == "Yes" and status["sql_running"] == "No"
    finally:
        query(REPLICA, "START SLAVE SQL_THREAD")
    wait_for(lambda: info(REPLICA)["sql_running"] == "Yes", 30, "the SQL thread")


def test_a_conflicting_row_is_reported_with_the_server_error():
    query(PRIMARY, "CREATE TABLE IF NOT EXISTS hnatest_load.conflict (id INT PRIMARY KEY)")
    wait_for(lambda: caught_up(REPLICA, PRIMARY), 60, "the replica to catch up")
    conflict_id = int(time.time()) % 1_000_000
    with connect(REPLICA) as conn, conn.cursor() as cur:
        cur.execute("SET SESSION sql_log_bin = 0")
        cur.execute("INSERT INTO hnatest_load.conflict VALUES (%s)", (conflict_id,))
    query(PRIMARY, "INSERT INTO hnatest_load.conflict VALUES (%s)", (conflict_id,))
    status = wait_for(lambda: (lambda s: s if s["sql_running"] == "No" else None)(info(REPLICA)),
                      60, "the SQL thread to stop on the conflict")
    assert status["last_sql_errno"] == 1062, status
    assert "Duplicate entry" in status["last_sql_error"], status
    # Repair as an operator would: drop the conflicting row on the replica only, restart the thread.
    with connect(REPLICA) as conn, conn.cursor() as cur:
        cur.execute("SET SESSION sql_log_bin = 0")
        cur.execute("DELETE FROM hnatest_load.conflict WHERE id = %s", (conflict_id,))
        cur.execute("START SLAVE")
    wait_for(lambda: caught_up(REPLICA, PRIMARY), 60, "the replica to catch up after the repair")
    assert info(REPLICA)["sql_running"] == "Yes"


def _replica_settings():
    status = info(REPLICA)
    return dict(status["source"], io_running=status["io_running"], sql_running=status["sql_running"])


@pytest.mark.parametrize("case, override, expected", [
    ("wrong password", {"primary_password": "not-the-password"}, r"repl.*(denied|password)"),
    ("unreachable primary", {"primary_host": "10.231.0.99", "connect_timeout": 5}, r"10\.231\.0\.99:3306"),
    ("account without the replication privilege", {"primary_user": "hnatest_norepl", "primary_password": "N0repl-lab-test"},
     r"hnatest_norepl.*REPLICATION SLAVE"),
])
def test_bad_input_fails_in_one_line_and_changes_nothing(case, override, expected):
    query(PRIMARY, "CREATE USER IF NOT EXISTS 'hnatest_norepl'@'%' IDENTIFIED BY 'N0repl-lab-test'")
    before = _replica_settings()
    rc, result = run_module(REPLICA, "hna.cloudos.mysql_replication", replication_args(REPLICA, PRIMARY, **override))
    assert rc != 0, f"{case}: {result}"
    msg = result["msg"]
    assert "\n" not in msg.strip(), f"{case}: not one line: {msg}"
    assert re.search(expected, msg, re.I), f"{case}: {msg}"
    assert ROOT_PASSWORD not in str(result) and REPL_PASSWORD not in str(result)
    assert _replica_settings() == before, f"{case}: the replica changed"


def test_no_password_in_verbose_output():
    res = run_playbook("playbooks/db_replication.yml", "-vvv", "--check", "--diff")
    assert res.returncode == 0, res.stdout[-3000:]
    out = res.stdout + res.stderr
    assert ROOT_PASSWORD not in out and REPL_PASSWORD not in out


def test_purged_gtids_are_refused_then_a_reseed_under_load_copies_identical_data():
    # 100 000 rows on the primary, then the replica falls behind and the primary purges the binary
    # logs holding the transactions it misses.
    query(PRIMARY, "DROP DATABASE IF EXISTS hnatest_seed")
    query(PRIMARY, "CREATE DATABASE hnatest_seed")
    query(PRIMARY, "CREATE TABLE hnatest_seed.big (id INT PRIMARY KEY, payload VARCHAR(100), n DOUBLE)")
    query(PRIMARY, f"INSERT INTO hnatest_seed.big SELECT seq, MD5(seq), seq / 7 FROM hnatest_seed.seq_1_to_{SEED_ROWS}")
    wait_for(lambda: caught_up(REPLICA, PRIMARY), 120, "the replica to catch up")
    query(REPLICA, "STOP SLAVE")
    query(PRIMARY, "CREATE TABLE hnatest_seed.missed (id INT PRIMARY KEY)")
    query(PRIMARY, "INSERT INTO hnatest_seed.missed SELECT seq FROM hnatest_seed.seq_1_to_100")
    query(PRIMARY, "FLUSH BINARY LOGS")
    current = query(PRIMARY, "SHOW MASTER STATUS")[0][0]
    # The primary keeps a binary log a dump thread still reads: wait for the stopped replica's to end.
    wait_for(lambda: not query(PRIMARY, "SELECT id FROM information_schema.processlist WHERE command LIKE 'Binlog Dump%%'"),
             60, "the replica's dump thread on the primary to end")
    # The server also keeps a log until its transactions are checkpointed in InnoDB: purge until it goes.
    def purged():
        query(PRIMARY, "PURGE BINARY LOGS TO %s", (current,))
        return [row[0] for row in query(PRIMARY, "SHOW BINARY LOGS")] == [current]
    wait_for(purged, 60, "the primary to purge its older binary logs")

    before = _replica_settings()
    rc, result = run_module(REPLICA, "hna.cloudos.mysql_replication", replication_args(REPLICA, PRIMARY))
    assert rc != 0, result
    assert re.search(r"purged", result["msg"], re.I) and "reseed" in result["msg"], result["msg"]
    assert "\n" not in result["msg"].strip()
    assert _replica_settings() == before, "the refused run changed the replica"

    # Reseed while a bounded client writes to the primary; watch both nodes' process lists meanwhile.
    writer, watch = Writer(PRIMARY), ProcessWatch()
    writer.start()
    watch.start()
    try:
        res = run_playbook("playbooks/db_replication.yml", "-e", "db_reseed=true")
    finally:
        watch.finish()
        writer.finish()
    assert res.returncode == 0, res.stdout[-4000:]
    assert writer.failures == {}, f"the primary refused writes during the seed: {writer.failures}"
    assert writer.committed > 0
    assert len(watch.samples) > 10
    leaked = [s for s in watch.samples if ROOT_PASSWORD in s or REPL_PASSWORD in s]
    assert not leaked, "a password appeared in a process list during the seed"

    wait_for(lambda: caught_up(REPLICA, PRIMARY), 120, "the reseeded replica to catch up")
    assert checksums(REPLICA, "hnatest_seed") == checksums(PRIMARY, "hnatest_seed")
    assert checksums(REPLICA, "hnatest_load") == checksums(PRIMARY, "hnatest_load")
    assert query(REPLICA, "SELECT COUNT(*) FROM hnatest_seed.big")[0][0] == SEED_ROWS
    status = info(REPLICA)
    assert status["io_running"] == "Yes" and status["sql_running"] == "Yes"


def test_a_rerun_changes_nothing_and_check_mode_plans_the_queries():
    res = run_playbook("playbooks/db_replication.yml")
    assert res.returncode == 0, res.stdout[-3000:]
    assert all(" changed=0 " in line for line in recap(res.stdout)), "\n".join(recap(res.stdout))

    query(REPLICA, "STOP SLAVE")
    try:
        res = run_playbook("playbooks/db_replication.yml", "--check", "--diff", "-v")
        assert res.returncode == 0, res.stdout[-3000:]
        assert re.search(r"START (SLAVE|REPLICA)", res.stdout), res.stdout[-3000:]
        assert info(REPLICA)["io_running"] == "No", "check mode started the replica"
    finally:
        res = run_playbook("playbooks/db_replication.yml")
    assert res.returncode == 0, res.stdout[-3000:]
    status = info(REPLICA)
    assert status["io_running"] == "Yes" and status["sql_running"] == "Yes"


def test_global_variables_are_predicted_set_once_and_an_unknown_name_changes_nothing():
    """hna.cloudos.mysql_variables on the primary: check mode, apply, rerun, rerun in check mode, then the server."""
    def variables_args(variables):
        return json.dumps(dict(login_host=ADDRESS[PRIMARY], login_password=ROOT_PASSWORD, variables=variables))

    def values():
        return query(PRIMARY, "SELECT @@max_connections, @@max_allowed_packet")[0]

    before = values()
    wanted = {"max_connections": before[0] + 7, "max-allowed-packet": "%dM" % (before[1] // 1024 ** 2 * 2)}
    try:
        results = []
        for flags in (["--check", "--diff"], ["--diff"], [], ["--check"]):
            rc, result, out = run_module_output(PRIMARY, "hna.cloudos.mysql_variables", variables_args(wanted), *flags)
            assert rc == 0, out[-2000:]
            assert ROOT_PASSWORD not in out
            results.append(result)
            if flags[:1] == ["--check"] and len(results) == 1:
                assert values() == before, "check mode changed the server"
        check, apply, rerun, rerun_check = results
        assert check["changed"] and check["changed_variables"] == ["max_connections", "max_allowed_packet"]
        assert check["queries"] == apply["queries"] == [
            "SET GLOBAL max_connections = %d" % wanted["max_connections"],
            "SET GLOBAL max_allowed_packet = %d" % (before[1] * 2)]
        assert apply["changed"] and apply["variables"]["max_connections"] == {
            "before": str(before[0]), "after": str(wanted["max_connections"])}
        assert not rerun["changed"] and rerun["queries"] == [] and not rerun_check["changed"]
        assert values() == (wanted["max_connections"], before[1] * 2)

        rc, result, out = run_module_output(PRIMARY, "hna.cloudos.mysql_variables",
                                            variables_args({"max_connections": before[0], "hnatest_no_such_variable": 1}))
        assert rc != 0 and "hnatest_no_such_variable" in result["msg"] and "Nothing was changed" in result["msg"], out
        assert ROOT_PASSWORD not in out
        assert values() == (wanted["max_connections"], before[1] * 2), "a failed task changed the server"
    finally:
        rc, result, out = run_module_output(PRIMARY, "hna.cloudos.mysql_variables", variables_args(
            {"max_connections": before[0], "max_allowed_packet": before[1]}))
        assert rc == 0, out[-2000:]
    assert values() == before


def test_switchover_under_write_load_loses_no_committed_row():
    query(PRIMARY, "CREATE USER IF NOT EXISTS %s@'%%' IDENTIFIED BY %s", (WRITER, WRITER_PASSWORD))
    query(PRIMARY, f"GRANT SELECT, INSERT ON hnatest_load.* TO {WRITER}@'%'")
    query(PRIMARY, "TRUNCATE TABLE hnatest_load.`rows`")
    wait_for(lambda: caught_up(REPLICA, PRIMARY), 60, "the replica to catch up")

    writer = Writer(PRIMARY, WRITER, WRITER_PASSWORD)
    writer.start()
    time.sleep(2)
    try:
        res = run_playbook("playbooks/db_switchover.yml", "-e", f"new_primary={REPLICA}")
        time.sleep(2)
    finally:
        writer.finish()
    assert res.returncode == 0, res.stdout[-4000:]
    roles_settle(REPLICA, PRIMARY)
    old = info(PRIMARY)
    assert old["source"]["host"] == ADDRESS[REPLICA] and old["read_only"] is True

    committed_on_new = query(REPLICA, "SELECT COUNT(*) FROM hnatest_load.`rows`")[0][0]
    assert committed_on_new == writer.committed, (committed_on_new, writer.committed, writer.failures)
    assert set(writer.failures) <= {ER_READ_ONLY}, f"failures other than read-only: {writer.failures}"
    assert writer.target == REPLICA, "the client never reached the new primary"
    wait_for(lambda: caught_up(PRIMARY, REPLICA), 60, "the old primary to replicate from the new one")
    assert query(PRIMARY, "SELECT COUNT(*) FROM hnatest_load.`rows`")[0][0] == writer.committed

    # And back, so that the lab is again as the inventory says.
    res = run_playbook("playbooks/db_switchover.yml", "-e", f"new_primary={PRIMARY}")
    assert res.returncode == 0, res.stdout[-4000:]
    roles_settle(PRIMARY, REPLICA)


def test_failover_promotes_the_replica_and_fences_the_old_primary():
    query(PRIMARY, "INSERT INTO hnatest_load.`rows` (seq, written_to) VALUES (-1, 'before the failure')")
    wait_for(lambda: caught_up(REPLICA, PRIMARY), 60, "the replica to catch up")
    expected = query(PRIMARY, "SELECT COUNT(*) FROM hnatest_load.`rows`")[0][0]
    primary_node = node_host(PRIMARY)
    primary_node.check_output("docker kill mysql")  # the primary is gone
    try:
        res = run_playbook("playbooks/db_failover.yml", "-e", f"failed_primary={PRIMARY}")
        assert res.returncode == 0, res.stdout[-4000:]
        promoted = info(REPLICA)
        assert promoted["role"] == "primary" and promoted["read_only"] is False
        assert query(REPLICA, "SELECT COUNT(*) FROM hnatest_load.`rows`")[0][0] == expected
        query(REPLICA, "INSERT INTO hnatest_load.`rows` (seq, written_to) VALUES (-2, 'after the failover')")
        state = primary_node.check_output("docker inspect --format '{{.State.Running}}' mysql")
        assert state == "false", "the failed primary was not fenced"
    finally:
        # Bring the old primary back as a replica of the new one, then switch back.
        res = run_playbook("playbooks/db_replication.yml", "-e", f"db_primary={REPLICA}")
        assert res.returncode == 0, res.stdout[-4000:]
        res = run_playbook("playbooks/db_switchover.yml", "-e", f"new_primary={PRIMARY}")
        assert res.returncode == 0, res.stdout[-4000:]
    assert query(PRIMARY, "SELECT COUNT(*) FROM hnatest_load.`rows`")[0][0] == expected + 1
