"""certificate_deploy as a real process with the host interpreter: atomic switch, config test, rollback."""

import datetime
import os
import stat

import pytest

from certutil import make_ca, make_leaf, pem

HOST_PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else None
CA = make_ca()
NOW = datetime.datetime.now(datetime.timezone.utc)


def new_pair():
    cert = make_leaf(CA, ["www.example.org"], NOW, 90)
    return pem(cert), pem(CA[1])


@pytest.fixture
def cdir(tmp_path):
    d = tmp_path / "ssl"
    (d / "placeholder").mkdir(parents=True)
    (d / "placeholder" / "fullchain.pem").write_text("old chain\n")
    (d / "placeholder" / "privkey.pem").write_text("old key\n")
    os.symlink("placeholder", d / "live")
    (d / "next").mkdir()
    (d / "next" / "privkey.pem").write_text("-----BEGIN PRIVATE KEY-----\nNEWKEY\n-----END PRIVATE KEY-----\n")
    return d


def deploy(module_runner, cdir, cert, chain, check=False, **extra):
    args = dict(certificate_dir=str(cdir), cert=cert, chain=chain, **extra)
    return module_runner("certificate_deploy", args, python=HOST_PYTHON, check_mode=check, diff=True)


def test_deploy_switches_live_reloads_and_is_idempotent(module_runner, cdir, tmp_path):
    cert, chain = new_pair()
    marker = tmp_path / "reloaded"
    result = deploy(module_runner, cdir, cert, chain, test_command=["true"], reload_command=["touch", str(marker)])
    assert result["changed"] and result["reloaded"] and marker.exists()
    live = os.path.realpath(cdir / "live")
    assert live == result["release"] and "/releases/" in live
    assert open(os.path.join(live, "fullchain.pem")).read() == cert + chain
    assert "NEWKEY" in open(os.path.join(live, "privkey.pem")).read()
    assert stat.S_IMODE(os.stat(os.path.join(live, "privkey.pem")).st_mode) == 0o600
    assert not (cdir / "next").exists()  # the staged key is now live
    assert "NEWKEY" not in str(result)  # the key never appears in the output
    marker.unlink()
    again = deploy(module_runner, cdir, cert, chain, test_command=["true"], reload_command=["touch", str(marker)])
    assert again["changed"] is False and again["reloaded"] is False and not marker.exists()


def test_failed_config_test_rolls_back_and_never_reloads(module_runner, cdir, tmp_path):
    cert, chain = new_pair()
    marker = tmp_path / "reloaded"
    result = deploy(module_runner, cdir, cert, chain,
                    test_command=["sh", "-c", "echo 'emerg: bad directive'; exit 1"],
                    reload_command=["touch", str(marker)])
    assert result["failed"] and "config test" in result["msg"] and "kept the previous certificate" in result["msg"]
    assert "bad directive" in result["test_output"]
    assert os.readlink(cdir / "live") == "placeholder"
    assert not marker.exists()
    assert not os.listdir(cdir / "releases")
    assert (cdir / "next" / "privkey.pem").exists()  # the staged key is kept for the next attempt


def test_failed_reload_rolls_back(module_runner, cdir):
    cert, chain = new_pair()
    result = deploy(module_runner, cdir, cert, chain, test_command=["true"], reload_command=["false"])
    assert result["failed"] and "reload" in result["msg"]
    assert os.readlink(cdir / "live") == "placeholder"


def test_check_mode_changes_nothing(module_runner, cdir):
    cert, chain = new_pair()
    result = deploy(module_runner, cdir, cert, chain, check=True, test_command=["true"])
    assert result["changed"] is True and "live -> " in result["diff"]["after"]
    assert os.readlink(cdir / "live") == "placeholder" and not (cdir / "releases").exists()


def test_missing_key_is_a_clear_error(module_runner, cdir):
    cert, chain = new_pair()
    (cdir / "next" / "privkey.pem").unlink()
    result = deploy(module_runner, cdir, cert, chain)
    assert result["failed"] and "no private key" in result["msg"]
    assert os.readlink(cdir / "live") == "placeholder"


def test_live_directory_is_refused(module_runner, tmp_path):
    d = tmp_path / "ssl"
    (d / "live").mkdir(parents=True)
    cert, chain = new_pair()
    result = deploy(module_runner, d, cert, chain, privkey="a private key")
    assert result["failed"] and "is not a symlink" in result["msg"]


def test_removes_challenge_files_and_prunes_releases(module_runner, cdir, tmp_path):
    webroot = tmp_path / "www"
    challenge_dir = webroot / ".well-known" / "acme-challenge"
    challenge_dir.mkdir(parents=True)
    (challenge_dir / "tok_1").write_text("x")
    for index in range(5):
        cert, chain = new_pair()
        result = deploy(module_runner, cdir, cert, chain, privkey="key %d" % index, webroot=str(webroot),
                        challenge_tokens=["tok_1"], keep_releases=2)
        assert result["changed"], result
    assert not (challenge_dir / "tok_1").exists()
    assert len(os.listdir(cdir / "releases")) == 2
