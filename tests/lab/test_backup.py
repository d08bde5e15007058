"""Database backups on the lab (hna.cloudos.mysql_backup, mysql_backup_info, mysql_restore, playbooks/db_backup.yml,
db_restore.yml and role db_backup_schedule), every acceptance item of the backups issue against real servers:

- a backup of the lab's primary under a steady write load restores to exactly the state of the replica stopped at
  the backup's recorded GTID position (row counts and CHECKSUM TABLE);
- kill -9 half way, a wrong password, a table the user cannot read, a full disk (a 1 MiB tmpfs): one line, nothing
  left that passes as a backup, the lock free, the next run succeeds;
- a flipped byte: the restore refuses the backup; two runs at once: one fails naming the holder, or waits;
- retention with 12 backups, 3 of them unverified; a point-in-time restore between two known writes;
- no password in -vvv output, the manifest, the node's process list during a backup, the bundle or the cron file;
- the schedule really runs from cron on the node (without the control node) and writes its status.

The destructive cases run against a throw-away server (`hnatest-bk-db`, with a binary log) on bj2-node1; the
lab's primary only gets a scratch database, dropped at the end. The write load is bounded (at most 50 statements
a second, one client) and aimed only at the lab's database address. The lab ends as the inventory describes it."""

import json
import os
import re
import secrets
import shlex
import subprocess
import textwrap
import threading
import time

import pymysql
import pytest

from conftest import HOSTVARS, REPO, node_host, run_module, run_playbook, wait_for

NODE, REPLICA = "bj2-node1", "hz-node1"
ADDRESS = {h: HOSTVARS[h]["lab_interconnect_address"] for h in (NODE, REPLICA)}
SECRETS = REPO / ".lab" / "secrets"
ROOT_PASSWORD = (SECRETS / "mysql-root-password").read_text().strip() if (SECRETS / "mysql-root-password").exists() else None
IMAGE = f"{HOSTVARS[NODE].get('lab_registry_address', '10.231.0.11:5000')}/cloudos/mariadb:10.11"
WORK = "/root/hnatest-backup"                 # password files of the tests on the node
BACKUPS = "/var/backups/hnatest"              # the tests' backups on the node
SCRATCH, SCRATCH_PORT = "hnatest-bk-db", 3399  # the throw-away server
SCRATCH_PASSWORD = "Scr4tch-" + secrets.token_hex(8)
LAB_PW_FILE, SCRATCH_PW_FILE = f"{WORK}/lab-root", f"{WORK}/scratch-root"
BIG_ROWS = 500_000
STATUS_DIR = "/var/lib/hna-cloudos/backup-status"


# --- helpers -------------------------------------------------------------------------------------------------

def node():
    return node_host(NODE)


def sh(command, check=True):
    result = node().run(command)
    if check:
        assert result.rc == 0, f"{command}: {result.stderr or result.stdout}"
    return result


def connect(server, database=None, autocommit=True, password=None):
    host, port = (ADDRESS[NODE], SCRATCH_PORT) if server == "scratch" else (ADDRESS[server], 3306)
    pw = password or (SCRATCH_PASSWORD if server == "scratch" else ROOT_PASSWORD)
    return pymysql.connect(host=host, port=port, user="root", password=pw, database=database,
                           autocommit=autocommit, connect_timeout=10)


def query(server, sql, args=None):
    with connect(server) as conn, conn.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchall()


def module(name, host=NODE, **args):
    """Run a module ad hoc on the node with JSON arguments; return (rc, result)."""
    return run_module(host, name, json.dumps(args))


def module_check(name, host=NODE, **args):
    """The same in check mode."""
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_CALLBACK_RESULT_FORMAT="json", ANSIBLE_LOAD_CALLBACK_PLUGINS="0")
    res = subprocess.run(["ansible", "-i", str(REPO / "inventories" / "lab"), host, "--check", "-m", name, "-a", json.dumps(args)],
                         capture_output=True, text=True, cwd=REPO, env=env)
    start = res.stdout.find("=> {")
    assert start >= 0, res.stdout + res.stderr
    return res.returncode, json.loads(res.stdout[start + 3:])


def backup_args(server="scratch", **extra):
    """Arguments of hna.cloudos.mysql_backup for the scratch server or the lab's primary (password from a file)."""
    if server == "scratch":
        args = dict(container=SCRATCH, login_host=ADDRESS[NODE], login_port=SCRATCH_PORT,
                    login_password_file=SCRATCH_PW_FILE)
    else:
        args = dict(container="mysql", login_host=ADDRESS[NODE], login_port=3306, login_password_file=LAB_PW_FILE)
    args.update(backup_dir=BACKUPS, login_user="root", verify="true")
    args.update(extra)
    return args


