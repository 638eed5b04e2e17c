"""certificate_deploy as a real process with the host interpreter: pair check, lock, atomic switch, config test,
reload, confirmation over TLS, rollback, and the state a kill leaves behind."""

import datetime
import fcntl
import os
import socket
import ssl
import stat
import threading

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from certutil import make_ca, make_leaf, pem

HOST_PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else None
CA = make_ca()
NOW = datetime.datetime.now(datetime.timezone.utc)


def key_pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def new_pair():
    """(cert, chain, key) with a real key: the deploy checks that the key belongs to the certificate."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = make_leaf(CA, ["www.example.org"], NOW, 90, key=key)
    return pem(cert), pem(CA[1]), key_pem(key)


def serial_of(cert_pem):
    return "%x" % x509.load_pem_x509_certificate(cert_pem.encode()).serial_number


def stage(cdir, key):
    (cdir / "next").mkdir(exist_ok=True)
    (cdir / "next" / "privkey.pem").write_text(key)


@pytest.fixture
def cdir(tmp_path):
    d = tmp_path / "ssl"
    (d / "placeholder").mkdir(parents=True)
    old_cert, old_chain, old_key = new_pair()
    (d / "placeholder" / "fullchain.pem").write_text(old_cert + old_chain)
    (d / "placeholder" / "privkey.pem").write_text(old_key)
    os.symlink("placeholder", d / "live")
    return d


def deploy(module_runner, cdir, cert, chain, check=False, **extra):
    """Deploy ``cert`` with the key staged in cdir/next (or ``privkey=``)."""
    args = dict(certificate_dir=str(cdir), cert=cert, chain=chain, **extra)
    return module_runner("certificate_deploy", args, python=HOST_PYTHON, check_mode=check, diff=True)


def test_deploy_switches_live_reloads_and_is_idempotent(module_runner, cdir, tmp_path):
    cert, chain, key = new_pair()
    stage(cdir, key)
    marker = tmp_path / "reloaded"
    result = deploy(module_runner, cdir, cert, chain, test_command=["true"], reload_command=["touch", str(marker)],
                    validity=[1767225600, 1774972800])
    assert result["changed"] and result["reloaded"] and marker.exists()
    live = os.path.realpath(cdir / "live")
    assert live == result["release"] and "/releases/" in live
    # the hint certificate_state's stage-ahead reads, beside the pair
    assert open(os.path.join(live, "validity")).read() == "1767225600 1774972800\n"
    assert open(os.path.join(live, "fullchain.pem")).read() == cert + chain
    assert open(os.path.join(live, "privkey.pem")).read() == key
    assert stat.S_IMODE(os.stat(os.path.join(live, "privkey.pem")).st_mode) == 0o600
    assert not (cdir / "next").exists()  # the staged key is now live
    assert not (cdir / "deploying.json").exists()
    assert "PRIVATE KEY" not in str(result) and key.splitlines()[1] not in str(result)  # never in the output
    marker.unlink()
    again = deploy(module_runner, cdir, cert, chain, test_command=["true"], reload_command=["touch", str(marker)])
    assert again["changed"] is False and again["reloaded"] is False and not marker.exists()


def test_failed_config_test_rolls_back_and_never_reloads(module_runner, cdir, tmp_path):
    cert, chain, key = new_pair()
    stage(cdir, key)
    marker = tmp_path / "reloaded"
    result = deploy(module_runner, cdir, cert, chain,
                    test_command=["sh", "-c", "echo 'emerg: bad directive'; exit 1"],
                    reload_command=["touch", str(marker)])
    assert result["failed"] and "config test" in result["msg"] and "live points back to" in result["msg"]
    assert "was not reloaded" in result["msg"] and not (cdir / "deploying.json").exists()
    assert "bad directive" in result["test_output"]
    assert os.readlink(cdir / "live") == "placeholder"
    assert not marker.exists()
    assert not os.listdir(cdir / "releases")
    assert (cdir / "next" / "privkey.pem").exists()  # the staged key is kept for the next attempt


def test_failed_reload_rolls_back(module_runner, cdir):
    cert, chain, key = new_pair()
    stage(cdir, key)
    result = deploy(module_runner, cdir, cert, chain, test_command=["true"], reload_command=["false"])
    assert result["failed"] and "reload" in result["msg"]
    assert os.readlink(cdir / "live") == "placeholder"


def test_check_mode_changes_nothing(module_runner, cdir):
    cert, chain, key = new_pair()
    stage(cdir, key)
    result = deploy(module_runner, cdir, cert, chain, check=True, test_command=["true"])
    assert result["changed"] is True and "live -> " in result["diff"]["after"]
    assert os.readlink(cdir / "live") == "placeholder" and not (cdir / "releases").exists()


def test_missing_key_is_a_clear_error(module_runner, cdir):
    cert, chain, dummy = new_pair()
    result = deploy(module_runner, cdir, cert, chain)
    assert result["failed"] and "no private key" in result["msg"]
    assert os.readlink(cdir / "live") == "placeholder"


def test_live_directory_is_refused(module_runner, tmp_path):
    d = tmp_path / "ssl"
    (d / "live").mkdir(parents=True)
    cert, chain, key = new_pair()
    result = deploy(module_runner, d, cert, chain, privkey=key)
    assert result["failed"] and "is not a symlink" in result["msg"]


def test_relative_certificate_dir_is_refused(module_runner):
    cert, chain, key = new_pair()
    result = module_runner("certificate_deploy", dict(certificate_dir="ssl/www", cert=cert, privkey=key),
                           python=HOST_PYTHON)
    assert result["failed"] and "not an absolute path" in result["msg"]


def test_removes_challenge_files_and_prunes_releases(module_runner, cdir, tmp_path):
    webroot = tmp_path / "www"
    challenge_dir = webroot / ".well-known" / "acme-challenge"
    challenge_dir.mkdir(parents=True)
    (challenge_dir / "tok_1").write_text("x")
    for dummy in range(5):
        cert, chain, key = new_pair()
        result = deploy(module_runner, cdir, cert, chain, privkey=key, webroot=str(webroot),
                        challenge_tokens=["tok_1"], keep_releases=2)
        assert result["changed"], result
    assert not (challenge_dir / "tok_1").exists()
    assert len(os.listdir(cdir / "releases")) == 2


def test_a_key_that_is_not_the_certificates_never_goes_live(module_runner, cdir, tmp_path):
    """Two runs on one host: the second re-staged next/ while the first was ordering."""
    cert, chain, dummy = new_pair()
    other_cert, other_chain, other_key = new_pair()
    stage(cdir, other_key)
    marker = tmp_path / "reloaded"
    result = deploy(module_runner, cdir, cert, chain, test_command=["true"], reload_command=["touch", str(marker)])
    assert result["failed"] and "does not belong to this certificate" in result["msg"]
    assert "nothing was switched" in result["msg"]
    assert os.readlink(cdir / "live") == "placeholder" and not marker.exists()
    assert not os.listdir(cdir / "releases") and not (cdir / "deploying.json").exists()
    assert (cdir / "next" / "privkey.pem").read_text() == other_key  # the other run's key is left for it
    assert deploy(module_runner, cdir, other_cert, other_chain)["changed"]  # ... and that run deploys fine


def test_a_run_holding_the_lock_makes_the_other_fail_clearly(module_runner, cdir):
    cert, chain, key = new_pair()
    stage(cdir, key)
    with open(cdir / ".certfleet.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        result = deploy(module_runner, cdir, cert, chain, lock_timeout=0.5)
    assert result["failed"] and "locked by another certfleet run" in result["msg"]
    assert os.readlink(cdir / "live") == "placeholder"


def test_stale_staged_key_is_removed_when_nothing_changes(module_runner, cdir):
    cert, chain, key = new_pair()
    stage(cdir, key)
    assert deploy(module_runner, cdir, cert, chain)["changed"]
    stage(cdir, key)  # a run killed before its cleanup leaves the live key staged
    again = deploy(module_runner, cdir, cert, chain)
    assert again["discarded_staged"] and again["changed"] and not (cdir / "next").exists()


class TlsServer:
    """A TLS server on loopback that serves what live/ holds at each handshake, or the pair it started with."""

    def __init__(self, cdir, frozen=False):
        self.cdir = cdir
        self.frozen = self._context() if frozen else None
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _context(self):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        live = os.path.join(str(self.cdir), "live")
        context.load_cert_chain(os.path.join(live, "fullchain.pem"), os.path.join(live, "privkey.pem"))
        return context

    def _serve(self):
        while True:
            try:
                conn, dummy = self.sock.accept()
            except OSError:
                return
            try:
                with (self.frozen or self._context()).wrap_socket(conn, server_side=True):
                    pass
            except (OSError, ssl.SSLError):
                conn.close()

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the accept() of the serving thread: close() alone does not
        except OSError:
            pass
        self.sock.close()


def test_confirms_over_tls_that_the_new_pair_is_served(module_runner, cdir):
    server = TlsServer(cdir)
    try:
        cert, chain, key = new_pair()
        stage(cdir, key)
        result = deploy(module_runner, cdir, cert, chain, reload_command=["true"], verify_port=server.port,
                        verify_server_name="www.example.org", verify_timeout=5)
    finally:
        server.close()
    assert result["changed"] and result["reloaded"], result
    assert result["served_serial"] == serial_of(cert)


def test_a_reload_that_loads_nothing_is_rolled_back_and_says_what_is_served(module_runner, cdir):
    """Apache's graceful returns 0 before loading: here the server keeps its old pair whatever happens."""
    old_serial = serial_of((cdir / "placeholder" / "fullchain.pem").read_text())
    server = TlsServer(cdir, frozen=True)
    try:
        cert, chain, key = new_pair()
        stage(cdir, key)
        result = deploy(module_runner, cdir, cert, chain, reload_command=["true"], verify_port=server.port,
                        verify_server_name="www.example.org", verify_timeout=1)
    finally:
        server.close()
    assert result["failed"] and "did not serve the new certificate" in result["msg"], result
    assert "reloaded again" in result["msg"] and "serial %s" % old_serial in result["msg"]
    assert os.readlink(cdir / "live") == "placeholder" and not os.listdir(cdir / "releases")
    assert not (cdir / "deploying.json").exists()


