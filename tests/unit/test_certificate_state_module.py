"""certificate_state (the host side of the decide step) as a real process with the host interpreter."""

import datetime
import fcntl
import json
import os
import stat
import time
from unittest import mock

from ansible_collections.certfleet.tls.plugins.module_utils._acme import decision
from ansible_collections.certfleet.tls.plugins.modules import certificate_state

HOST_PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else None
KEY = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgSECRET\n-----END PRIVATE KEY-----\n"


ITEM_KEYS = ("certificate_dir", "webroot", "privkey", "csr", "probe_token", "probe_content", "challenges", "order_url")


def run(module_runner, check=False, **args):
    """One certificate per call (the list form with one item), or ``certificates=[...]`` as given."""
    if "certificates" not in args:
        args["certificates"] = [{key: args.pop(key) for key in ITEM_KEYS if key in args}]
    result = module_runner("certificate_state", args, python=HOST_PYTHON, check_mode=check, diff=True)
    if not result.get("failed") and len(result.get("certificates", [])) == 1:
        result.update(result["certificates"][0])
    return result


def test_read_reports_staged_key_record_and_interrupted_deploy(module_runner, tmp_path):
    cdir = tmp_path / "ssl"
    (cdir / "next").mkdir(parents=True)
    (cdir / "next" / "privkey.pem").write_text(KEY)
    (cdir / "next" / "request.csr").write_text("CSR")
    (cdir / "next" / "order.json").write_text(json.dumps({"order_url": "https://ca/order/1"}))
    (cdir / "deploying.json").write_text(json.dumps({"release": "r2", "started": "2026-11-30T10:00:00Z"}))
    read = run(module_runner, certificate_dir=str(cdir))
    assert read["changed"] is False and read["pending_order_url"] == "https://ca/order/1"
    assert read["staged_csr"] == "CSR" and "r2" in read["interrupted_deploy"]
    assert "SECRET" not in json.dumps(read)


def test_stage_key_mode_diff_and_record_handling(module_runner, tmp_path):
    cdir = tmp_path / "ssl"
    (cdir / "next").mkdir(parents=True)
    (cdir / "next" / "order.json").write_text(json.dumps({"order_url": "https://ca/order/1"}))
    staged = run(module_runner, step="stage", certificate_dir=str(cdir), privkey=KEY, csr="CSR")
    assert staged["changed"] is True
    key = cdir / "next" / "privkey.pem"
    assert key.read_text() == KEY and stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE((cdir / "next").stat().st_mode) == 0o700
    assert not (cdir / "next" / "order.json").exists(), "a record of the previous key's order must go"
    assert "SECRET" not in json.dumps(staged) and "content not shown" in staged["diff"]["after"]