def backup(server="scratch", **extra):
    return module("hna.cloudos.mysql_backup", **backup_args(server, **extra))


def info(instance, backup_dir=BACKUPS):
    rc, result = module("hna.cloudos.mysql_backup_info", backup_dir=backup_dir, instance=instance)
    assert rc == 0, result
    return result


def files(instance, backup_dir=BACKUPS):
    """Names in the instance directory on the node (the lock file left out)."""
    out = sh(f"ls -A {backup_dir}/{instance} 2>/dev/null || true").stdout.split()
    return sorted(name for name in out if name != ".lock")


def one_line(msg):
    return "\n" not in msg.strip()


def checksum(server, table):
    return query(server, f"CHECKSUM TABLE {table}")[0][1]


def caught_up():
    pos = query(NODE, "SELECT @@gtid_binlog_pos")[0][0]
    return query(REPLICA, "SELECT MASTER_GTID_WAIT(%s, 60)", (pos,))[0][0] == 0


class Writer(threading.Thread):
    """One bounded client inserting into hnatest_bk.t (and updating hnatest_bk.u) on the primary, at most `rate`
    statements a second; counts committed transactions and failures by error number."""

    def __init__(self, rate=50):
        super().__init__(daemon=True)
        self.rate, self.committed, self.failures, self.stop = rate, 0, {}, threading.Event()

    def run(self):
        conn, seq = None, 0
        while not self.stop.is_set():
            time.sleep(1 / self.rate)
            try:
                if conn is None:
                    conn = connect(NODE, "hnatest_bk", autocommit=False)
                with conn.cursor() as cur:
                    cur.execute("INSERT INTO t (seq, payload) VALUES (%s, MD5(%s))", (seq, seq))
                    cur.execute("UPDATE u SET n = n + 1 WHERE id = %s", (seq % 100 + 1,))
                conn.commit()
                self.committed += 1
                seq += 1
            except pymysql.MySQLError as exc:
                code = exc.args[0] if exc.args else 0
                self.failures[code] = self.failures.get(code, 0) + 1
                conn = None

    def finish(self):
        self.stop.set()
        self.join(30)


class ProcessWatch(threading.Thread):
    """Samples the node's process list (its containers' processes included) until stopped."""

    def __init__(self):
        super().__init__(daemon=True)
        self.host, self.samples, self.stop = node(), [], threading.Event()

    def run(self):
        while not self.stop.is_set():
            self.samples.append(self.host.check_output("ps -eo args"))
            time.sleep(0.2)

    def finish(self):
        self.stop.set()
        self.join(30)


class Background(threading.Thread):
    """A module run in a thread; .result is (rc, result) when it ends."""

    def __init__(self, name, **args):
        super().__init__(daemon=True)
        self.name_, self.args, self.result = name, args, None

    def run(self):
        self.result = module(self.name_, **self.args)


def lock_holder(instance):
    text = sh(f"cat {BACKUPS}/{instance}/.lock 2>/dev/null || true").stdout.strip()
    try:
        return json.loads(text.splitlines()[-1]) if text else None
    except ValueError:
        return None


def partial_exists(instance):
    return bool(sh(f"find {BACKUPS}/{instance} -maxdepth 1 -name '.*.partial' 2>/dev/null || true").stdout.strip())


