"""The web roles (certfleet.tls.nginx, certfleet.tls.apache) on the rig, from bare hosts to HTTPS.

The site playbook (playbooks/web_site.yml, the documented example) runs on host1 (nginx, two sites) and host3
(Apache, an Owncloud-like site whose .htaccess answers 404 for dotted paths), with the sites of
playbooks/web_inventory/rig.yml. Everything is checked from the control node, like a browser or the CA would:
plain HTTP on port 80, TLS handshakes with Python's ssl, the certificate chain against Pebble's root.
"""

import base64
import contextlib
import datetime
import hashlib
import http.client
import json
import os
import shutil
import socket
import ssl
import threading
import warnings

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

import rig as rigmod
from rigtools import BASE, pebble_requests, run_playbook, served_certificate

PLAYBOOKS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "playbooks")
SITE_PLAYBOOK = os.path.join(PLAYBOOKS, "web_site.yml")
WEB_ONLY = os.path.join(PLAYBOOKS, "web_sites_only.yml")
INVENTORIES = ["-i", os.path.join(BASE, "inventory.yml"), "-i", os.path.join(PLAYBOOKS, "web_inventory", "rig.yml")]
LIMIT = "host1,host3"
# every name of the sites in web_inventory/rig.yml, with its host's address
NAMES = {"www.host1.test": "127.0.1.1", "alias.host1.test": "127.0.1.1", "shop.host1.test": "127.0.1.1",
         "www.host2.test": "127.0.1.2", "www.host3.test": "127.0.1.3"}
# Mozilla intermediate (guidelines 6.0) for an EC key under TLS 1.2; the rig's certificates have EC P-256 keys
INTERMEDIATE_ECDSA = {"ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305"}
OWNCLOUD_HTACCESS = "RewriteEngine On\nRewriteRule ^(\\.|autotest|occ|issue|indie|db_|console).* - [R=404,L]\n"


def host_path(host, *parts):
    return os.path.join(BASE, "hosts", host, *parts)


def conf_dir(host):
    return host_path(host, "apache" if host == "host3" else "nginx", "conf.d")


def site_path(host, *parts):
    return host_path(host, "sites", *parts)


def web_run(playbook, *args, inventories=(), limit=LIMIT):
    more = []
    for inventory in inventories:
        more += ["-i", inventory]
    return run_playbook(playbook, *(INVENTORIES + more + list(args)), limit=limit)


def failures(run):
    """The lines that say why a run failed (pytest cuts long messages: keep the useful part)."""
    lines = [line[:1500] for line in run.out.splitlines() if line.startswith(("fatal:", "failed:", "[ERROR]"))]
    return "rc=%s recap=%s\n%s" % (run.rc, run.recap, "\n".join(lines) or run.out[-3000:])


def clean_hosts():
    """No site directory and none of this module's files in conf.d, then reset_hosts (which also empties conf.d,
    points live at the placeholder and reloads): bare hosts."""
    for host in ("host1", "host2", "host3"):
        shutil.rmtree(host_path(host, "sites"), ignore_errors=True)
        shutil.rmtree(host_path(host, "user-snippets"), ignore_errors=True)
        directory = conf_dir(host)
        for name in os.listdir(directory) if os.path.isdir(directory) else []:
            if name.startswith(("certfleet-", "user-", "00-user-")):
                os.unlink(os.path.join(directory, name))
    rigmod.reset_hosts(base=BASE)


def owncloud_document_root():
    """What an Owncloud install brings: its .htaccess in the document root and the user's AllowOverride All."""
    htdocs = site_path("host3", "www", "htdocs")
    os.makedirs(htdocs, mode=0o755)
    for path in (host_path("host3", "sites"), site_path("host3", "www")):
        os.chmod(path, 0o755)
    with open(os.path.join(htdocs, ".htaccess"), "w") as handle:
        handle.write(OWNCLOUD_HTACCESS)
    with open(os.path.join(htdocs, "index.html"), "w") as handle:
        handle.write("owncloud\n")
    with open(os.path.join(conf_dir("host3"), "user-owncloud.conf"), "w") as handle:
        # as Owncloud's documentation has it (mod_rewrite in .htaccess needs FollowSymLinks)
        handle.write('<Directory "%s">\n    Options +FollowSymLinks\n    AllowOverride All\n    Require all granted\n'
                     '</Directory>\n' % htdocs)


def http_get(address, host, path, port=80):
    """(status, headers (lower-case names), body) of a plain HTTP GET with the given Host header."""
    connection = http.client.HTTPConnection(address, port, timeout=5)
    try:
        connection.request("GET", path, headers={"Host": host})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read().decode()
    finally:
        connection.close()