def test_a_server_that_died_on_reload_is_reported_as_serving_nothing(module_runner, cdir):
    server = TlsServer(cdir)
    port = server.port
    server.close()  # the reload "succeeded" and the server is gone
    cert, chain, key = new_pair()
    stage(cdir, key)
    result = deploy(module_runner, cdir, cert, chain, reload_command=["true"], verify_port=port,
                    verify_server_name="www.example.org", verify_timeout=1)
    assert result["failed"] and "answers no TLS handshake" in result["msg"], result
    assert os.readlink(cdir / "live") == "placeholder"


def test_kill_between_switch_and_reload_leaves_a_marker_the_next_deploy_finishes(module_runner, cdir, tmp_path):
    """SIGKILL of the module during the config test: live is switched, nothing reloaded, the marker stays."""
    cert, chain, key = new_pair()
    stage(cdir, key)
    marker = tmp_path / "reloaded"
    with pytest.raises(AssertionError):  # killed: the module printed no JSON
        deploy(module_runner, cdir, cert, chain, test_command=["sh", "-c", "kill -9 $PPID"],
               reload_command=["touch", str(marker)])
    assert os.readlink(cdir / "live").startswith("releases/") and not marker.exists()
    assert (cdir / "deploying.json").exists()
    finished = deploy(module_runner, cdir, cert, chain, test_command=["true"], reload_command=["touch", str(marker)])
    assert finished["changed"] and finished["reloaded"] and marker.exists(), finished
    assert not (cdir / "deploying.json").exists() and not (cdir / "next").exists()