# --- fixtures ------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module", autouse=True)
def lab():
    """The scratch server and the tests' password files on the node; everything removed at the end."""
    assert ROOT_PASSWORD, "the lab's database secrets are missing: run make lab"
    host = node()
    host.run(f"docker rm -f {SCRATCH}; docker volume rm -f {SCRATCH}-data; rm -rf {BACKUPS} {WORK}")
    host.run(f"umask 077; mkdir -p {WORK} && cat > {LAB_PW_FILE} <<'EOF'\n{ROOT_PASSWORD}\nEOF\n"
             f"cat > {SCRATCH_PW_FILE} <<'EOF'\n{SCRATCH_PASSWORD}\nEOF\n")
    run = host.run(
        f"docker run -d --name {SCRATCH} --memory 512m -p {ADDRESS[NODE]}:{SCRATCH_PORT}:3306 "
        f"-v {SCRATCH}-data:/var/lib/mysql -v {SCRATCH_PW_FILE}:/run/secrets/root:ro "
        f"-e MARIADB_ROOT_PASSWORD_FILE=/run/secrets/root {IMAGE} mariadbd --user=mysql --bind-address=0.0.0.0 "
        f"--skip-name-resolve --log-bin=mysql-bin --server-id=77 --binlog-format=ROW")
    assert run.rc == 0, run.stderr
    wait_for(lambda: host.run(f"docker inspect -f '{{{{.State.Health.Status}}}}' {SCRATCH}").stdout.strip() == "healthy",
             120, "the scratch server to be healthy", 1)
    # A database big enough for a backup to take a few seconds (kill -9, two runs at once, a full disk).
    query("scratch", "CREATE DATABASE hnatest_big")
    query("scratch", "CREATE TABLE hnatest_big.t (id INT PRIMARY KEY, a CHAR(32), b CHAR(32), c CHAR(32), n DOUBLE)")
    query("scratch", f"INSERT INTO hnatest_big.t SELECT seq, MD5(seq), MD5(seq + 1), MD5(seq + 2), seq / 7 "
                     f"FROM hnatest_big.seq_1_to_{BIG_ROWS}")
    query("scratch", "CREATE DATABASE hnatest_small")
    query("scratch", "CREATE TABLE hnatest_small.t (id INT PRIMARY KEY, v VARCHAR(32))")
    query("scratch", "INSERT INTO hnatest_small.t SELECT seq, MD5(seq) FROM hnatest_small.seq_1_to_1000")
    yield
    host.run(f"docker rm -f {SCRATCH}; docker volume rm -f {SCRATCH}-data")
    host.run(f"mountpoint -q {BACKUPS}-full && umount {BACKUPS}-full; rm -rf {BACKUPS} {BACKUPS}-full {WORK} "
             "/var/log/hna-cloudos/hnatest-sched.log")
    for name in ("hnatest_bk", "hnatest_bk_copy", "hnatest_vvv"):
        query(NODE, f"DROP DATABASE IF EXISTS {name}")
    # The replica runs again (a test stopped it at the backup's position).
    status = query(REPLICA, "SHOW SLAVE STATUS")
    if status:
        query(REPLICA, "START SLAVE")
    wait_for(caught_up, 120, "the replica to catch up again", 1)


# --- the lab's own backups -----------------------------------------------------------------------------------

def test_make_lab_took_a_verified_backup_of_testlog_and_installed_the_schedule():
    result = info("testlog", "/var/backups/hna-cloudos/mysql")
    latest = result["latest_verified"]
    assert latest and latest["status"] == "verified", result
    assert latest["verified"] in ("checksum", "restore")
    # The nightly schedule of the primary: a cron file without a secret, the bundle, the runner.
    cron = sh("cat /etc/cron.d/hna-cloudos-backup-mysql").stdout
    assert re.search(r"^30 2 \* \* \* root .*hna-cloudos-backup-run .*--instance mysql", cron, re.M), cron
    assert ROOT_PASSWORD not in cron
    bundle = sh("cat /usr/local/lib/hna-cloudos/backup/mysql.py").stdout
    assert ROOT_PASSWORD not in bundle and "login_password_file" in bundle
    assert sh("stat -c %a /etc/hna-cloudos/backup/mysql/login-password").stdout.strip() == "600"
    assert sh("pgrep -x cron", check=False).rc == 0, "cron does not run on the node"


# --- consistency under load ----------------------------------------------------------------------------------