def https_get(address, name, path, cafile):
    """(status, headers, body) over TLS, SNI and certificate checked for `name` against `cafile`."""
    context = ssl.create_default_context(cafile=cafile)
    with socket.create_connection((address, 443), timeout=5) as sock:
        with context.wrap_socket(sock, server_hostname=name) as tls:
            tls.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % (path, name)).encode())
            data = b""
            while True:
                chunk = tls.recv(65536)
                if not chunk:
                    break
                data += chunk
    head, dummy, body = data.decode().partition("\r\n\r\n")
    lines = head.split("\r\n")
    headers = dict((k.strip().lower(), v.strip()) for k, v in (line.split(":", 1) for line in lines[1:]))
    return int(lines[0].split()[1]), headers, body


def handshake(address, name, version, ciphers="ALL:@SECLEVEL=0", alpn=None, port=443):
    """(protocol, cipher, ALPN) of a handshake at exactly `version`, or the ssl.SSLError. The client offers old
    protocols and weak ciphers (security level 0), so a refusal is the server's."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TLSVersion.TLSv1_1, on purpose
        context.minimum_version = context.maximum_version = version
    context.set_ciphers(ciphers)
    if alpn:
        context.set_alpn_protocols(alpn)
    try:
        with socket.create_connection((address, port), timeout=5) as sock:
            with context.wrap_socket(sock, server_hostname=name) as tls:
                return tls.version(), tls.cipher()[0], tls.selected_alpn_protocol()
    except ssl.SSLError as error:
        return error


def tls12_cipher_names():
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.set_ciphers("ALL:@SECLEVEL=0")
    return sorted(c["name"] for c in context.get_ciphers() if c["protocol"] == "TLSv1.2")


@contextlib.contextmanager
def permissive_server(tmp_path):
    """A local TLS server that accepts TLS 1.1 and every cipher: the control that shows our client offers them."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "control.test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(hours=1)).sign(key, hashes.SHA256()))
    (tmp_path / "control.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(tmp_path / "control.pem"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = ssl.TLSVersion.TLSv1_1
    context.set_ciphers("ALL:@SECLEVEL=0")
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, dummy = listener.accept()
            except OSError:
                return
            try:
                with context.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(1)
            except (OSError, ssl.SSLError):
                pass
    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        listener.close()


def log_size(path):
    return os.path.getsize(path) if os.path.exists(path) else 0


def log_since(path, offset):
    with open(path) as handle:
        handle.seek(offset)
        return handle.read()


@pytest.fixture(scope="module")
def sites(rig):
    """Bare hosts, a check-mode run, the site playbook twice. Every host is put back to its first state after."""
    for name, address in NAMES.items():
        rigmod.set_dns(name, [address], base=BASE)
    clean_hosts()
    owncloud_document_root()
    check = web_run(WEB_ONLY, "--check", "--diff")
    after_check = {"files": sorted(os.listdir(conf_dir("host1"))) + sorted(os.listdir(conf_dir("host3"))),
                   "site_dirs": [p for p in (site_path("host1", "www"), site_path("host1", "shop"))
                                 if os.path.exists(p)]}
    first = web_run(SITE_PLAYBOOK)
    mark = rigmod.pebble_log_mark(base=BASE)["offset"]
    second = web_run(SITE_PLAYBOOK)
    second_ca_requests = pebble_requests(rigmod.pebble_log_since(mark, base=BASE))
    yield {"check": check, "after_check": after_check, "first": first, "second": second,
           "second_ca_requests": second_ca_requests, "root": rig["pebble_root"]}
    clean_hosts()


def test_check_mode_on_bare_hosts_shows_the_files_and_writes_nothing(sites):
    check = sites["check"]
    assert check.rc == 0, failures(check)
    assert "+    server_name www.host1.test alias.host1.test;" in check.out, check
    assert "+    ServerName www.host3.test" in check.out, check
    assert "BEGIN PRIVATE KEY" not in check.out and "censored due to no_log" in check.out
    # only the user's own file (owncloud) is there; no site directory was made
    assert sites["after_check"] == {"files": ["user-owncloud.conf"], "site_dirs": []}


def test_first_run_from_bare_hosts_ends_with_https(sites):
    first = sites["first"]
    assert first.rc == 0, failures(first)
    # the placeholder let the config load; the certificate role replaced it in the same run
    for host, site in (("host1", "www"), ("host1", "shop"), ("host3", "www")):
        assert os.readlink(site_path(host, site, "live")).startswith("releases/"), (host, site)
        assert os.path.exists(site_path(host, site, "placeholder", "fullchain.pem"))
        assert oct(os.stat(site_path(host, site, "placeholder", "privkey.pem")).st_mode & 0o777) == "0o600"
        assert oct(os.stat(site_path(host, site, "live", "privkey.pem")).st_mode & 0o777) == "0o600"
    for name, address in (("www.host1.test", "127.0.1.1"), ("alias.host1.test", "127.0.1.1"),
                          ("shop.host1.test", "127.0.1.1"), ("www.host3.test", "127.0.1.3")):
        cert = served_certificate(address, name, cafile=sites["root"])  # chain and name verified
        assert "Pebble" in cert.issuer.rfc4514_string(), name
    assert "LoadModule" not in open(os.path.join(conf_dir("host3"), "certfleet-host3-www.conf")).read()
    status, dummy, body = https_get("127.0.1.1", "shop.host1.test", "/", sites["root"])
    assert (status, body) == (200, "shop.host1 site\n")


def test_port_80_serves_the_challenge_ahead_of_everything_and_redirects_the_rest(sites):
    token = "web-roles-test-token"
    for host, site, webroot, address, name in (("host1", "www", "webroot", "127.0.1.1", "www.host1.test"),
                                               ("host1", "shop", "webroot", "127.0.1.1", "shop.host1.test"),
                                               ("host3", "www", "htdocs", "127.0.1.3", "www.host3.test")):
        path = site_path(host, site, webroot, ".well-known", "acme-challenge", token)
        with open(path, "w") as handle:
            handle.write("key-authorization-of-%s" % name)
        os.chmod(path, 0o644)
        try:
            status, headers, body = http_get(address, name, "/.well-known/acme-challenge/" + token)
        finally:
            os.unlink(path)
        assert (status, body) == (200, "key-authorization-of-%s" % name), (name, status, body)
        assert headers["content-type"].startswith("text/plain")
    for address, name in (("127.0.1.1", "www.host1.test"), ("127.0.1.1", "alias.host1.test"),
                          ("127.0.1.3", "www.host3.test")):
        status, headers, dummy = http_get(address, name, "/some/page?q=1")
        assert status == 301 and headers["location"] == "https://%s/some/page?q=1" % name, (name, status, headers)
    # shop opted out of the redirect: port 80 serves the site itself
    assert http_get("127.0.1.1", "shop.host1.test", "/")[::2] == (200, "shop.host1 site\n")


def test_owncloud_htaccess_cannot_hide_the_challenge(sites):
    """The .htaccess is live (it answers 404 for a dotted path over https, where no challenge alias exists), yet
    port 80 serves the very same file under /.well-known/acme-challenge/."""
    token = "owncloud-token"
    path = site_path("host3", "www", "htdocs", ".well-known", "acme-challenge", token)
    with open(path, "w") as handle:
        handle.write("served despite .htaccess")
    os.chmod(path, 0o644)
    try:
        assert https_get("127.0.1.3", "www.host3.test", "/index.html", sites["root"])[::2] == (200, "owncloud\n")
        assert https_get("127.0.1.3", "www.host3.test", "/.well-known/acme-challenge/" + token,
                         sites["root"])[0] == 404
        assert http_get("127.0.1.3", "www.host3.test", "/.well-known/acme-challenge/" + token)[::2] == (
            200, "served despite .htaccess")
    finally:
        os.unlink(path)


def test_tls_1_2_and_1_3_only_with_intermediate_ciphers(sites, tmp_path):
    with permissive_server(tmp_path) as port:
        # the control: this client does offer TLS 1.1 and a CBC-SHA1 cipher, and a permissive server takes them
        control_11 = handshake("127.0.0.1", "control.test", ssl.TLSVersion.TLSv1_1, port=port)
        control_cbc = handshake("127.0.0.1", "control.test", ssl.TLSVersion.TLSv1_2,
                                ciphers="ECDHE-ECDSA-AES128-SHA:@SECLEVEL=0", port=port)
    assert control_11[0] == "TLSv1.1" and control_cbc[:2] == ("TLSv1.2", "ECDHE-ECDSA-AES128-SHA")
    for address, name in (("127.0.1.1", "www.host1.test"), ("127.0.1.1", "shop.host1.test"),
                          ("127.0.1.3", "www.host3.test")):
        assert handshake(address, name, ssl.TLSVersion.TLSv1_3)[0] == "TLSv1.3", name
        assert handshake(address, name, ssl.TLSVersion.TLSv1_2)[0] == "TLSv1.2", name
        refused = handshake(address, name, ssl.TLSVersion.TLSv1_1)
        assert isinstance(refused, ssl.SSLError) and "PROTOCOL_VERSION" in str(refused.reason), (name, refused)
        cbc_sha1 = handshake(address, name, ssl.TLSVersion.TLSv1_2, ciphers="ECDHE-ECDSA-AES128-SHA:@SECLEVEL=0")
        assert isinstance(cbc_sha1, ssl.SSLError), (name, cbc_sha1)
        # every TLS 1.2 cipher this OpenSSL knows, one at a time: exactly the intermediate ones are accepted
        accepted = {cipher for cipher in tls12_cipher_names()
                    if not isinstance(handshake(address, name, ssl.TLSVersion.TLSv1_2,
                                                ciphers=cipher + ":@SECLEVEL=0"), ssl.SSLError)}
        assert accepted == INTERMEDIATE_ECDSA, (name, accepted)


def test_http2_hsts_and_session_settings(sites):
    # nginx 1.22 on the rig: `listen ... ssl http2`; ALPN picks h2
    assert handshake("127.0.1.1", "www.host1.test", ssl.TLSVersion.TLSv1_3, alpn=["h2", "http/1.1"])[2] == "h2"
    # the rig's Apache loads no mod_http2: the role writes no Protocols line and says so
    assert handshake("127.0.1.3", "www.host3.test", ssl.TLSVersion.TLSv1_3, alpn=["h2", "http/1.1"])[2] == "http/1.1"
    status, headers, dummy = https_get("127.0.1.1", "www.host1.test", "/", sites["root"])
    assert status == 200 and headers["strict-transport-security"] == "max-age=300"
    assert "strict-transport-security" not in https_get("127.0.1.1", "shop.host1.test", "/", sites["root"])[1]
    text = open(os.path.join(conf_dir("host1"), "certfleet-host1-www.conf")).read()
    assert "ssl_session_tickets off;" in text and "ssl_session_timeout 1d;" in text


def test_second_run_changes_nothing(sites):
    second = sites["second"]
    assert second.rc == 0, failures(second)
    assert second.recap["host1"]["changed"] == 0 and second.recap["host3"]["changed"] == 0, second
    assert sites["second_ca_requests"] == []


def _override(tmp_path, host1_requests, host3_requests):
    """An inventory read after web_inventory/rig.yml that replaces the sites of host1 and host3."""
    path = tmp_path / "override.json"
    path.write_text(json.dumps({"all": {"hosts": {"host1": {"certificate_requests": host1_requests},
                                                  "host3": {"certificate_requests": host3_requests}}}}))
    return str(path)


def _sites_as_configured():
    with open(os.path.join(PLAYBOOKS, "web_inventory", "rig.yml")) as handle:
        inventory = yaml.safe_load(handle)
    hosts = inventory["all"]["children"]["webservers"]["hosts"]
    rendered = {}
    for host in ("host1", "host3"):
        text = json.dumps(hosts[host]["certificate_requests"]).replace("{{ rig_host_dir }}", host_path(host))
        rendered[host] = json.loads(text)
    return rendered


def test_broken_user_include_fails_the_test_restores_the_files_and_never_reloads(sites, tmp_path):
    snippets = host_path("host1", "user-snippets")
    os.makedirs(snippets, exist_ok=True)
    with open(os.path.join(snippets, "broken.conf"), "w") as handle:
        handle.write("this_is_not_an_nginx_directive on;\n")
    apache_snippets = host_path("host3", "user-snippets")
    os.makedirs(apache_snippets, exist_ok=True)
    with open(os.path.join(apache_snippets, "broken.conf"), "w") as handle:
        handle.write("ThisIsNotAnApacheDirective on\n")
    configured = _sites_as_configured()
    host1 = [dict(s, extra=s["extra"] + "include %s/broken.conf;\n" % snippets) if s["name"] == "host1-www" else s
             for s in configured["host1"]]
    host1.append({"name": "host1-new", "domains": ["new.host1.test"], "dir": site_path("host1", "new"),
                  "webroot": site_path("host1", "new", "webroot")})
    host3 = [dict(s, extra="Include %s/broken.conf\n" % apache_snippets) for s in configured["host3"]]
    files = {host: {name: open(os.path.join(conf_dir(host), name)).read() for name in os.listdir(conf_dir(host))}
             for host in ("host1", "host3")}
    logs = {"host1": host_path("host1", "nginx", "logs", "error.log"),
            "host3": host_path("host3", "apache", "logs", "error.log")}
    marks = {host: log_size(path) for host, path in logs.items()}

    # one run per host: a play whose hosts all fail ends the playbook, and the Apache play comes second
    override = [_override(tmp_path, host1, host3)]
    broken = {host: web_run(WEB_ONLY, inventories=override, limit=host) for host in ("host1", "host3")}

    for host, server in (("host1", "nginx"), ("host3", "Apache")):
        run = broken[host]
        assert run.rc != 0 and run.recap[host]["failed"] == 1, failures(run)
        assert "the previous files are restored and %s was not reloaded" % server in run.out, failures(run)
    assert "this_is_not_an_nginx_directive" in broken["host1"].out, failures(broken["host1"])
    assert "ThisIsNotAnApacheDirective" in broken["host3"].out, failures(broken["host3"])
    for host in ("host1", "host3"):
        # the same files with the same bytes: the changed one restored, the new one removed, no backup left
        now = {name: open(os.path.join(conf_dir(host), name)).read() for name in os.listdir(conf_dir(host))}
        assert now == files[host], host
    reloads = {"host1": "reconfiguring", "host3": "graceful restart"}
    for host, path in logs.items():
        assert reloads[host] not in log_since(path, marks[host]), host
    # still serving the old config
    assert https_get("127.0.1.1", "www.host1.test", "/", sites["root"])[::2] == (200, "www.host1 site\n")

    # the sites as they were: nothing to change
    again = web_run(WEB_ONLY)
    assert again.rc == 0 and again.recap["host1"]["changed"] == 0 and again.recap["host3"]["changed"] == 0, failures(again)


def test_apache_hsts_needs_mod_headers_and_http2_follows_mod_http2(sites, tmp_path):
    configured = _sites_as_configured()
    host3 = [dict(s, hsts_max_age=600) for s in configured["host3"]]
    before = open(os.path.join(conf_dir("host3"), "certfleet-host3-www.conf")).read()
    refused = web_run(WEB_ONLY, inventories=[_override(tmp_path, configured["host1"], host3)], limit="host3")
    assert refused.rc != 0 and "sites host3-www ask for HSTS or HPKP headers, which need mod_headers" in refused.out, failures(refused)
    assert open(os.path.join(conf_dir("host3"), "certfleet-host3-www.conf")).read() == before

    # the user loads the modules in a file of their own; the role uses them
    modules = "/usr/lib/apache2/modules"
    with open(os.path.join(conf_dir("host3"), "00-user-modules.conf"), "w") as handle:
        handle.write("LoadModule headers_module %s/mod_headers.so\nLoadModule http2_module %s/mod_http2.so\n"
                     % (modules, modules))
    done = web_run(WEB_ONLY, inventories=[_override(tmp_path, configured["host1"], host3)], limit="host3")
    assert done.rc == 0 and done.recap["host3"]["changed"] > 0, failures(done)
    status, headers, dummy = https_get("127.0.1.3", "www.host3.test", "/index.html", sites["root"])
    assert status == 200 and headers["strict-transport-security"] == "max-age=600"
    assert handshake("127.0.1.3", "www.host3.test", ssl.TLSVersion.TLSv1_3, alpn=["h2", "http/1.1"])[2] == "h2"


def test_hpkp_header_pins_the_served_key(sites, tmp_path):
    configured = _sites_as_configured()
    backup_key = ec.generate_private_key(ec.SECP256R1()).public_key()
    spki = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    backup_pin = base64.b64encode(hashlib.sha256(backup_key.public_bytes(*spki)).digest()).decode()
    host1 = [dict(s, hpkp={"backup": [backup_pin], "max_age": 600}) if s["name"] == "host1-shop" else s
             for s in configured["host1"]]
    run = web_run(WEB_ONLY, inventories=[_override(tmp_path, host1, configured["host3"])], limit="host1")
    assert run.rc == 0, failures(run)
    served = served_certificate("127.0.1.1", "shop.host1.test", cafile=sites["root"])
    served_pin = base64.b64encode(hashlib.sha256(served.public_key().public_bytes(*spki)).digest()).decode()
    dummy, headers, dummy_body = https_get("127.0.1.1", "shop.host1.test", "/", sites["root"])
    assert headers["public-key-pins-report-only"] == 'pin-sha256="%s"; pin-sha256="%s"; max-age=600' % (
        served_pin, backup_pin)
    again = web_run(WEB_ONLY, inventories=[_override(tmp_path, host1, configured["host3"])], limit="host1")
    assert again.rc == 0 and again.recap["host1"]["changed"] == 0, failures(again)
