"""ocsp_staple_file as a real process with the host interpreter: read, write atomically into the live release with
the nginx directives, idempotence, check mode, diff summary, removal, refusals that name the directory."""

import base64
import hashlib
import os

import pytest

HOST_PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else None
STAPLE = b"\x30\x03\x0a\x01\x00" + b"staple-bytes"  # a DER SEQUENCE is all the host checks
B64 = base64.b64encode(STAPLE).decode()


@pytest.fixture
def cdir(tmp_path):
    release = tmp_path / "ssl" / "releases" / "000001-x"
    release.mkdir(parents=True)
    (release / "fullchain.pem").write_text("-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n")
    os.symlink("releases/000001-x", tmp_path / "ssl" / "live")
    return tmp_path / "ssl"


def run(module_runner, staples, check=False):
    return module_runner("ocsp_staple_file", {"staples": staples}, python=HOST_PYTHON, check_mode=check, diff=True)


def test_read_returns_the_live_chain_and_staple_and_changes_nothing(module_runner, cdir):
    result = run(module_runner, [{"certificate_dir": str(cdir), "state": "read"}])
    entry = result["staples"][0]
    assert not result.get("failed") and result["changed"] is False, result
    assert entry["fullchain"].startswith("-----BEGIN CERTIFICATE-----") and entry["response"] is None
    assert entry["release"] == str((cdir / "releases" / "000001-x").resolve())
    (cdir / "live" / "ocsp.der").write_bytes(STAPLE)
    assert run(module_runner, [{"certificate_dir": str(cdir), "state": "read"}])["staples"][0]["response"] == B64


def test_present_writes_the_staple_and_the_nginx_directives_into_the_release(module_runner, cdir):
    release = (cdir / "releases" / "000001-x").resolve()
    check = run(module_runner, [{"certificate_dir": str(cdir), "response": B64}], check=True)
    assert check["changed"] is True and not (release / "ocsp.der").exists()  # check mode writes nothing
    assert "%d bytes, sha256 %s" % (len(STAPLE), hashlib.sha256(STAPLE).hexdigest()) in check["diff"]["after"]
    assert B64 not in str(check["diff"])  # a summary, not the bytes

    result = run(module_runner, [{"certificate_dir": str(cdir), "response": B64}])
    assert result["changed"] is True and result["staples"][0]["stapling_conf"] is True, result
    assert (release / "ocsp.der").read_bytes() == STAPLE
    assert oct((release / "ocsp.der").stat().st_mode & 0o777) == "0o644"
    conf = (release / "nginx-stapling.conf").read_text()
    assert "ssl_stapling on;\n" in conf and 'ssl_stapling_file "%s/ocsp.der";\n' % release in conf
    assert result["staples"][0]["staple_sha256"] == hashlib.sha256(STAPLE).hexdigest()
    assert not [name for name in os.listdir(release) if name.startswith(".certfleet-")]  # no temp file left

    again = run(module_runner, [{"certificate_dir": str(cdir), "response": B64}])
    assert again["changed"] is False and "diff" not in again, again  # idempotent


def test_the_directives_are_the_ones_certificate_deploy_writes(cdir):
    from ansible_collections.certfleet.tls.plugins.modules import certificate_deploy, ocsp_staple_file
    assert certificate_deploy.nginx_stapling_conf("/r") == ocsp_staple_file.nginx_stapling_conf("/r")


def test_absent_removes_both_files(module_runner, cdir):
    run(module_runner, [{"certificate_dir": str(cdir), "response": B64}])
    result = run(module_runner, [{"certificate_dir": str(cdir), "state": "absent"}])
    assert result["changed"] is True and result["staples"][0]["stapling_conf"] is False
    assert not (cdir / "live" / "ocsp.der").exists() and not (cdir / "live" / "nginx-stapling.conf").exists()
    assert run(module_runner, [{"certificate_dir": str(cdir), "state": "absent"}])["changed"] is False


def test_refusals_name_the_directory_and_the_other_items_are_done(module_runner, cdir, tmp_path):
    bare = tmp_path / "bare"
    bare.mkdir()
    result = run(module_runner, [{"certificate_dir": str(bare), "response": B64},
                                 {"certificate_dir": str(cdir), "response": base64.b64encode(b"text").decode()},
                                 {"certificate_dir": str(cdir), "state": "read"}])
    assert result["failed"] is True
    assert "%s/live is not a symlink to a release" % bare in result["msg"], result["msg"]
    assert "%s: response is not a DER OCSP response" % cdir in result["msg"]
    assert result["staples"][2]["fullchain"]  # the read was done
    missing = module_runner("ocsp_staple_file", {"staples": [{"certificate_dir": str(cdir)}]}, python=HOST_PYTHON)
    assert missing["failed"] and "state present needs response" in missing["msg"]