def test_a_backup_under_writes_restores_to_the_state_at_its_position():
    query(NODE, "DROP DATABASE IF EXISTS hnatest_bk")
    query(NODE, "DROP DATABASE IF EXISTS hnatest_bk_copy")
    query(NODE, "CREATE DATABASE hnatest_bk")
    query(NODE, "CREATE TABLE hnatest_bk.t (id BIGINT AUTO_INCREMENT PRIMARY KEY, seq BIGINT, payload CHAR(32), "
                "at TIMESTAMP(6) DEFAULT CURRENT_TIMESTAMP(6))")
    query(NODE, "CREATE TABLE hnatest_bk.u (id INT PRIMARY KEY, n BIGINT NOT NULL)")
    query(NODE, "INSERT INTO hnatest_bk.t (seq, payload) SELECT -seq, MD5(seq) FROM hnatest_bk.seq_1_to_20000")
    query(NODE, "INSERT INTO hnatest_bk.u SELECT seq, 0 FROM hnatest_bk.seq_1_to_100")
    wait_for(caught_up, 60, "the replica to catch up")
    # The replica stops now and, after the backup, replays exactly up to the backup's position.
    query(REPLICA, "STOP SLAVE")
    writer, watch = Writer(), ProcessWatch()
    writer.start()
    watch.start()
    try:
        time.sleep(1)
        rc, result = backup("primary", instance="hnatest-load", databases=["hnatest_bk"], verify="true")
        time.sleep(1)
    finally:
        watch.finish()
        writer.finish()
    assert rc == 0, result
    assert writer.failures == {}, f"the primary refused writes during the backup: {writer.failures}"
    assert writer.committed > 50
    assert len(watch.samples) > 5
    assert not [s for s in watch.samples if ROOT_PASSWORD in s], "the password showed in the node's process list"

    manifest = result["backup"]["manifest"]
    assert manifest["status"] == "complete" and manifest["verified"] == "checksum"
    assert manifest["databases"] == ["hnatest_bk"]
    gtid = manifest["position"]["gtid"]
    counts = manifest["row_counts"]
    assert gtid and counts and counts["hnatest_bk.t"] >= 20000, manifest
    text = sh(f"cat {BACKUPS}/hnatest-load/{manifest['id']}.json").stdout
    assert ROOT_PASSWORD not in text and json.loads(text)["sha256"] == manifest["sha256"]

    # The replica replays up to the backup's GTID position and stops there: the source's state at the position.
    query(REPLICA, "START SLAVE UNTIL master_gtid_pos = %s", (gtid,))
    wait_for(lambda: query(REPLICA, "SELECT @@gtid_slave_pos")[0][0] == gtid
             and not [r for r in query(REPLICA, "SHOW PROCESSLIST") if r[4] == "Slave_SQL"], 60,
             "the replica to stop at the backup's position")
    at_position = {t: query(REPLICA, f"SELECT COUNT(*) FROM {t}")[0][0] for t in ("hnatest_bk.t", "hnatest_bk.u")}
    assert at_position == {k: v for k, v in counts.items() if k in at_position}, (at_position, counts)

    # Restore into a scratch database with the restore playbook, compare with the replica at the position.
    res = run_playbook("playbooks/db_restore.yml", "-e", f"db_restore_host={NODE}", "-e", f"db_restore_backup={manifest['id']}",
                       "-e", "db_restore_instance=hnatest-load", "-e", f"db_backup_dir={BACKUPS}",
                       "-e", "db_restore_target=database", "-e", "db_restore_database=hnatest_bk_copy")
    assert res.returncode == 0, res.stdout[-4000:]
    assert manifest["id"] in res.stdout
    for table in ("t", "u"):
        assert query(NODE, f"SELECT COUNT(*) FROM hnatest_bk_copy.{table}")[0][0] == counts[f"hnatest_bk.{table}"]
        assert checksum(NODE, f"hnatest_bk_copy.{table}") == checksum(REPLICA, f"hnatest_bk.{table}"), table
    query(REPLICA, "START SLAVE")
    wait_for(caught_up, 120, "the replica to catch up")

    # A restore into a database that is not empty is refused without force.
    res = run_playbook("playbooks/db_restore.yml", "-e", f"db_restore_host={NODE}", "-e", f"db_restore_backup={manifest['id']}",
                       "-e", "db_restore_instance=hnatest-load", "-e", f"db_backup_dir={BACKUPS}",
                       "-e", "db_restore_target=database", "-e", "db_restore_database=hnatest_bk_copy")
    assert res.returncode != 0 and re.search(r"not empty|force", res.stdout), res.stdout[-3000:]


def test_no_password_in_verbose_output_the_manifest_or_the_process_list():
    query(NODE, "CREATE DATABASE IF NOT EXISTS hnatest_vvv")
    query(NODE, "CREATE TABLE IF NOT EXISTS hnatest_vvv.t (id INT PRIMARY KEY)")
    watch = ProcessWatch()
    watch.start()
    try:
        res = run_playbook("playbooks/db_backup.yml", "-vvv", "-e", f"db_backup_target={NODE}", "-e", "db_backup_instance=hnatest-vvv",
                           "-e", f"db_backup_dir={BACKUPS}", "-e", '{"db_backup_databases": ["hnatest_vvv"]}')
    finally:
        watch.finish()
    assert res.returncode == 0, res.stdout[-4000:]
    assert ROOT_PASSWORD not in res.stdout + res.stderr
    assert not [s for s in watch.samples if ROOT_PASSWORD in s]
    assert re.search(r"hnatest-vvv-\d{8}T\d{6}Z-logical\s+verified", res.stdout), res.stdout[-3000:]
    manifests = sh(f"cat {BACKUPS}/hnatest-vvv/*.json").stdout
    assert manifests and ROOT_PASSWORD not in manifests


def test_the_backup_job_exits_non_zero_on_failure():
    res = run_playbook("playbooks/db_backup.yml", "-e", f"db_backup_target={NODE}", "-e", "db_backup_container=hnatest-no-such",
                       "-e", f"db_backup_dir={BACKUPS}")
    assert res.returncode != 0
    res = run_playbook("playbooks/db_backup.yml", "-e", "db_backup_target=no-such-host")
    assert res.returncode != 0 and "matches no host" in res.stdout
    res = run_playbook("playbooks/db_restore.yml")
    assert res.returncode != 0 and "db_restore_host" in res.stdout


# --- failures leave nothing ----------------------------------------------------------------------------------

