"""The database job templates of awx/, run the way AWX runs them (through ansible-runner in a private data directory:
tests/lab/awxrunner.py) against the lab, with their survey's defaults; last in the group of the database tests
(tools/test-lab.sh), which leave the primary and its replica as make lab left them.

The replication job ends successful and a rerun changes nothing. The backup job ends successful twice (each run
takes a backup: it is not meant to change nothing) and the second one still names a verified backup. A wrong answer
ends the job failed with the variable named. No artifact may hold one of the lab's secrets (the database passwords
among them).
"""

from awxrunner import PrivateDataDir, lab_secrets, templates

TEMPLATES = templates()


def test_replication_job_is_successful_and_a_rerun_changes_nothing(tmp_path):
    pdd = PrivateDataDir(tmp_path)
    template = TEMPLATES['CloudOS - database servers and replication']
    first = pdd.run(template)
    assert first.status == 'successful' and first.ok and not first.failed, first.stdout[-4000:]
    again = pdd.run(template)
    assert again.status == 'successful' and not any(again.changed.values()), (again.changed, again.stdout[-4000:])
    assert first.leaked(lab_secrets()) == [] and again.leaked(lab_secrets()) == []


def test_backup_job_takes_a_verified_backup_each_run_and_a_wrong_answer_fails_naming_it(tmp_path):
    pdd = PrivateDataDir(tmp_path)
    template = TEMPLATES['CloudOS - database backup']
    for dummy in range(2):
        job = pdd.run(template)
        assert job.status == 'successful' and job.ok and not job.failed, job.stdout[-4000:]
        assert 'verified' in job.text(), job.stdout[-3000:]
        assert job.leaked(lab_secrets()) == []
    wrong = pdd.run(template, {'db_backup_verify': 'maybe'})
    assert wrong.status == 'failed' and 'db_backup_verify' in wrong.text(), wrong.stdout[-3000:]
    assert not any(wrong.changed.values())