def test_a_batch_reloads_once_and_one_bad_certificate_does_not_hold_back_the_others(module_runner, tmp_path):
    dirs = []
    for name in ("a", "b"):
        d = tmp_path / name
        (d / "placeholder").mkdir(parents=True)
        old_cert, old_chain, old_key = new_pair()
        (d / "placeholder" / "fullchain.pem").write_text(old_cert + old_chain)
        (d / "placeholder" / "privkey.pem").write_text(old_key)
        os.symlink("placeholder", d / "live")
        dirs.append(d)
    cert_a, chain_a, key_a = new_pair()
    stage(dirs[0], key_a)
    cert_b, chain_b, dummy = new_pair()
    stage(dirs[1], new_pair()[2])  # b's staged key belongs to another certificate
    reloads = tmp_path / "reloads"
    result = module_runner("certificate_deploy", dict(
        certificates=[dict(certificate_dir=str(dirs[0]), cert=cert_a, chain=chain_a),
                      dict(certificate_dir=str(dirs[1]), cert=cert_b, chain=chain_b)],
        test_command=["true"], reload_command=["sh", "-c", "echo x >> %s" % reloads]), python=HOST_PYTHON)
    assert result["failed"] and str(dirs[1]) in result["msg"] and "does not belong" in result["msg"]
    assert result["certificates"][0]["changed"] and not result["certificates"][0].get("failed")
    assert result["certificates"][1]["failed"]
    assert os.readlink(dirs[0] / "live").startswith("releases/") and os.readlink(dirs[1] / "live") == "placeholder"
    assert reloads.read_text() == "x\n"  # one reload for the batch


def test_the_confirmation_looks_again_soon_after_the_reload_then_every_0_3_s(monkeypatch):
    from ansible_collections.certfleet.tls.plugins.modules import certificate_deploy as module
    served = iter([b"old", b"old", b"old", b"new"])
    slept = []
    monkeypatch.setattr(module, "served_der", lambda address, port, name: next(served))
    monkeypatch.setattr(module.time, "sleep", slept.append)
    params = {"verify_address": "127.0.0.1", "verify_port": 443}
    assert module.wait_until_served(params, "www.example.org", b"new", deadline=float("inf"))[0] is True
    assert slept == [0.02, 0.05, 0.1]
    slept.clear()
    served = iter([b"old"] * 6 + [b"new"])
    assert module.wait_until_served(params, "www.example.org", b"new", deadline=float("inf"))[0] is True
    assert slept == [0.02, 0.05, 0.1, 0.2, 0.3, 0.3]