def test_kill_9_half_way_leaves_nothing_and_frees_the_lock():
    instance = "hnatest-kill"
    run = Background("hna.cloudos.mysql_backup", **backup_args(instance=instance, databases=["hnatest_big"],
                                                              compression="gzip", compression_level=9))
    run.start()
    # The partial file exists from the start of the stream; its size grows in whole blocks of the writer (8 MiB),
    # so waiting for bytes in it could land after the last block, when the run is already ending. A second into
    # the stream of this 5 s backup is half way.
    holder = wait_for(lambda: partial_exists(instance) and lock_holder(instance), 120, "the backup to be under way", 0.2)
    time.sleep(1)
    sh(f"kill -9 {int(holder['pid'])}")
    run.join(120)
    rc, result = run.result
    assert rc != 0, result
    names = files(instance)
    assert not [n for n in names if not n.startswith(".")], f"something under a final name: {names}"
    listed = info(instance)
    assert not [b for b in listed["backups"] if b["status"] in ("verified", "unverified")], listed
    assert listed["latest_verified"] is None
    # The kernel freed the lock: the next run does not wait and succeeds, and removes the killed run's leftovers.
    start = time.monotonic()
    rc, result = backup(instance=instance, databases=["hnatest_small"], lock_timeout=5)
    assert rc == 0, result
    assert time.monotonic() - start < 60
    names = files(instance)
    assert not [n for n in names if n.endswith(".partial")], names
    assert [b["status"] for b in info(instance)["backups"]] == ["verified"]


def test_wrong_password_fails_in_one_line_and_keeps_nothing():
    sh(f"umask 077; echo not-the-password > {WORK}/wrong")
    rc, result = backup(instance="hnatest-wrong", databases=["hnatest_small"], login_password_file=f"{WORK}/wrong")
    assert rc != 0
    assert one_line(result["msg"]) and re.search(r"denied|password", result["msg"], re.I), result["msg"]
    assert files("hnatest-wrong") == []


def test_a_table_the_user_cannot_read_fails_the_backup():
    query("scratch", "CREATE DATABASE IF NOT EXISTS hnatest_priv")
    query("scratch", "CREATE TABLE IF NOT EXISTS hnatest_priv.open (id INT PRIMARY KEY)")
    query("scratch", "CREATE TABLE IF NOT EXISTS hnatest_priv.secret (id INT PRIMARY KEY)")
    query("scratch", "CREATE USER IF NOT EXISTS 'hnatest_limited'@'%' IDENTIFIED BY 'L1mited-lab-test'")
    query("scratch", "GRANT RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR, SHOW VIEW, EVENT, TRIGGER ON *.* TO 'hnatest_limited'@'%'")
    query("scratch", "GRANT SELECT ON hnatest_priv.open TO 'hnatest_limited'@'%'")
    # The account sees the table (it may write into it) but cannot read it. (A table it has no privilege on at all
    # is invisible to it and to mariadb-dump run as it: the module refuses an account without SELECT on the whole
    # database before it dumps anything.)
    query("scratch", "GRANT INSERT ON hnatest_priv.secret TO 'hnatest_limited'@'%'")
    sh(f"umask 077; echo L1mited-lab-test > {WORK}/limited")
    rc, result = backup(instance="hnatest-priv", databases=["hnatest_priv"], login_user="hnatest_limited",
                        login_password_file=f"{WORK}/limited")
    assert rc != 0, result
    assert one_line(result["msg"]) and re.search(r"secret|denied|may not read", result["msg"], re.I), result["msg"]
    assert files("hnatest-priv") == []


def test_a_full_disk_fails_in_one_line_and_keeps_nothing():
    full = f"{BACKUPS}-full"
    sh(f"mkdir -p {full} && (mountpoint -q {full} || mount -t tmpfs -o size=1m tmpfs {full})")
    try:
        rc, result = backup(instance="hnatest-full", databases=["hnatest_big"], backup_dir=full)
        assert rc != 0, result
        assert one_line(result["msg"]) and re.search(r"space|full", result["msg"], re.I), result["msg"]
        assert files("hnatest-full", full) == []
    finally:
        sh(f"umount {full}", check=False)


