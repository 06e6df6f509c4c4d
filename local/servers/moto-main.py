"""moto's server mode (PyPI moto[server]) on 127.0.0.1 for the tests: AWS APIs without a local server
of their own (IoT control plane, CloudFormation). Started by local/servers/moto.ts.

Usage: moto-main.py <port>

Two fidelity fixes. Certificate ids are the SHA-256 of the certificate's DER, as in AWS IoT (moto's
`iot.use_valid_cert` setting; its default hashes the PEM text). And moto 5.2.5's CreateCertificateFromCsr returns a certificate for a fresh RSA key of
its own instead of the CSR's public key, so the device's key could never use it. AWS IoT certifies the
CSR's key; here it does too (issuer and validity as moto's, signed by a throwaway CA key).
"""

import ctypes
import os
import signal
import sys
from datetime import datetime, timedelta, timezone

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from moto import settings
from moto.iot.exceptions import InvalidRequestException
from moto.iot.models import IoTBackend
from moto.server import main

ISSUER = x509.Name(
    [
        x509.NameAttribute(x509.NameOID.COUNTRY_NAME, "US"),
        x509.NameAttribute(x509.NameOID.ORGANIZATION_NAME, "Moto"),
        x509.NameAttribute(x509.NameOID.ORGANIZATIONAL_UNIT_NAME, "Server CA 1B"),
        x509.NameAttribute(x509.NameOID.COMMON_NAME, "Moto"),
    ]
)


def create_certificate_from_csr(self, csr, set_as_active):
    try:
        request = x509.load_pem_x509_csr(csr.encode("utf-8"))
    except ValueError as error:
        raise InvalidRequestException(f"the CSR cannot be parsed: {error}")
    if not request.is_signature_valid:
        raise InvalidRequestException("the CSR's signature does not verify")
    now = datetime.now(timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(request.subject)
        .issuer_name(ISSUER)
        .public_key(request.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=365))
        .sign(ec.generate_private_key(ec.SECP256R1()), hashes.SHA256())
    )
    pem = certificate.public_bytes(serialization.Encoding.PEM).decode("utf-8")
    return self.register_certificate(
        pem, ca_certificate_pem=None, set_as_active=set_as_active, status="INACTIVE"
    )


IoTBackend.create_certificate_from_csr = create_certificate_from_csr
settings.default_user_config.setdefault("iot", {})["use_valid_cert"] = True

if __name__ == "__main__":
    # No orphan when the Node process that started us dies (even by SIGKILL): PR_SET_PDEATHSIG.
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)
    parent = os.environ.get("TRIBUTARY_PARENT_PID")
    if parent is not None and os.getppid() != int(parent):
        sys.exit(0)
    main(["-H", "127.0.0.1", "-p", sys.argv[1]])
