"""certificate_prepare's host half as a real process with the host interpreter: read, stage, probe."""

import json
import os
import stat

HOST_PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else None
KEY = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgSECRET\n-----END PRIVATE KEY-----\n"


def run(module_runner, check=False, **args):
    base = dict(domains=["www.example.org"])
    base.update(args)
    return module_runner("certificate_prepare", base, python=HOST_PYTHON, check_mode=check, diff=True)


def test_stage_key_mode_diff_and_record_handling(module_runner, tmp_path):
    cdir = tmp_path / "ssl"
    (cdir / "next").mkdir(parents=True)
    (cdir / "next" / "order.json").write_text(json.dumps({"order_url": "https://ca/order/1"}))
    read = run(module_runner, certificate_dir=str(cdir))
    assert read["changed"] is False and read["pending_order_url"] == "https://ca/order/1"
    staged = run(module_runner, certificate_dir=str(cdir), stage_privkey=KEY, stage_csr="CSR")
    assert staged["changed"] is True
    key = cdir / "next" / "privkey.pem"
    assert key.read_text() == KEY and stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE((cdir / "next").stat().st_mode) == 0o700
    assert not (cdir / "next" / "order.json").exists(), "a record of the previous key's order must go"
    assert "SECRET" not in json.dumps(staged) and "content not shown" in staged["diff"]["after"]


def test_check_mode_stages_nothing(module_runner, tmp_path):
    cdir = tmp_path / "ssl"
    result = run(module_runner, check=True, certificate_dir=str(cdir), stage_privkey=KEY, stage_csr="CSR")
    assert result["changed"] is True and not cdir.exists()


def test_probe_written_then_removed_and_hostile_probe_refused(module_runner, tmp_path):
    webroot = tmp_path / "www"
    webroot.mkdir()
    args = dict(certificate_dir=str(tmp_path / "ssl"), webroot=str(webroot), probe_token="certfleet-probe-abc")
    assert run(module_runner, probe_content="hello", **args)["changed"]
    probe = webroot / ".well-known" / "acme-challenge" / "certfleet-probe-abc"
    assert probe.read_text() == "hello" and stat.S_IMODE(probe.stat().st_mode) == 0o644
    run(module_runner, probe_state="absent", **args)
    assert not probe.exists()
    hostile = dict(args)
    hostile["probe_token"] = "../../x"
    bad = run(module_runner, **hostile)
    assert bad["failed"] and "not base64url" in bad["msg"] and not (tmp_path / "x").exists()