def test_a_flipped_byte_is_refused_by_verify_and_restore():
    instance = "hnatest-flip"
    rc, result = backup(instance=instance, databases=["hnatest_small"], verify="true")
    assert rc == 0, result
    path, backup_id = result["backup"]["path"], result["backup"]["id"]
    size = result["backup"]["size"]
    sh(f"python3 -c \"import sys; f = open(sys.argv[1], 'r+b'); f.seek({size // 2}); b = f.read(1); f.seek({size // 2}); "
       f"f.write(bytes([b[0] ^ 0xFF])); f.close()\" {shlex.quote(path)}")
    # Verification (mysql_backup_info re-reading every file against its manifest) reports it corrupt.
    rc, checked = module("hna.cloudos.mysql_backup_info", backup_dir=BACKUPS, instance=instance, checksum=True)
    assert rc == 0, checked
    entry = [b for b in checked["backups"] if b["id"] == backup_id][0]
    assert entry["status"] == "corrupt" and checked["latest_verified"] is None, checked
    rc, result = module("hna.cloudos.mysql_restore", container=SCRATCH, login_host=ADDRESS[NODE], login_port=SCRATCH_PORT,
                        login_password_file=SCRATCH_PW_FILE, backup_dir=BACKUPS, instance=instance, backup=backup_id,
                        target="database", database="hnatest_flip_copy")
    assert rc != 0, result
    assert one_line(result["msg"]) and re.search(r"checksum|sha256", result["msg"], re.I), result["msg"]
    assert not query("scratch", "SHOW DATABASES LIKE 'hnatest_flip_copy'")
    entry = [b for b in info(instance)["backups"] if b["id"] == backup_id][0]
    assert entry["status"] == "corrupt", entry
    assert info(instance)["latest_verified"] is None


def test_two_runs_at_once_one_fails_naming_the_holder_or_waits():
    instance = "hnatest-twice"
    runs = [Background("hna.cloudos.mysql_backup", **backup_args(instance=instance, databases=["hnatest_big"],
                                                                compression="gzip", compression_level=9, lock_timeout=1))
            for _ in range(2)]
    runs[0].start()
    time.sleep(1)
    runs[1].start()
    holders = set()
    while any(run.is_alive() for run in runs):
        holder = lock_holder(instance)
        if holder:
            holders.add(str(holder.get("pid")))
        time.sleep(0.2)
    failed = [run.result[1] for run in runs if run.result[0] != 0]
    assert len(failed) == 1, [run.result for run in runs]
    msg = failed[0]["msg"]
    assert one_line(msg) and re.search(r"lock", msg, re.I) and any(pid in msg for pid in holders), (msg, holders)
    assert [b["status"] for b in info(instance)["backups"]] == ["verified"]

    # Without a short lock_timeout the second waits: two whole backups one after the other, never interleaved.
    runs = [Background("hna.cloudos.mysql_backup", **backup_args(instance=instance, databases=["hnatest_big"], compression="gzip"))
            for _ in range(2)]
    for run in runs:
        run.start()
        time.sleep(0.5)
    for run in runs:
        run.join(300)
        assert run.result[0] == 0, run.result
    ids = {run.result[1]["backup"]["id"] for run in runs}
    assert len(ids) == 2
    listed = info(instance)["backups"]
    assert len(listed) == 3 and all(b["status"] == "verified" for b in listed)
    for run in runs:
        b = run.result[1]["backup"]
        assert sh(f"sha256sum {shlex.quote(b['path'])}").stdout.split()[0] == b["manifest"]["sha256"]


def test_retention_of_12_backups_3_unverified():
    instance = "hnatest-ret"
    rc, result = backup(instance=instance, databases=["hnatest_small"], verify="true")
    assert rc == 0, result
    # Twelve backups, one a day for the last twelve days (copies of a real one with their own manifests), the
    # 2nd, 6th and 10th newest unverified.
    script = textwrap.dedent(f"""
        import datetime, json, os, shutil, sys
        d = {f"{BACKUPS}/{instance}"!r}
        src = json.load(open(os.path.join(d, {result["backup"]["id"] + ".json"!r})))
        now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
        ids = []
        for i in range(12):
            t = now - datetime.timedelta(days=i + 1)
            bid = '{instance}-' + t.strftime('%Y%m%dT%H%M%SZ') + '-logical'
            ext = src['file'][len(src['id']):]
            shutil.copyfile(os.path.join(d, src['file']), os.path.join(d, bid + ext))
            m = dict(src, id=bid, file=bid + ext, started=t.strftime('%Y-%m-%dT%H:%M:%SZ'),
                     finished=t.strftime('%Y-%m-%dT%H:%M:%SZ'))
            if i in (1, 5, 9):
                m.update(verified=None, verified_at=None)
            with open(os.path.join(d, bid + '.json'), 'w') as f:
                json.dump(m, f)
            ids.append(bid)
        os.remove(os.path.join(d, src['file']))
        os.remove(os.path.join(d, src['id'] + '.json'))
        print(json.dumps(ids))
    """)
    clones = json.loads(sh(f"python3 -c {shlex.quote(script)}").stdout)
    listed = info(instance)["backups"]
    assert [b["id"] for b in listed] == clones
    assert [b["status"] for b in listed].count("unverified") == 3

    # A new backup, unverified, newer than every verified one (kept), keep_last 3: the three newest verified stay
    # (the newest verified among them), every older one goes, verified or not.
    expected_kept = {clones[0], clones[2], clones[3]}
    expected_deleted = set(clones) - expected_kept
    rc, planned = module_check("hna.cloudos.mysql_backup", **backup_args(instance=instance, databases=["hnatest_small"],
                                                                       verify="false", keep_last=3))
    assert rc == 0 and planned["backup"].get("would_take"), planned
    assert set(planned["deleted"]) == expected_deleted, planned["deleted"]
    assert [b["id"] for b in info(instance)["backups"]] == clones, "check mode deleted something"
    rc, result = backup(instance=instance, databases=["hnatest_small"], verify="false", keep_last=3)
    assert rc == 0, result
    assert set(result["deleted"]) == expected_deleted, result["deleted"]
    remaining = info(instance)["backups"]
    assert [b["id"] for b in remaining] == [result["backup"]["id"]] + [c for c in clones if c in expected_kept]
    assert remaining[0]["status"] == "unverified"
    assert info(instance)["latest_verified"]["id"] == clones[0]
    assert len([n for n in files(instance) if not n.endswith(".json")]) == 4


