"""Security profiles 2 and 3, the station CA and Plug & Charge, driven by the third-party `ocpp` client over real
`wss://` (Python's ssl module) against `voltaic serve` with its TLS listener. The test PKI is built here with the
`cryptography` package: a foreign CA, station certificates good and bad, and a mobility operator's contracts."""
import asyncio
import base64
import datetime
import hashlib
import os
import ssl
import subprocess
import tempfile
import time
import uuid

import pytest
from charge_points import Station16, Station201, now
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from ocpp.routing import on
from ocpp.v16 import call as c16
from ocpp.v16 import call_result as r16
from ocpp.v201 import call as c201
from ocpp.v201 import call_result as r201
from voltaic_server import VoltaicServer, free_port
from websockets.asyncio.client import connect

BINARY = os.environ.get("VOLTAIC_BIN", os.path.join(os.path.dirname(__file__), "../../.build/debug/voltaic"))
ORG = "Voltaic"
UTC = datetime.timezone.utc


def cli(*args):
    r = subprocess.run([BINARY, *args], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r.stdout


def pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def write(path, data):
    with open(path, "w") as f:
        f.write(data)
    return path


def key_pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()


def name(cn, o=None):
    attrs = ([x509.NameAttribute(NameOID.ORGANIZATION_NAME, o)] if o else []) + [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    return x509.Name(attrs)


def make_ca(cn):
    key = ec.generate_private_key(ec.SECP256R1())
    t = datetime.datetime.now(UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name(cn, ORG)).issuer_name(name(cn, ORG)).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(t - datetime.timedelta(days=1)).not_valid_after(t + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def issue(ca_cert, ca_key, cn, o=ORG, days=30, start=None, usage=ExtendedKeyUsageOID.CLIENT_AUTH, ocsp_url=None):
    key = ec.generate_private_key(ec.SECP256R1())
    t = start or datetime.datetime.now(UTC) - datetime.timedelta(hours=1)
    builder = (
        x509.CertificateBuilder().subject_name(name(cn, o)).issuer_name(ca_cert.subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(t).not_valid_after(t + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
    )
    if ocsp_url:
        builder = builder.add_extension(x509.AuthorityInformationAccess([
            x509.AccessDescription(x509.oid.AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(ocsp_url))]), critical=False)
    return builder.sign(ca_key, hashes.SHA256()), key


class PKI:
    """Files on disk: the server's TLS certificate, Voltaic's station CA (made by `voltaic ca init`), a foreign CA,
    and the mobility operator's root."""

    def __init__(self, root):
        self.dir = root
        cli("ca", "init", "--dir", f"{root}/ca", "--organization", ORG)
        cli("tls", "self-signed", "--dir", f"{root}/tls", "--host", "127.0.0.1", "--host", "localhost")
        with open(f"{root}/ca/station-ca.pem", "rb") as f:
            self.ca_cert = x509.load_pem_x509_certificate(f.read())
        with open(f"{root}/ca/station-ca.key", "rb") as f:
            self.ca_key = serialization.load_pem_private_key(f.read(), None)
        self.foreign_cert, self.foreign_key = make_ca("Foreign CA")
        self.mo_cert, self.mo_key = make_ca("MO Root")
        write(f"{root}/mo-root.pem", pem(self.mo_cert))
        self.maker_cert, self.maker_key = make_ca("Manufacturer Root")
        write(f"{root}/firmware-root.pem", pem(self.maker_cert))

    def files(self, tag, cert, key):
        return write(f"{self.dir}/{tag}.pem", pem(cert)), write(f"{self.dir}/{tag}.key", key_pem(key))

    def client_context(self, cert_files=None):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(f"{self.dir}/tls/server.pem")
        if cert_files:
            ctx.load_cert_chain(*cert_files)
        return ctx


@pytest.fixture(scope="module")
def pki():
    with tempfile.TemporaryDirectory() as root:
        yield PKI(root)


class Responders:
    """An OCSP responder for the MO root's contracts (statuses set by the tests, signed by the root, or by another key
    to forge), and a contract certificate pool, on one local HTTP server."""

    def __init__(self, pki):
        import http.server
        import threading
        from cryptography.x509 import ocsp

        self.statuses = {}  # serial -> (certificate, "good" | "revoked", signing key, responder certificate)
        self.pool_requests = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path == "/ocsp":
                    req = ocsp.load_der_ocsp_request(body)
                    entry = outer.statuses.get(req.serial_number)
                    if entry is None:
                        out = ocsp.OCSPResponseBuilder.build_unsuccessful(ocsp.OCSPResponseStatus.UNAUTHORIZED)
                    else:
                        cert, status, key, signer = entry
                        t = datetime.datetime.now(UTC).replace(microsecond=0)
                        revoked = status == "revoked"
                        out = ocsp.OCSPResponseBuilder().add_response(
                            cert=cert, issuer=pki.mo_cert, algorithm=hashes.SHA256(),
                            cert_status=ocsp.OCSPCertStatus.REVOKED if revoked else ocsp.OCSPCertStatus.GOOD,
                            this_update=t, next_update=t + datetime.timedelta(hours=1),
                            revocation_time=t if revoked else None, revocation_reason=None,
                        ).responder_id(ocsp.OCSPResponderEncoding.HASH, signer).sign(key, hashes.SHA256())
                    data, ctype = out.public_bytes(serialization.Encoding.DER), "application/ocsp-response"
                    code = 200
                elif self.path == "/pool":
                    import json
                    request = json.loads(body)
                    outer.pool_requests.append(request)
                    if request["action"] == "Install":
                        code, data = 200, json.dumps({"exiResponse": base64.b64encode(b"EXI:" + base64.b64decode(request["exiRequest"])).decode()}).encode()
                    else:
                        code, data = 500, b"{}"
                    ctype = "application/json"
                else:
                    code, data, ctype = 404, b"", "text/plain"
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"


@pytest.fixture(scope="module")
def responders(pki):
    r = Responders(pki)
    yield r
    r.httpd.shutdown()


@pytest.fixture(scope="module")
def secure(pki, responders):
    tls_port = free_port()
    s = VoltaicServer(extra_args=[
        "--tls-port", str(tls_port), "--tls-certificate", f"{pki.dir}/tls/server.pem", "--tls-key", f"{pki.dir}/tls/server.key",
        "--station-ca-certificate", f"{pki.dir}/ca/station-ca.pem", "--station-ca-key", f"{pki.dir}/ca/station-ca.key",
        "--operator-organization", ORG, "--contract-root", f"{pki.dir}/mo-root.pem", "--renewal-interval", "1",
        "--firmware-root", f"{pki.dir}/firmware-root.pem", "--ocsp", "--contract-pool-url", f"{responders.url}/pool",
        # Longer than an OCSP deadline: a message that waits on a responder holds the station's socket reader.
        "--ping-interval", "30",
    ]).start()
    s.wss_url = f"wss://127.0.0.1:{tls_port}/ocpp"
    yield s
    s.destroy()


def basic(sid, password):
    return {"Authorization": "Basic " + base64.b64encode(f"{sid}:{password}".encode()).decode()}


async def attempt(url, sid, version="1.6", ctx=None, headers=None):
    """Connects and boots; True when the station was let in and its BootNotification answered."""
    cls = Station16 if version == "1.6" else Station201
    try:
        async with connect(f"{url}/{sid}", subprotocols=["ocpp1.6" if version == "1.6" else "ocpp2.0.1"], ssl=ctx,
                           additional_headers=headers or {}, open_timeout=10) as ws:
            cp = cls(sid, ws, response_timeout=10)
            task = asyncio.create_task(cp.start())
            try:
                if version == "1.6":
                    r = await cp.call(c16.BootNotification(charge_point_model="M", charge_point_vendor="V"))
                else:
                    r = await cp.call(c201.BootNotification(charging_station={"model": "M", "vendor_name": "V"}, reason="PowerUp"))
                return r.status == "Accepted"
            finally:
                task.cancel()
    except Exception:
        return False


def add_station(server, sid, profile, password=None):
    body = {"id": sid, "securityProfile": profile}
    if password:
        body["password"] = password
    status, out = server.api("POST", "/stations", body)
    assert status == 201, out


def test_the_profile_matrix_has_no_false_accept(secure, pki):
    tag = uuid.uuid4().hex[:6]
    s1, s2, s3 = f"SP1-{tag}", f"SP2-{tag}", f"SP3-{tag}"
    password = "p" * 20
    add_station(secure, s1, 1, password)
    add_station(secure, s2, 2, password)
    add_station(secure, s3, 3)
    good = pki.files(f"good-{tag}", *issue(pki.ca_cert, pki.ca_key, s3))
    other_cn = pki.files(f"cn-{tag}", *issue(pki.ca_cert, pki.ca_key, s2))
    other_o = pki.files(f"o-{tag}", *issue(pki.ca_cert, pki.ca_key, s3, o="Someone Else"))
    expired = pki.files(f"exp-{tag}", *issue(pki.ca_cert, pki.ca_key, s3, days=1, start=datetime.datetime.now(UTC) - datetime.timedelta(days=3)))
    foreign = pki.files(f"foreign-{tag}", *issue(pki.foreign_cert, pki.foreign_key, s3))
    revoked_cert, revoked_key = issue(pki.ca_cert, pki.ca_key, s3)
    revoked = pki.files(f"rev-{tag}", revoked_cert, revoked_key)
    fingerprint = hashlib.sha256(revoked_cert.public_bytes(serialization.Encoding.DER)).hexdigest()
    cli("certificate", "revoke", fingerprint, "--reason", "test", "--data-dir", secure.data_dir)
    time.sleep(6)  # every node reads the revocation list every 5 s

    wrong = "w" * 20
    plain, wss = secure.ws_url, secure.wss_url
    cases = [
        # (what, url, station, context, headers, expected)
        ("profile 2, right password over TLS", wss, s2, pki.client_context(), basic(s2, password), True),
        ("profile 2, wrong password over TLS", wss, s2, pki.client_context(), basic(s2, wrong), False),
        ("profile 2, no password over TLS", wss, s2, pki.client_context(), None, False),
        ("profile 2, right password over plain ws", plain, s2, None, basic(s2, password), False),
        ("profile 3, valid certificate", wss, s3, pki.client_context(good), None, True),
        ("profile 3, certificate of another station (CN)", wss, s3, pki.client_context(other_cn), None, False),
        ("profile 3, certificate of another organisation (O)", wss, s3, pki.client_context(other_o), None, False),
        ("profile 3, expired certificate", wss, s3, pki.client_context(expired), None, False),
        ("profile 3, untrusted issuer", wss, s3, pki.client_context(foreign), None, False),
        ("profile 3, revoked certificate", wss, s3, pki.client_context(revoked), None, False),
        ("profile 3, no certificate over TLS", wss, s3, pki.client_context(), None, False),
        ("profile 3, plain ws", plain, s3, None, None, False),
        ("profile 3, plain ws with a password", plain, s3, None, basic(s3, password), False),
        ("profile 1, right password over plain ws", plain, s1, None, basic(s1, password), True),
        ("profile 1, wrong password over plain ws", plain, s1, None, basic(s1, wrong), False),
    ]
    totals = {"accepted": 0, "refused": 0, "false_accepts": 0, "false_refusals": 0}
    for what, url, sid, ctx, headers, expected in cases:
        got = asyncio.run(attempt(url, sid, ctx=ctx, headers=headers))
        totals["accepted" if got else "refused"] += 1
        if got and not expected:
            totals["false_accepts"] += 1
        if expected and not got:
            totals["false_refusals"] += 1
        print(f"{'ACCEPT' if got else 'refuse'} {'ok ' if got == expected else 'BAD'} {what}")
    print("matrix totals:", totals)
    assert totals["false_accepts"] == 0, totals
    assert totals["false_refusals"] == 0, totals

    # The admin API shows the profile of each station's last connection.
    for sid, profile in [(s1, 1), (s2, 2), (s3, 3)]:
        status, body = secure.api("GET", f"/stations/{sid}")
        assert status == 200 and body["station"]["lastSecurityProfile"] == profile, body


def test_a_profile_only_goes_up_unless_an_admin_lowers_it(secure, pki):
    sid, password = f"SPU-{uuid.uuid4().hex[:6]}", "u" * 20
    add_station(secure, sid, 1, password)
    assert asyncio.run(attempt(secure.ws_url, sid, headers=basic(sid, password)))
    # Once over TLS, the station is at profile 2: plain ws is a downgrade and is refused.
    assert asyncio.run(attempt(secure.wss_url, sid, ctx=pki.client_context(), headers=basic(sid, password)))
    deadline = time.time() + 10
    while time.time() < deadline and secure.api("GET", f"/stations/{sid}")[1]["station"]["securityProfile"] != 2:
        time.sleep(0.2)
    assert secure.api("GET", f"/stations/{sid}")[1]["station"]["securityProfile"] == 2
    assert not asyncio.run(attempt(secure.ws_url, sid, headers=basic(sid, password)))
    # The admin lowers it explicitly; plain ws is let in again.
    status, body = secure.api("PATCH", f"/stations/{sid}", {"securityProfile": 1})
    assert status == 200 and body["station"]["securityProfile"] == 1, body
    assert asyncio.run(attempt(secure.ws_url, sid, headers=basic(sid, password)))
    status, body = secure.api("PATCH", f"/stations/{sid}", {"securityProfile": 4})
    assert status == 422, body


class Lifecycle16(Station16):
    @on("CertificateSigned")
    def certificate_signed(self, **kw):
        self._got("CertificateSigned", kw)
        return r16.CertificateSigned(status="Accepted")

    @on("ExtendedTriggerMessage")
    def extended_trigger(self, **kw):
        self._got("ExtendedTriggerMessage", kw)
        return r16.ExtendedTriggerMessage(status="Accepted")


class Lifecycle201(Station201):
    @on("CertificateSigned")
    def certificate_signed(self, **kw):
        self._got("CertificateSigned", kw)
        return r201.CertificateSigned(status="Accepted")


def csr_for(cn, o=ORG):
    key = ec.generate_private_key(ec.SECP256R1())
    request = x509.CertificateSigningRequestBuilder().subject_name(name(cn, o)).sign(key, hashes.SHA256())
    return request.public_bytes(serialization.Encoding.PEM).decode(), key


async def wait_for(cp, action, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        for a, kw in cp.received:
            if a == action:
                return kw
        await asyncio.sleep(0.1)
    raise AssertionError(f"no {action} within {timeout} s; got {[a for a, _ in cp.received]}")


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_csr_signed_certificate_reconnect_and_renewal(secure, pki, version):
    sid, password = f"LC{version.replace('.', '')}-{uuid.uuid4().hex[:6]}", "l" * 20
    add_station(secure, sid, 2, password)
    cls = Lifecycle16 if version == "1.6" else Lifecycle201
    proto = "ocpp1.6" if version == "1.6" else "ocpp2.0.1"
    M = c16 if version == "1.6" else c201

    async def enrol():
        async with connect(f"{secure.wss_url}/{sid}", subprotocols=[proto], ssl=pki.client_context(), additional_headers=basic(sid, password)) as ws:
            cp = cls(sid, ws, response_timeout=15)
            task = asyncio.create_task(cp.start())
            try:
                if version == "1.6":
                    await cp.call(c16.BootNotification(charge_point_model="M", charge_point_vendor="V"))
                else:
                    await cp.call(c201.BootNotification(charging_station={"model": "M", "vendor_name": "V"}, reason="PowerUp"))
                # A CSR for another station is refused; the station's own is accepted and signed.
                bad, _ = csr_for("SOMEONE-ELSE")
                assert (await cp.call(M.SignCertificate(csr=bad))).status == "Rejected"
                csr, key = csr_for(sid)
                assert (await cp.call(M.SignCertificate(csr=csr))).status == "Accepted"
                signed = await wait_for(cp, "CertificateSigned")
                return signed, key
            finally:
                task.cancel()

    signed, key = asyncio.run(enrol())
    chain = signed["certificate_chain"]
    leaf = x509.load_pem_x509_certificates(chain.encode())[0]
    assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == sid
    assert leaf.issuer == pki.ca_cert.subject
    pki.ca_cert.public_key().verify(leaf.signature, leaf.tbs_certificate_bytes, ec.ECDSA(leaf.signature_hash_algorithm))
    if version == "2.0.1":
        assert signed["certificate_type"] == "ChargingStationCertificate"
    fingerprint = hashlib.sha256(leaf.public_bytes(serialization.Encoding.DER)).hexdigest()
    rows = secure.sql(f"SELECT serial, not_after > now() + interval '300 days' FROM station_certificates WHERE fingerprint = '{fingerprint}' AND station_id = '{sid}'")
    assert rows and rows[0][1] == "t", rows
    deadline = time.time() + 10
    while time.time() < deadline and secure.sql(f"SELECT state FROM certificate_signing_requests WHERE station_id = '{sid}'") != [["accepted"]]:
        time.sleep(0.2)
    assert secure.sql(f"SELECT state FROM certificate_signing_requests WHERE station_id = '{sid}'") == [["accepted"]]

    files = (write(f"{pki.dir}/{sid}.pem", chain), write(f"{pki.dir}/{sid}.key", key_pem(key)))

    async def reconnect_and_renew():
        async with connect(f"{secure.wss_url}/{sid}", subprotocols=[proto], ssl=pki.client_context(files)) as ws:
            cp = cls(sid, ws, response_timeout=15)
            task = asyncio.create_task(cp.start())
            try:
                if version == "1.6":
                    await cp.call(c16.BootNotification(charge_point_model="M", charge_point_vendor="V"))
                else:
                    await cp.call(c201.BootNotification(charging_station={"model": "M", "vendor_name": "V"}, reason="PowerUp"))
                station = (await asyncio.to_thread(secure.api, "GET", f"/stations/{sid}"))[1]["station"]
                assert station["lastSecurityProfile"] == 3 and station["securityProfile"] == 3, station
                # Near its end, the certificate is renewed: the station is asked for a new CSR.
                await asyncio.to_thread(secure.sql, f"UPDATE station_certificates SET not_after = now() + interval '2 days' WHERE fingerprint = '{fingerprint}'")
                if version == "1.6":
                    kw = await wait_for(cp, "ExtendedTriggerMessage")
                    assert kw["requested_message"] == "SignChargePointCertificate"
                else:
                    kw = await wait_for(cp, "TriggerMessage")
                    assert kw["requested_message"] == "SignChargingStationCertificate"
            finally:
                task.cancel()

    asyncio.run(reconnect_and_renew())
    # Now at profile 3, the password alone no longer lets it in.
    assert not asyncio.run(attempt(secure.wss_url, sid, version=version, ctx=pki.client_context(), headers=basic(sid, password)))


def test_plug_and_charge_contracts(secure, pki, responders):
    sid = f"PNC-{uuid.uuid4().hex[:6]}"
    add_station(secure, sid, 0)
    emaid = "NL-VOL-C" + uuid.uuid4().hex[:8].upper()
    status, body = secure.api("POST", "/tokens", {"value": emaid, "type": "eMAID"})
    assert status == 201, body
    # Another driver's contract, a known token: a car must not pass as it.
    other = "NL-VOL-C" + uuid.uuid4().hex[:8].upper()
    assert secure.api("POST", "/tokens", {"value": other, "type": "eMAID"})[0] == 201
    good, _ = issue(pki.mo_cert, pki.mo_key, emaid, days=365)
    revoked, _ = issue(pki.mo_cert, pki.mo_key, emaid, days=365)
    expired, _ = issue(pki.mo_cert, pki.mo_key, emaid, days=1, start=datetime.datetime.now(UTC) - datetime.timedelta(days=3))
    other_root, other_key = make_ca("Unknown MO")
    stranger, _ = issue(other_root, other_key, emaid, days=365)
    # A contract under the MO's sub-CA, presented with it (the chain ISO 15118 has: MO root, sub-CA, contract).
    sub_key = ec.generate_private_key(ec.SECP256R1())
    t = datetime.datetime.now(UTC) - datetime.timedelta(hours=1)
    sub_ca = (
        x509.CertificateBuilder().subject_name(name("MO Sub-CA 1", ORG)).issuer_name(pki.mo_cert.subject).public_key(sub_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(t).not_valid_after(t + datetime.timedelta(days=1000))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
        .sign(pki.mo_key, hashes.SHA256())
    )
    under_sub, _ = issue(sub_ca, sub_key, emaid, days=365)
    write(f"{pki.dir}/mo.pem", pem(pki.mo_cert))
    write(f"{pki.dir}/revoked-contract.pem", pem(revoked))
    write(f"{pki.dir}/good-contract.pem", pem(good))
    cli("certificate", "contract", "--certificate", f"{pki.dir}/revoked-contract.pem", "--issuer", f"{pki.dir}/mo.pem", "--status", "revoked", "--data-dir", secure.data_dir)
    cli("certificate", "contract", "--certificate", f"{pki.dir}/good-contract.pem", "--issuer", f"{pki.dir}/mo.pem", "--status", "good", "--data-dir", secure.data_dir)

    def hash_data(cert):
        issuer_name = pki.mo_cert.subject.public_bytes()
        issuer_key = pki.mo_cert.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        return [{"hash_algorithm": "SHA256", "issuer_name_hash": hashlib.sha256(issuer_name).hexdigest(), "issuer_key_hash": hashlib.sha256(issuer_key).hexdigest(),
                 "serial_number": format(cert.serial_number, "x"), "responder_url": f"{responders.url}/nothing"}]

    async def run_all():
        async with connect(f"{secure.ws_url}/{sid}", subprotocols=["ocpp2.0.1"]) as ws:
            cp = Station201(sid, ws, response_timeout=15)
            task = asyncio.create_task(cp.start())
            try:
                await cp.call(c201.BootNotification(charging_station={"model": "M", "vendor_name": "V"}, reason="PowerUp"))
                token = {"id_token": emaid, "type": "eMAID"}
                out = {}
                for what, kwargs in [
                    ("valid", {"certificate": pem(good)}),
                    ("revoked", {"certificate": pem(revoked)}),
                    ("expired", {"certificate": pem(expired)}),
                    ("unknown root", {"certificate": pem(stranger)}),
                    ("valid, under a sub-CA", {"certificate": pem(under_sub) + pem(sub_ca)}),
                    ("under a sub-CA left out", {"certificate": pem(under_sub)}),
                    ("hashes of a listed contract", {"iso15118_certificate_hash_data": hash_data(good)}),
                    ("hashes of a revoked contract", {"iso15118_certificate_hash_data": hash_data(revoked)}),
                    ("hashes nobody knows", {"iso15118_certificate_hash_data": hash_data(expired)}),
                    ("valid, another eMAID's token", {"certificate": pem(good), "token": {"id_token": other, "type": "eMAID"}}),
                    ("hashes of a listed contract, another eMAID's token",
                     {"iso15118_certificate_hash_data": hash_data(good), "token": {"id_token": other, "type": "eMAID"}}),
                    ("the other contract's own token, plainly", {"token": {"id_token": other, "type": "eMAID"}}),
                ]:
                    t = kwargs.pop("token", token)
                    r = await cp.call(c201.Authorize(id_token=t, **kwargs))
                    out[what] = (r.id_token_info["status"], r.certificate_status)
                st = await cp.call(c201.GetCertificateStatus(ocsp_request_data=hash_data(good)[0]))
                out["status from a responder that does not answer it"] = st.status
                return out
            finally:
                task.cancel()

    out = asyncio.run(run_all())
    print(out)
    assert out == {
        "valid": ("Accepted", "Accepted"),
        "revoked": ("Invalid", "CertificateRevoked"),
        "expired": ("Invalid", "CertificateExpired"),
        "unknown root": ("Invalid", "CertChainError"),
        "valid, under a sub-CA": ("Accepted", "Accepted"),
        "under a sub-CA left out": ("Invalid", "CertChainError"),
        "hashes of a listed contract": ("Accepted", "Accepted"),
        "hashes of a revoked contract": ("Invalid", "CertificateRevoked"),
        "hashes nobody knows": ("Invalid", "NoCertificateAvailable"),
        "valid, another eMAID's token": ("Invalid", "Accepted"),
        "hashes of a listed contract, another eMAID's token": ("Invalid", "Accepted"),
        "the other contract's own token, plainly": ("Accepted", None),
        "status from a responder that does not answer it": "Failed",
    }, out


class Trusting16(Lifecycle16):
    @on("InstallCertificate")
    def install(self, **kw):
        self._got("InstallCertificate", kw)
        return r16.InstallCertificate(status="Accepted")

    @on("GetInstalledCertificateIds")
    def installed(self, **kw):
        self._got("GetInstalledCertificateIds", kw)
        return r16.GetInstalledCertificateIds(status="NotFound")

    @on("DeleteCertificate")
    def delete(self, **kw):
        self._got("DeleteCertificate", kw)
        return r16.DeleteCertificate(status="Accepted")


class Trusting201(Lifecycle201):
    @on("SetNetworkProfile")
    def set_network_profile(self, **kw):
        self._got("SetNetworkProfile", kw)
        return r201.SetNetworkProfile(status="Accepted")

    @on("InstallCertificate")
    def install(self, **kw):
        self._got("InstallCertificate", kw)
        return r201.InstallCertificate(status="Accepted")

    @on("GetInstalledCertificateIds")
    def installed(self, **kw):
        self._got("GetInstalledCertificateIds", kw)
        return r201.GetInstalledCertificateIds(status="NotFound")

    @on("DeleteCertificate")
    def delete(self, **kw):
        self._got("DeleteCertificate", kw)
        return r201.DeleteCertificate(status="Accepted")


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_the_api_installs_lists_and_deletes_trusted_certificates_in_the_stations_version(secure, pki, version):
    sid = f"TR{version.replace('.', '')}-{uuid.uuid4().hex[:6]}"
    add_station(secure, sid, 0)
    cls = Trusting16 if version == "1.6" else Trusting201
    root_pem = open(f"{pki.dir}/ca/station-ca.pem").read()

    async def scenario():
        async with connect(f"{secure.ws_url}/{sid}", subprotocols=["ocpp1.6" if version == "1.6" else "ocpp2.0.1"]) as ws:
            cp = cls(sid, ws, response_timeout=15)
            task = asyncio.create_task(cp.start())
            try:
                api = lambda *a: asyncio.to_thread(secure.api, *a)  # noqa: E731
                status, body = await api("POST", f"/stations/{sid}/certificates/install", {"certificateType": "CSMSRootCertificate", "certificate": root_pem})
                assert status == 200 and body["response"]["status"] == "Accepted", body
                kw = await wait_for(cp, "InstallCertificate")
                assert kw["certificate_type"] == ("CentralSystemRootCertificate" if version == "1.6" else "CSMSRootCertificate")
                status, body = await api("POST", f"/stations/{sid}/certificates/install", {"certificateType": "CSMSRootCertificate", "certificate": "not a certificate"})
                assert status == 422 and "certificate" in body["detail"], body
                status, body = await api("POST", f"/stations/{sid}/certificates/install", {"certificateType": "Nonsense", "certificate": root_pem})
                assert status == 422, body
                status, body = await api("GET", f"/stations/{sid}/certificates/installed?type=CSMSRootCertificate")
                assert status == 200 and body["response"]["status"] == "NotFound", body
                status, body = await api("POST", f"/stations/{sid}/certificates/delete",
                                         {"hashAlgorithm": "SHA256", "issuerNameHash": "ab" * 32, "issuerKeyHash": "cd" * 32, "serialNumber": "0102"})
                assert status == 200 and body["response"]["status"] == "Accepted", body
                assert (await wait_for(cp, "DeleteCertificate"))["certificate_hash_data"]["serial_number"] == "0102"
                status, body = await api("POST", f"/stations/{sid}/certificates/delete", {"hashAlgorithm": "MD5", "issuerNameHash": "ab", "issuerKeyHash": "cd", "serialNumber": "01"})
                assert status == 422 and "hashAlgorithm" in body["detail"], body
                # Raising the profile asks the station in its own terms.
                if version == "1.6":
                    status, body = await api("POST", f"/stations/{sid}/security-profile", {"securityProfile": 3})
                    assert status == 200, body
                    kw = await wait_for(cp, "ChangeConfiguration")
                    assert kw["key"] == "SecurityProfile" and kw["value"] == "3"
                else:
                    # A05: a new network slot at profile 3, that slot first in the priority list, then a reset.
                    status, body = await api("POST", f"/stations/{sid}/security-profile", {"securityProfile": 3})
                    assert status == 422 and "csmsUrl" in body["detail"], body
                    status, body = await api("POST", f"/stations/{sid}/security-profile", {"securityProfile": 3, "csmsUrl": "ws://127.0.0.1/ocpp/"})
                    assert status == 422 and "wss" in body["detail"], body
                    status, body = await api("POST", f"/stations/{sid}/security-profile", {"securityProfile": 3, "csmsUrl": secure.wss_url + "/"})
                    assert status == 200 and body["action"] == "Reset", body
                    kw = await wait_for(cp, "SetNetworkProfile")
                    assert kw["configuration_slot"] == 2 and kw["connection_data"]["security_profile"] == 3, kw
                    kw = await wait_for(cp, "SetVariables")
                    assert kw["set_variable_data"][0]["variable"]["name"] == "NetworkConfigurationPriority"
                    assert kw["set_variable_data"][0]["attribute_value"] == "2,42", kw
                    assert (await wait_for(cp, "Reset"))["type"] == "OnIdle"
                # The renewal the admin asks for.
                status, body = await api("POST", f"/stations/{sid}/certificates/renew")
                assert status == 200, body
                await wait_for(cp, "ExtendedTriggerMessage" if version == "1.6" else "TriggerMessage")
            finally:
                task.cancel()

    asyncio.run(scenario())
    # The station's floor did not move: it never connected at profile 3.
    assert secure.api("GET", f"/stations/{sid}")[1]["station"]["securityProfile"] == 0


def test_revocation_through_the_api(secure, pki):
    fingerprint = "ab" * 32
    status, body = secure.api("POST", "/certificates/revocations", {"certificate": fingerprint, "reason": "lost"})
    assert status == 201 and body == {"fingerprint": fingerprint, "alreadyRevoked": False}, body
    status, body = secure.api("POST", "/certificates/revocations", {"certificate": fingerprint})
    assert status == 200 and body["alreadyRevoked"] is True, body
    status, body = secure.api("POST", "/certificates/revocations", {"certificate": "0fedcba987"})
    assert status == 404, body
    status, body = secure.api("POST", "/certificates/revocations", {"certificate": "not hex"})
    assert status == 422, body


def test_sighup_reloads_the_server_certificate_without_dropping_connections(secure, pki):
    sid, password = f"HUP-{uuid.uuid4().hex[:6]}", "h" * 20
    add_station(secure, sid, 2, password)
    port = int(secure.wss_url.split(":")[2].split("/")[0])

    def served_fingerprint():
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        import socket
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, ctx.wrap_socket(raw) as s:
            return hashlib.sha256(s.getpeercert(binary_form=True)).hexdigest()

    before = served_fingerprint()

    async def scenario():
        async with connect(f"{secure.wss_url}/{sid}", subprotocols=["ocpp1.6"], ssl=pki.client_context(), additional_headers=basic(sid, password)) as ws:
            cp = Station16(sid, ws, response_timeout=15)
            task = asyncio.create_task(cp.start())
            try:
                await cp.call(c16.BootNotification(charge_point_model="M", charge_point_vendor="V"))
                # A new certificate in place, then SIGHUP: new connections get it, this one goes on.
                await asyncio.to_thread(cli, "tls", "self-signed", "--dir", f"{pki.dir}/tls", "--host", "127.0.0.1", "--host", "localhost")
                os.kill(secure.process.pid, __import__("signal").SIGHUP)
                deadline = time.time() + 10
                after = before
                while time.time() < deadline and after == before:
                    await asyncio.sleep(0.2)
                    after = await asyncio.to_thread(served_fingerprint)
                assert after != before, "the listener still serves the old certificate"
                with open(f"{pki.dir}/tls/server.pem", "rb") as f:
                    new = x509.load_pem_x509_certificate(f.read())
                assert after == hashlib.sha256(new.public_bytes(serialization.Encoding.DER)).hexdigest()
                r = await cp.call(c16.Heartbeat())
                assert r.current_time
            finally:
                task.cancel()

    asyncio.run(scenario())
    # And a new station connection trusts the new certificate.
    assert asyncio.run(attempt(secure.wss_url, sid, ctx=pki.client_context(), headers=basic(sid, password)))


class Updating16(Station16):
    @on("SignedUpdateFirmware")
    def signed_update(self, **kw):
        self._got("SignedUpdateFirmware", kw)
        return r16.SignedUpdateFirmware(status="Accepted")

    @on("UpdateFirmware")
    def update(self, **kw):
        self._got("UpdateFirmware", kw)
        return r16.UpdateFirmware()


class Updating201(Station201):
    @on("UpdateFirmware")
    def update(self, **kw):
        self._got("UpdateFirmware", kw)
        return r201.UpdateFirmware(status="Accepted")


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_a_signed_firmware_update_is_sent_only_when_its_image_verifies(secure, pki, version):
    import http.server
    import threading
    from cryptography.hazmat.primitives.asymmetric import ec as _ec

    image = os.urandom(200_000)

    class Images(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path != "/fw.bin":
                self.send_response(404)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(image)))
            self.end_headers()
            self.wfile.write(image)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Images)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    location = f"http://127.0.0.1:{httpd.server_address[1]}/fw.bin"
    signer, signer_key = issue(pki.maker_cert, pki.maker_key, "Firmware Signer", usage=ExtendedKeyUsageOID.CODE_SIGNING)
    stranger, stranger_key = issue(pki.foreign_cert, pki.foreign_key, "Firmware Signer", usage=ExtendedKeyUsageOID.CODE_SIGNING)

    def sign(key, data):
        return base64.b64encode(key.sign(data, _ec.ECDSA(hashes.SHA256()))).decode()

    good = {"location": location, "signingCertificate": pem(signer), "signature": sign(signer_key, image)}
    sid = f"FW{version.replace('.', '')}-{uuid.uuid4().hex[:6]}"
    add_station(secure, sid, 0)
    cls = Updating16 if version == "1.6" else Updating201
    sent_action = "SignedUpdateFirmware" if version == "1.6" else "UpdateFirmware"

    async def scenario():
        async with connect(f"{secure.ws_url}/{sid}", subprotocols=["ocpp1.6" if version == "1.6" else "ocpp2.0.1"]) as ws:
            cp = cls(sid, ws, response_timeout=15)
            task = asyncio.create_task(cp.start())
            try:
                api = lambda *a: asyncio.to_thread(secure.api, *a)  # noqa: E731
                refusals = [
                    ({**good, "signature": sign(signer_key, image + b"x")}, 422, "signature"),
                    ({**good, "signingCertificate": pem(stranger), "signature": sign(stranger_key, image)}, 422, "signingCertificate"),
                    ({**good, "signature": "%%%"}, 422, "signature"),
                    ({**good, "location": location.replace("fw.bin", "missing.bin")}, 502, "location"),
                    ({**good, "location": "ftp://example.com/fw.bin"}, 422, "location"),
                ]
                for body, code, field in refusals:
                    status, out = await api("POST", f"/stations/{sid}/firmware", body)
                    assert status == code and field in out["detail"], (body.get("location"), out)
                # The raw command path is held to the same check.
                raw_fw = {**good, "signature": sign(signer_key, b"another image"), "retrieveDateTime": now()}
                raw = {"requestId": 7, "firmware": raw_fw}
                status, out = await api("POST", f"/stations/{sid}/commands/{sent_action}", raw)
                assert status == 422, out
                assert not [a for a, _ in cp.received if a == sent_action], "a refused update reached the station"
                status, out = await api("POST", f"/stations/{sid}/firmware", good)
                assert status == 200 and out["action"] == sent_action, out
                kw = await wait_for(cp, sent_action)
                assert kw["firmware"]["signature"] == good["signature"] and kw["firmware"]["location"] == location
            finally:
                task.cancel()

    try:
        asyncio.run(scenario())
    finally:
        httpd.shutdown()


def test_revoking_a_connected_stations_certificate_disconnects_it(secure, pki):
    sid = f"RVK-{uuid.uuid4().hex[:6]}"
    add_station(secure, sid, 3)
    cert, key = issue(pki.ca_cert, pki.ca_key, sid)
    files = pki.files(f"rvk-{sid}", cert, key)
    fingerprint = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()

    async def scenario():
        async with connect(f"{secure.wss_url}/{sid}", subprotocols=["ocpp1.6"], ssl=pki.client_context(files)) as ws:
            cp = Station16(sid, ws, response_timeout=15)
            task = asyncio.create_task(cp.start())
            try:
                await cp.call(c16.BootNotification(charge_point_model="M", charge_point_vendor="V"))
                deadline = time.time() + 10
                while time.time() < deadline and secure.sql(f"SELECT last_certificate FROM stations WHERE id = '{sid}'") != [[fingerprint]]:
                    await asyncio.sleep(0.2)
                await asyncio.to_thread(cli, "certificate", "revoke", fingerprint, "--data-dir", secure.data_dir)
                # Every node reads the list every 5 s and closes what used the certificate.
                await asyncio.wait_for(ws.wait_closed(), timeout=15)
                return ws.close_code
            finally:
                task.cancel()

    assert asyncio.run(scenario()) == 1008
    assert not asyncio.run(attempt(secure.wss_url, sid, ctx=pki.client_context(files)))


def test_the_cli_installs_a_certificate_through_the_running_server(secure, pki):
    from voltaic_server import ADMIN_TOKEN
    sid = f"CLI-{uuid.uuid4().hex[:6]}"
    add_station(secure, sid, 0)
    api = ["--server", secure.base_url, "--admin-token", ADMIN_TOKEN]

    async def scenario():
        async with connect(f"{secure.ws_url}/{sid}", subprotocols=["ocpp2.0.1"]) as ws:
            cp = Trusting201(sid, ws, response_timeout=15)
            task = asyncio.create_task(cp.start())
            try:
                out = await asyncio.to_thread(cli, "certificate", "install", sid, "--type", "MORootCertificate", "--certificate", f"{pki.dir}/mo-root.pem", *api)
                assert '"Accepted"' in out, out
                assert (await wait_for(cp, "InstallCertificate"))["certificate_type"] == "MORootCertificate"
                r = await asyncio.to_thread(subprocess.run, [BINARY, "certificate", "install", sid, "--type", "Bogus", "--certificate", f"{pki.dir}/mo-root.pem", *api],
                                            capture_output=True, text=True, timeout=60)
                assert r.returncode != 0 and "certificateType" in r.stderr, (r.stdout, r.stderr)
                out = await asyncio.to_thread(cli, "certificate", "installed", sid, "--type", "MORootCertificate", *api)
                assert '"NotFound"' in out, out
            finally:
                task.cancel()

    asyncio.run(scenario())


def test_ocsp_answers_and_the_contract_pool(secure, pki, responders):
    from cryptography.x509 import ocsp

    sid = f"OCSP-{uuid.uuid4().hex[:6]}"
    add_station(secure, sid, 0)
    emaid = "NL-VOL-C" + uuid.uuid4().hex[:8].upper()
    assert secure.api("POST", "/tokens", {"value": emaid, "type": "eMAID"})[0] == 201
    responder = f"{responders.url}/ocsp"
    good, _ = issue(pki.mo_cert, pki.mo_key, emaid, days=365, ocsp_url=responder)
    revoked, _ = issue(pki.mo_cert, pki.mo_key, emaid, days=365, ocsp_url=responder)
    forged, _ = issue(pki.mo_cert, pki.mo_key, emaid, days=365, ocsp_url=responder)
    responders.statuses[good.serial_number] = (good, "good", pki.mo_key, pki.mo_cert)
    responders.statuses[revoked.serial_number] = (revoked, "revoked", pki.mo_key, pki.mo_cert)
    # "good", but signed by a key that is not the issuer's (nor one it delegated to): not to be believed.
    responders.statuses[forged.serial_number] = (forged, "good", pki.foreign_key, pki.foreign_cert)

    def hashes_of(cert):
        issuer_key = pki.mo_cert.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        return {"hash_algorithm": "SHA256", "issuer_name_hash": hashlib.sha256(pki.mo_cert.subject.public_bytes()).hexdigest(),
                "issuer_key_hash": hashlib.sha256(issuer_key).hexdigest(), "serial_number": format(cert.serial_number, "x"), "responder_url": responder}

    async def run_all():
        async with connect(f"{secure.ws_url}/{sid}", subprotocols=["ocpp2.0.1"]) as ws:
            cp = Station201(sid, ws, response_timeout=15)
            task = asyncio.create_task(cp.start())
            try:
                await cp.call(c201.BootNotification(charging_station={"model": "M", "vendor_name": "V"}, reason="PowerUp"))
                token = {"id_token": emaid, "type": "eMAID"}
                out = {}
                for what, kwargs in [
                    ("hashes, OCSP good", {"iso15118_certificate_hash_data": [hashes_of(good)]}),
                    ("hashes, OCSP revoked", {"iso15118_certificate_hash_data": [hashes_of(revoked)]}),
                    ("hashes, OCSP good but forged", {"iso15118_certificate_hash_data": [hashes_of(forged)]}),
                    ("certificate, OCSP revoked", {"certificate": pem(revoked)}),
                    ("certificate, OCSP good", {"certificate": pem(good)}),
                ]:
                    r = await cp.call(c201.Authorize(id_token=token, **kwargs))
                    out[what] = (r.id_token_info["status"], r.certificate_status)
                st = await cp.call(c201.GetCertificateStatus(ocsp_request_data=hashes_of(good)))
                assert st.status == "Accepted", st
                relayed = ocsp.load_der_ocsp_response(base64.b64decode(st.ocsp_result))
                out["relayed status"] = relayed.certificate_status.name
                ev = await cp.call(c201.Get15118EVCertificate(iso15118_schema_version="urn:iso:15118:2:2013:MsgDef", action="Install", exi_request=base64.b64encode(b"req").decode()))
                out["install"] = (ev.status, base64.b64decode(ev.exi_response))
                ev = await cp.call(c201.Get15118EVCertificate(iso15118_schema_version="urn:iso:15118:2:2013:MsgDef", action="Update", exi_request=base64.b64encode(b"req").decode()))
                out["update"] = (ev.status, ev.status_info["reason_code"])
                return out
            finally:
                task.cancel()

    out = asyncio.run(run_all())
    print(out)
    assert out == {
        "hashes, OCSP good": ("Accepted", "Accepted"),
        "hashes, OCSP revoked": ("Invalid", "CertificateRevoked"),
        "hashes, OCSP good but forged": ("Invalid", "NoCertificateAvailable"),
        "certificate, OCSP revoked": ("Invalid", "CertificateRevoked"),
        "certificate, OCSP good": ("Accepted", "Accepted"),
        "relayed status": "GOOD",
        "install": ("Accepted", b"EXI:req"),
        "update": ("Failed", "PoolRefused"),
    }, out
    assert responders.pool_requests[0] == {"iso15118SchemaVersion": "urn:iso:15118:2:2013:MsgDef", "action": "Install", "exiRequest": base64.b64encode(b"req").decode()}


def test_only_tls_1_2_and_1_3_with_the_suites_ocpp_names(secure, pki):
    import socket
    port = int(secure.wss_url.split(":")[2].split("/")[0])

    def handshake(ciphers=None, maximum=None, minimum=None):
        ctx = pki.client_context()
        if maximum:
            ctx.maximum_version = maximum
        if minimum:
            ctx.minimum_version = minimum
        if ciphers:
            ctx.set_ciphers(ciphers)
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                return s.version(), s.cipher()[0]
        except (ssl.SSLError, OSError):
            return None

    assert handshake(minimum=ssl.TLSVersion.TLSv1_3)[0] == "TLSv1.3"
    version, suite = handshake(maximum=ssl.TLSVersion.TLSv1_2)
    assert version == "TLSv1.2" and suite in ("ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384"), suite
    # TLS 1.2 suites OCPP does not name (CBC, ChaCha20) are refused by the server.
    for suite in ["ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305"]:
        assert handshake(ciphers=suite, maximum=ssl.TLSVersion.TLSv1_2) is None, suite


def upgrade_over(sock_ctx, port, sid, session=None):
    """A raw WebSocket upgrade over TLS (to reuse a TLS session, which websockets cannot): the HTTP status, and the
    TLS session and whether it was resumed."""
    import socket
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, sock_ctx.wrap_socket(raw, server_hostname="127.0.0.1", session=session) as s:
        key = base64.b64encode(os.urandom(16)).decode()
        s.sendall((f"GET /ocpp/{sid} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ocpp1.6\r\n\r\n").encode())
        try:
            head = s.recv(4096).decode(errors="replace")
            status = int(head.split(" ")[1]) if head.startswith("HTTP/1.1 ") else 0
        except (ssl.SSLError, OSError, IndexError, ValueError):
            status = 0
        return status, s.session, s.session_reused


def test_a_resumed_tls_session_does_not_outlive_a_revocation(secure, pki):
    sid = f"RES-{uuid.uuid4().hex[:6]}"
    add_station(secure, sid, 3)
    cert, key = issue(pki.ca_cert, pki.ca_key, sid)
    files = pki.files(f"res-{sid}", cert, key)
    port = int(secure.wss_url.split(":")[2].split("/")[0])
    ctx = pki.client_context(files)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2  # the session is known once the handshake ends
    status, session, _ = upgrade_over(ctx, port, sid)
    assert status == 101, status
    status, session2, reused = upgrade_over(ctx, port, sid, session=session)
    assert status == 101 and reused, (status, reused)
    fingerprint = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()
    cli("certificate", "revoke", fingerprint, "--data-dir", secure.data_dir)
    time.sleep(6)
    # The resumed session skips the certificate check of the TLS handshake; the upgrade checks again.
    status, _, reused = upgrade_over(ctx, port, sid, session=session2)
    print("after revocation: status", status, "resumed", reused)
    assert status != 101, status


def test_signcertificate_needs_tls_and_the_station_ca_signs_no_v2g_certificate(secure, pki):
    from ocpp.exceptions import SecurityError
    sid, password = f"SCT-{uuid.uuid4().hex[:6]}", "s" * 20
    add_station(secure, sid, 1, password)

    async def over(url, ctx):
        async with connect(f"{url}/{sid}", subprotocols=["ocpp2.0.1"], ssl=ctx, additional_headers=basic(sid, password)) as ws:
            cp = Station201(sid, ws, response_timeout=15)
            task = asyncio.create_task(cp.start())
            try:
                await cp.call(c201.BootNotification(charging_station={"model": "M", "vendor_name": "V"}, reason="PowerUp"))
                csr, _ = csr_for(sid)
                if ctx is None:
                    try:
                        await cp.call(c201.SignCertificate(csr=csr), suppress=False)
                    except SecurityError:
                        return "SecurityError"
                    return "answered"
                return (await cp.call(c201.SignCertificate(csr=csr, certificate_type="V2GCertificate"))).status
            finally:
                task.cancel()

    # Over plain ws:// with a password (profile 1), no CSR is signed.
    assert asyncio.run(over(secure.ws_url, None)) == "SecurityError"
    # Over TLS, a V2G CSR is refused: the station CA signs charging station certificates only.
    assert asyncio.run(over(secure.wss_url, pki.client_context())) == "Rejected"
    assert secure.sql(f"SELECT count(*) FROM certificate_signing_requests WHERE station_id = '{sid}'") == [["0"]]


def test_raw_commands_that_change_trust_need_the_admin_role(secure, pki):
    from test_api_access import add_key
    _, operator = add_key(secure, "op-" + uuid.uuid4().hex[:6], "operator")
    sid = f"RAW-{uuid.uuid4().hex[:6]}"
    add_station(secure, sid, 0)
    for action, payload in [
        ("InstallCertificate", {"certificateType": "CSMSRootCertificate", "certificate": "x"}),
        ("ChangeConfiguration", {"key": "SecurityProfile", "value": "0"}),
        ("ChangeConfiguration", {"key": "AuthorizationKey", "value": "0123456789abcdef"}),
        ("SetVariables", {"setVariableData": [{"component": {"name": "SecurityCtrlr"}, "variable": {"name": "BasicAuthPassword"}, "attributeValue": "x"}]}),
        ("CertificateSigned", {"certificateChain": "x"}),
    ]:
        status, body = secure.api("POST", f"/stations/{sid}/commands/{action}", payload, token=operator)
        assert status == 403, (action, body)
    # Other commands stay an operator's (the station is not connected: 409, past the role check).
    status, body = secure.api("POST", f"/stations/{sid}/commands/ChangeConfiguration", {"key": "HeartbeatInterval", "value": "60"}, token=operator)
    assert status == 409, body