def test_stage_waits_for_the_lock_and_fails_naming_it(module_runner, tmp_path):
    cdir = tmp_path / "ssl"
    cdir.mkdir()
    with open(cdir / ".certfleet.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        result = run(module_runner, step="stage", certificate_dir=str(cdir), privkey=KEY, csr="CSR", lock_timeout=0.5)
    assert result["failed"] and "locked by another certfleet run" in result["msg"]
    assert not (cdir / "next").exists()


def test_check_mode_stages_nothing(module_runner, tmp_path):
    cdir = tmp_path / "ssl"
    result = run(module_runner, check=True, step="stage", certificate_dir=str(cdir), privkey=KEY, csr="CSR")
    assert result["changed"] is True and not cdir.exists()


def test_probe_written_through_the_challenge_code_then_removed(module_runner, tmp_path):
    webroot = tmp_path / "www"
    webroot.mkdir()
    args = dict(certificate_dir=str(tmp_path / "ssl"), webroot=str(webroot), probe_token="certfleet-probe-abc")
    assert run(module_runner, step="stage", probe_content="hello", **args)["changed"]
    probe = webroot / ".well-known" / "acme-challenge" / "certfleet-probe-abc"
    assert probe.read_text() == "hello" and stat.S_IMODE(probe.stat().st_mode) == 0o644
    assert run(module_runner, step="remove_probe", **args)["changed"]
    assert not probe.exists()


def test_hostile_probe_tokens_are_refused(module_runner, tmp_path):
    webroot = tmp_path / "www"
    webroot.mkdir()
    for token in ("../../x", "evil\n"):
        bad = run(module_runner, step="stage", certificate_dir=str(tmp_path / "ssl"), webroot=str(webroot),
                  probe_token=token, probe_content="x")
        assert bad["failed"] and "not base64url" in bad["msg"]
    assert not (tmp_path / "x").exists() and not (webroot / ".well-known").exists()


def test_inputs_checked_in_every_read(module_runner, tmp_path):
    relative = run(module_runner, certificate_dir="ssl/www")
    assert relative["failed"] and "not an absolute path" in relative["msg"]
    missing = run(module_runner, certificate_dir=str(tmp_path / "ssl"), webroot=str(tmp_path / "nowhere"))
    assert missing["failed"] and "webroot" in missing["msg"] and "nowhere" in missing["msg"]
    (tmp_path / "ssl2" / "live").mkdir(parents=True)
    not_link = run(module_runner, certificate_dir=str(tmp_path / "ssl2"))
    assert not_link["failed"] and "not a symlink" in not_link["msg"]


def test_failing_config_test_fails_the_read_with_its_output(module_runner, tmp_path):
    result = run(module_runner, certificate_dir=str(tmp_path / "ssl"),
                 test_command=["sh", "-c", "echo 'emerg: unknown directive sslx'; exit 1"])
    assert result["failed"] and "already fails" in result["msg"] and "unknown directive" in result["msg"]
    ok = run(module_runner, certificate_dir=str(tmp_path / "ssl"), test_command=["true"])
    assert ok["config_test"]["rc"] == 0


def test_discard_staged_only_removes_what_the_caller_saw(module_runner, tmp_path):
    cdir = tmp_path / "ssl"
    (cdir / "next").mkdir(parents=True)
    (cdir / "next" / "privkey.pem").write_text(KEY)
    (cdir / "next" / "request.csr").write_text("NEWER CSR")
    kept = run(module_runner, step="discard_staged", certificate_dir=str(cdir), csr="OLD CSR")
    assert kept["changed"] is False and (cdir / "next" / "privkey.pem").exists()
    gone = run(module_runner, step="discard_staged", certificate_dir=str(cdir), csr="NEWER CSR")
    assert gone["changed"] and not (cdir / "next").exists()


def test_one_read_covers_every_certificate_of_the_host(module_runner, tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    (second / "next").mkdir(parents=True)
    (second / "next" / "privkey.pem").write_text(KEY)
    (second / "next" / "request.csr").write_text("CSR B")
    result = run(module_runner, certificates=[{"certificate_dir": str(first)}, {"certificate_dir": str(second)}],
                 test_command=["true"])
    assert [c["certificate_dir"] for c in result["certificates"]] == [str(first), str(second)]
    assert "staged_csr" not in result["certificates"][0] and result["certificates"][1]["staged_csr"] == "CSR B"
    assert result["config_test"]["rc"] == 0


def test_a_bad_item_fails_before_any_write(module_runner, tmp_path):
    good = tmp_path / "good"
    result = run(module_runner, step="stage", certificates=[
        {"certificate_dir": str(good), "privkey": KEY, "csr": "CSR"}, {"certificate_dir": "relative/dir"}])
    assert result["failed"] and "relative/dir" in result["msg"] and not good.exists()


def release(cdir, name, validity=None):
    """<cdir>/releases/<name> with a fullchain (and the validity the deploy writes), live -> it."""
    directory = cdir / "releases" / name
    directory.mkdir(parents=True)
    (directory / "fullchain.pem").write_text("CERT")
    if validity is not None:
        (directory / "validity").write_text("%d %d\n" % validity)
    if os.path.lexists(cdir / "live"):
        os.unlink(cdir / "live")
    os.symlink(os.path.join("releases", name), cdir / "live")


def ahead(cdir, webroot, token="certfleet-probe-ahead"):
    return {"certificate_dir": str(cdir), "webroot": str(webroot), "privkey": KEY, "csr": "CSR-AHEAD",
            "probe_token": token, "probe_content": "probe body"}


def test_read_stages_ahead_only_what_is_probably_due(module_runner, tmp_path):
    """Stage ahead: the key, CSR and probe travel with the read and are written only where the host's hint says
    due (nothing deployed, a placeholder, past the rule with the margin) and nothing is staged yet."""
    now = int(time.time())
    webroot = tmp_path / "www"
    webroot.mkdir()
    names = ("bare", "placeholder", "valid", "past", "foreign", "staged")
    bare, placeholder, valid, past, foreign, staged = (tmp_path / name for name in names)
    for cdir in (bare, placeholder, valid, past, foreign, staged):
        cdir.mkdir()
    (placeholder / "placeholder").mkdir()
    (placeholder / "placeholder" / "fullchain.pem").write_text("SELF-SIGNED")
    os.symlink("placeholder", placeholder / "live")
    release(valid, "r1", (now - 10 * 86400, now + 80 * 86400))  # 90 days, a third left at day 60: not due
    release(past, "r1", (now - 70 * 86400, now + 20 * 86400))  # due since day 60
    release(foreign, "r1")  # no validity: not ours to guess
    release(staged, "r1", (now - 70 * 86400, now + 20 * 86400))
    (staged / "next").mkdir()
    (staged / "next" / "privkey.pem").write_text(KEY)
    (staged / "next" / "request.csr").write_text("CSR-EARLIER")
    items = [ahead(c, webroot, "certfleet-probe-%s" % c.name) for c in (bare, placeholder, valid, past, foreign, staged)]
    read = run(module_runner, certificates=items, renew_at_fraction=0.33)
    assert read["changed"] is True
    by_dir = dict((entry["certificate_dir"], entry) for entry in read["certificates"])
    for cdir in (bare, placeholder, past):
        entry = by_dir[str(cdir)]
        assert entry["staged_ahead"] is True and entry["staged_csr"] == "CSR-AHEAD", cdir.name
        key = cdir / "next" / "privkey.pem"
        assert key.read_text() == KEY and stat.S_IMODE(key.stat().st_mode) == 0o600
        assert (webroot / ".well-known" / "acme-challenge" / ("certfleet-probe-%s" % cdir.name)).read_text() \
            == "probe body"
    for cdir in (valid, foreign):
        assert "staged_ahead" not in by_dir[str(cdir)] and not (cdir / "next").exists(), cdir.name
    assert by_dir[str(staged)]["staged_csr"] == "CSR-EARLIER", "what an earlier run staged is never replaced"
    assert (staged / "next" / "request.csr").read_text() == "CSR-EARLIER"
    assert "SECRET" not in json.dumps(read)

    # The same read with nothing probably due changes nothing: a run with nothing due writes nothing.
    quiet = run(module_runner, certificates=[ahead(valid, webroot), ahead(foreign, webroot)], renew_at_fraction=0.33)
    assert quiet["changed"] is False and not (valid / "next").exists()
    # renew_before_days wins over the fraction: 85 days before the end is past for `valid`.
    early = run(module_runner, certificates=[ahead(valid, webroot)], renew_at_fraction=0.33, renew_before_days=85)
    assert early["certificates"][0]["staged_ahead"] is True


def test_check_mode_and_a_failing_config_test_stage_nothing_ahead(module_runner, tmp_path):
    webroot = tmp_path / "www"
    webroot.mkdir()
    cdir = tmp_path / "ssl"
    cdir.mkdir()
    checked = run(module_runner, check=True, certificates=[ahead(cdir, webroot)], renew_at_fraction=0.33)
    assert checked["changed"] is False and not (cdir / "next").exists()
    failed = run(module_runner, certificates=[ahead(cdir, webroot)], renew_at_fraction=0.33, test_command=["false"])
    assert failed["failed"] and not (cdir / "next").exists()
    assert not (webroot / ".well-known").exists()


def test_discard_staged_removes_a_key_staged_ahead_and_its_probe(module_runner, tmp_path):
    webroot = tmp_path / "www"
    webroot.mkdir()
    cdir = tmp_path / "ssl"
    cdir.mkdir()
    run(module_runner, certificates=[ahead(cdir, webroot)], renew_at_fraction=0.33)
    probe = webroot / ".well-known" / "acme-challenge" / "certfleet-probe-ahead"
    assert probe.exists() and (cdir / "next").exists()
    gone = run(module_runner, step="discard_staged", certificate_dir=str(cdir), csr="CSR-AHEAD", webroot=str(webroot),
               probe_token="certfleet-probe-ahead")
    assert gone["changed"] is True and not probe.exists() and not (cdir / "next").exists()


def test_the_host_hint_never_runs_ahead_of_the_control_nodes_rule():
    """probably_due (host, standard library) and decision.lifetime_rule (control node) are the same formula: the hint
    says due only once the rule has said so for the margin, so a run with nothing due never stages and discards."""
    start = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    for lifetime_days, fraction, days in ((90, 0.33, None), (47, 0.5, None), (90, 0.33, 30), (6, 0.2, None)):
        end = start + datetime.timedelta(days=lifetime_days)
        cert = mock.Mock(not_valid_before_utc=start, not_valid_after_utc=end)
        for hours in range(0, lifetime_days * 24, 7):
            now = start + datetime.timedelta(hours=hours)
            rule_due = decision.lifetime_rule(cert, now, fraction, days)[0]
            margin_ago = now - datetime.timedelta(seconds=certificate_state.HINT_MARGIN_SECONDS)
            with mock.patch.object(certificate_state, "read_bytes", return_value=b"%d %d\n" % (
                    start.timestamp(), end.timestamp())), \
                    mock.patch.object(certificate_state.os.path, "exists", return_value=True), \
                    mock.patch.object(certificate_state.os, "readlink", return_value="releases/r1"):
                hint = certificate_state.probably_due("/ssl", fraction, days, now=now.timestamp())
            assert not hint or rule_due, (lifetime_days, fraction, days, hours)
            if decision.lifetime_rule(cert, margin_ago, fraction, days)[0]:
                assert hint, "due for longer than the margin: the hint must say so (%s)" % ((lifetime_days, hours),)


def test_staging_ahead_never_replaces_a_key_another_run_staged_meanwhile(tmp_path):
    """Two runs at once: the read saw nothing staged, but under the lock next/ holds another run's key. Nothing is
    written, and the read reports the key that is there (the deploy's pair check covers the rest)."""
    webroot = tmp_path / "www"
    webroot.mkdir()
    cdir = tmp_path / "ssl"
    (cdir / "next").mkdir(parents=True)
    (cdir / "next" / "privkey.pem").write_text("OTHER RUN'S KEY")
    (cdir / "next" / "request.csr").write_text("CSR-OTHER")
    item = ahead(cdir, webroot)
    module = mock.Mock(check_mode=False, params={"lock_timeout": 1.0})
    diff = {"before": "", "after": ""}
    state = {"certificate_dir": str(cdir), "paths": []}  # what a read that came first saw: nothing staged
    module.params.update(renew_at_fraction=0.33, renew_before_days=None)
    changed = certificate_state.stage_ahead(module, [item], [state], diff)
    assert changed is False and "staged_ahead" not in state and state["staged_csr"] == "CSR-OTHER"
    assert (cdir / "next" / "privkey.pem").read_text() == "OTHER RUN'S KEY"
    assert not (webroot / ".well-known").exists()


def test_an_order_placed_ahead_goes_with_the_key_staged_ahead_and_only_then(module_runner, tmp_path):
    """certificate_order_ahead: the read writes the order's challenge files and its record with the key it stages
    ahead; where it stages nothing (not probably due), it writes no challenge either; discard removes them all."""
    now = int(time.time())
    webroot = tmp_path / "www"
    webroot.mkdir()
    due, valid = tmp_path / "due", tmp_path / "valid"
    due.mkdir()
    valid.mkdir()
    release(valid, "r1", (now - 10 * 86400, now + 80 * 86400))
    challenges = [{"token": "tok-a_1", "key_authorization": "tok-a_1.thumb"}]
    items = [dict(ahead(due, webroot, "certfleet-probe-due"), challenges=challenges, order_url="https://ca/order/7"),
             dict(ahead(valid, webroot, "certfleet-probe-valid"),
                  challenges=[{"token": "tok-b", "key_authorization": "tok-b.thumb"}], order_url="https://ca/order/8")]
    read = run(module_runner, certificates=items, renew_at_fraction=0.33)
    acme_dir = webroot / ".well-known" / "acme-challenge"
    assert read["certificates"][0]["staged_ahead"] is True
    assert (acme_dir / "tok-a_1").read_text() == "tok-a_1.thumb"
    assert json.loads((due / "next" / "order.json").read_text()) == {"order_url": "https://ca/order/7"}
    assert not (acme_dir / "tok-b").exists() and not (valid / "next").exists()
    gone = run(module_runner, step="discard_staged", certificate_dir=str(due), csr="CSR-AHEAD", webroot=str(webroot),
               probe_token="certfleet-probe-due", challenges=challenges)
    assert gone["changed"] is True and not (acme_dir / "tok-a_1").exists() and not (due / "next").exists()


def test_a_hostile_challenge_token_placed_ahead_writes_nothing(module_runner, tmp_path):
    webroot = tmp_path / "www"
    webroot.mkdir()
    cdir = tmp_path / "ssl"
    cdir.mkdir()
    item = dict(ahead(cdir, webroot), challenges=[{"token": "../../etc/x", "key_authorization": "x"}],
                order_url="https://ca/order/9")
    read = run(module_runner, certificates=[item], renew_at_fraction=0.33)
    assert read["failed"] and "challenges of %s" % cdir in read["msg"], read
    assert not (cdir / "next").exists() and not (webroot / ".well-known").exists()