# --- point in time -------------------------------------------------------------------------------------------

def test_point_in_time_restore_between_two_known_writes():
    instance = "hnatest-pitr"
    query("scratch", "DROP DATABASE IF EXISTS hnatest_pitr")
    query("scratch", "CREATE DATABASE hnatest_pitr")
    query("scratch", "CREATE TABLE hnatest_pitr.p (id INT PRIMARY KEY, phase CHAR(1))")
    query("scratch", "INSERT INTO hnatest_pitr.p SELECT seq, 'A' FROM hnatest_pitr.seq_1_to_100")
    rc, result = backup(instance=instance, databases=["hnatest_pitr"], verify="true")
    assert rc == 0, result
    query("scratch", "INSERT INTO hnatest_pitr.p SELECT seq, 'B' FROM hnatest_pitr.seq_101_to_150")
    written_b = query("scratch", "SELECT UNIX_TIMESTAMP(UTC_TIMESTAMP())")[0][0]
    # The point: one whole second after the last write before it, one whole second before the first after it.
    wait_for(lambda: query("scratch", "SELECT UNIX_TIMESTAMP(UTC_TIMESTAMP())")[0][0] >= written_b + 2, 10, "two seconds")
    point = query("scratch", "SELECT DATE_FORMAT(FROM_UNIXTIME(%s), '%%Y-%%m-%%d %%H:%%i:%%s')", (written_b + 1,))[0][0]
    query("scratch", "INSERT INTO hnatest_pitr.p SELECT seq, 'C' FROM hnatest_pitr.seq_151_to_200")
    query("scratch", "DELETE FROM hnatest_pitr.p WHERE id <= 10")
    rc, result = module("hna.cloudos.mysql_restore", container=SCRATCH, login_host=ADDRESS[NODE], login_port=SCRATCH_PORT,
                        login_password_file=SCRATCH_PW_FILE, backup_dir=BACKUPS, instance=instance,
                        target="database", database="hnatest_pitr", force=True, until_time=point)
    assert rc == 0, result
    rows = query("scratch", "SELECT id, phase FROM hnatest_pitr.p ORDER BY id")
    assert [r[0] for r in rows] == list(range(1, 151)), (point, len(rows))
    assert {r[1] for r in rows} == {"A", "B"}
    assert result["restored"]["id"] == [b for b in info(instance)["backups"]][0]["id"]


# --- the schedule --------------------------------------------------------------------------------------------

SCHEDULE_PLAY = """
- hosts: {node}
  gather_facts: false
  roles:
    - role: db_backup_schedule
      vars:
        db_backup_schedule_state: {state}
        db_backup_schedule_instance: hnatest-sched
        db_backup_schedule_container: {container}
        db_backup_schedule_login_host: {host}
        db_backup_schedule_login_port: {port}
        db_backup_schedule_login_password: "{{{{ lookup('ansible.builtin.file', '{pwfile}') }}}}"
        db_backup_schedule_databases: [hnatest_small]
        db_backup_schedule_backup_dir: {backups}
        db_backup_schedule_keep_last: 2
        db_backup_schedule_cron: "* * * * *"
        db_backup_schedule_on_calendar: "minutely"
"""


def schedule(tmp_path, state="present", *extra):
    pwfile = tmp_path / "pw"
    pwfile.write_text(SCRATCH_PASSWORD)
    play = tmp_path / "schedule.yml"
    play.write_text(SCHEDULE_PLAY.format(node=NODE, state=state, container=SCRATCH, host=ADDRESS[NODE], port=SCRATCH_PORT,
                                         pwfile=pwfile, backups=BACKUPS))
    return run_playbook(str(play), *extra)


