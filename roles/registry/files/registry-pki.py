#!/usr/bin/env python3
"""Keep the registry's CA and one server certificate in a directory of the controller.

Usage: registry-pki.py --dir DIR --name NAME [--dns NAME ...] [--ip ADDRESS ...]
                       [--ca-cn CN] [--ca-days N] [--days N] [--renew-days N] [--check]

DIR/ca.crt and DIR/ca.key are created once and never replaced. DIR/NAME.crt and
DIR/NAME.key (the server certificate signed by the CA and its key) are (re)made only
when missing, not signed by that CA, not valid for exactly the requested names and
addresses, or expiring within --renew-days days. --check reports without writing.
Prints one JSON object: {"changed": bool, "ca_changed": bool, "reasons": [...]}.
Needs the Python "cryptography" library, 40 or newer (ansible-core depends on it).
"""
import argparse
import datetime
import ipaddress
import json
import os
import sys

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def now():
    return datetime.datetime.now(datetime.timezone.utc)


def write_private(path, data):
    fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(path + ".tmp", path)


def write_public(path, data):
    with open(path + ".tmp", "wb") as handle:
        handle.write(data)
    os.chmod(path + ".tmp", 0o644)
    os.replace(path + ".tmp", path)


def key_pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def not_after(cert):
    return cert.not_valid_after_utc if hasattr(cert, "not_valid_after_utc") else \
        cert.not_valid_after.replace(tzinfo=datetime.timezone.utc)


def make_ca(args, ca_crt, ca_key):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, args.ca_cn)])
    start = now() - datetime.timedelta(minutes=5)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(start)
            .not_valid_after(start + datetime.timedelta(days=args.ca_days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    write_private(ca_key, key_pem(key))
    write_public(ca_crt, cert.public_bytes(serialization.Encoding.PEM))


def server_reasons(args, ca_cert, crt_path, key_path):
    if not (os.path.exists(crt_path) and os.path.exists(key_path)):
        return ["missing"]
    with open(crt_path, "rb") as handle:
        cert = x509.load_pem_x509_certificate(handle.read())
    with open(key_path, "rb") as handle:
        key = serialization.load_pem_private_key(handle.read(), password=None)
    reasons = []
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):
        reasons.append("not signed by the CA")
    if key.public_key().public_numbers() != cert.public_key().public_numbers():
        reasons.append("key does not match")
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns = sorted(san.get_values_for_type(x509.DNSName))
        ips = sorted(str(ip) for ip in san.get_values_for_type(x509.IPAddress))
    except x509.ExtensionNotFound:
        dns, ips = [], []
    if dns != sorted(set(args.dns)) or ips != sorted({str(ipaddress.ip_address(ip)) for ip in args.ip}):
        reasons.append("other names or addresses")
    if not_after(cert) - now() < datetime.timedelta(days=args.renew_days):
        reasons.append("expires within %d days" % args.renew_days)
    return reasons


def make_server(args, ca_cert, ca_key, crt_path, key_path):
    key = ec.generate_private_key(ec.SECP256R1())
    common = args.dns[0] if args.dns else args.ip[0]
    names = [x509.DNSName(name) for name in sorted(set(args.dns))]
    names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in sorted({str(ipaddress.ip_address(i)) for i in args.ip})]
    start = now() - datetime.timedelta(minutes=5)
    end = min(start + datetime.timedelta(days=args.days), not_after(ca_cert))
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)]))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(start).not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    write_private(key_path, key_pem(key))
    write_public(crt_path, cert.public_bytes(serialization.Encoding.PEM))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--dns", action="append", default=[])
    parser.add_argument("--ip", action="append", default=[])
    parser.add_argument("--ca-cn", default="CloudOS registry CA")
    parser.add_argument("--ca-days", type=int, default=3650)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--renew-days", type=int, default=30)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    if not args.dns and not args.ip:
        parser.error("give at least one --dns or --ip")
    if args.renew_days >= args.days:
        parser.error("--renew-days must be smaller than --days")

    result = {"changed": False, "ca_changed": False, "reasons": []}
    ca_crt, ca_key = os.path.join(args.dir, "ca.crt"), os.path.join(args.dir, "ca.key")
    crt_path = os.path.join(args.dir, args.name + ".crt")
    key_path = os.path.join(args.dir, args.name + ".key")
    if not os.path.isdir(args.dir):
        if args.check:
            result.update(changed=True, ca_changed=True, reasons=["no CA yet"])
            print(json.dumps(result))
            return 0
        os.makedirs(args.dir, mode=0o700)
    if not (os.path.exists(ca_crt) and os.path.exists(ca_key)):
        if os.path.exists(ca_crt) or os.path.exists(ca_key):
            sys.exit("only one of ca.crt and ca.key exists in %s: restore the other or remove both" % args.dir)
        result.update(changed=True, ca_changed=True)
        result["reasons"].append("no CA yet")
        if args.check:
            print(json.dumps(result))
            return 0
        make_ca(args, ca_crt, ca_key)
    with open(ca_crt, "rb") as handle:
        ca_cert = x509.load_pem_x509_certificate(handle.read())
    with open(ca_key, "rb") as handle:
        ca_key_obj = serialization.load_pem_private_key(handle.read(), password=None)
    reasons = server_reasons(args, ca_cert, crt_path, key_path)
    if reasons:
        result["changed"] = True
        result["reasons"].extend(reasons)
        if not args.check:
            make_server(args, ca_cert, ca_key_obj, crt_path, key_path)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