def test_the_schedule_runs_on_the_node_and_writes_its_status(tmp_path):
    res = schedule(tmp_path)
    assert res.returncode == 0, res.stdout[-4000:]
    res = schedule(tmp_path)
    assert res.returncode == 0 and re.search(r"changed=0\s", res.stdout), res.stdout[-3000:]
    res = schedule(tmp_path, "present", "--check", "--diff", "-vvv")
    assert res.returncode == 0 and re.search(r"changed=0\s", res.stdout), res.stdout[-3000:]
    assert SCRATCH_PASSWORD not in res.stdout + res.stderr
    # A bundle whose mode drifted is put back (its content is the same: only the mode changes).
    sh("chmod 0755 /usr/local/lib/hna-cloudos/backup/hnatest-sched.py")
    res = schedule(tmp_path)
    assert res.returncode == 0 and re.search(r"changed=1\s", res.stdout), res.stdout[-3000:]
    assert sh("stat -c %a /usr/local/lib/hna-cloudos/backup/hnatest-sched.py").stdout.strip() == "700"

    cron = sh("cat /etc/cron.d/hna-cloudos-backup-hnatest-sched").stdout
    bundle = sh("cat /usr/local/lib/hna-cloudos/backup/hnatest-sched.py").stdout
    assert SCRATCH_PASSWORD not in cron and SCRATCH_PASSWORD not in bundle
    assert re.search(r"^\* \* \* \* \* root ", cron, re.M), cron

    # cron on the node runs it within a minute, with no Ansible involved.
    status = wait_for(lambda: json.loads(sh(f"cat {STATUS_DIR}/hnatest-sched.json 2>/dev/null || echo null").stdout),
                      135, "the scheduled backup's status file", 2)
    assert status["result"] == "ok", status
    assert status["id"].startswith("hnatest-sched-") and status["size"] > 0 and status["duration"] is not None
    assert info("hnatest-sched")["latest_verified"]["id"] == status["id"]
    prom = sh(f"cat {STATUS_DIR}/hnatest-sched.prom").stdout
    assert 'hna_cloudos_backup_last_run_success{backup="hnatest-sched"} 1' in prom
    assert re.search(r'hna_cloudos_backup_last_success_timestamp_seconds\{backup="hnatest-sched"\} \d', prom)
    assert "ok id=hnatest-sched-" in sh("cat /var/log/hna-cloudos/hnatest-sched.log").stdout

    # A failing run (the password no longer matches): exit code 1, status failed, the last success kept.
    sh("cp /etc/hna-cloudos/backup/hnatest-sched/login-password /etc/hna-cloudos/backup/hnatest-sched/saved && "
       "echo wrong > /etc/hna-cloudos/backup/hnatest-sched/login-password && rm -f /etc/cron.d/hna-cloudos-backup-hnatest-sched")
    command = re.search(r"^\* \* \* \* \* root (.*?) >/dev/null", cron, re.M).group(1)
    run = sh(command, check=False)
    assert run.rc == 1, run.stdout + run.stderr
    failed = json.loads(sh(f"cat {STATUS_DIR}/hnatest-sched.json").stdout)
    assert failed["result"] == "failed" and failed["consecutive_failures"] >= 1
    assert failed["last_success"] and re.search(r"denied|password", failed["last_error"], re.I), failed
    assert 'hna_cloudos_backup_last_run_success{backup="hnatest-sched"} 0' in sh(f"cat {STATUS_DIR}/hnatest-sched.prom").stdout

    res = schedule(tmp_path, "absent")
    assert res.returncode == 0, res.stdout[-3000:]
    for path in ("/etc/cron.d/hna-cloudos-backup-hnatest-sched", "/usr/local/lib/hna-cloudos/backup/hnatest-sched.py",
                 "/etc/hna-cloudos/backup/hnatest-sched", f"{STATUS_DIR}/hnatest-sched.json"):
        assert sh(f"test -e {path}", check=False).rc != 0, path


def test_backups_leave_no_zombie_process_in_the_server_containers():
    """Every backup above ran its pipeline (and a watchdog) inside the server's container. mariadbd never reaps
    children: without an init as PID 1 (mysql_server_init, `init: true` in the testlog stack) each finished
    process stayed as a zombie until the container restarted."""
    for container in ("mysql", "testlog-mysql"):
        # And one more orphan now, so that the check does not depend on what ran before: a process whose parent
        # has gone is handed to PID 1, which must reap it when it ends.
        sh(f"docker exec {container} sh -c '(sleep 0.2 &); true'")
        time.sleep(1.5)
        pid1 = sh(f"docker exec {container} cat /proc/1/comm").stdout.strip()
        states = sh(f"docker exec {container} ps -eo stat=,comm=").stdout.splitlines()
        zombies = [line for line in states if line.strip().startswith("Z")]
        assert not zombies, f"{container} (PID 1 {pid1}) keeps {len(zombies)} zombie processes: {zombies}"
