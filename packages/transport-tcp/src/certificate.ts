// A self-signed TLS certificate for the image server. Nodes pin it by the SHA-256 of its DER
// encoding (WifiMethod.server_cert_sha256), so no CA is involved.
import { createHash, generateKeyPairSync, randomBytes, X509Certificate } from "node:crypto";
import { isIP } from "node:net";
import forge from "node-forge";

/** A certificate and its key, PEM-encoded, with the pin nodes check. */
export interface SelfSignedCertificate {
  /** Certificate, PEM. */
  readonly cert: string;
  /** Private key (RSA 2048, PKCS#1), PEM. Secret: never log it. */
  readonly key: string;
  /** Certificate, DER. */
  readonly der: Uint8Array;
  /** SHA-256 of `der` (32 bytes), for WifiMethod.server_cert_sha256. */
  readonly sha256: Uint8Array;
}

/** Options of a generated certificate. */
export interface CertificateOptions {
  /** Subject common name (default "meshota image server"). */
  commonName: string;
  /** Host names and IP addresses the certificate names (default localhost, 127.0.0.1). */
  hosts: readonly string[];
  /** Days of validity from now (default 365). */
  days: number;
}

const DEFAULTS: Readonly<CertificateOptions> = Object.freeze({
  commonName: "meshota image server",
  hosts: Object.freeze(["localhost", "127.0.0.1"]),
  days: 365,
});

/** SHA-256 of the DER encoding of a PEM certificate: the pin of WifiMethod.server_cert_sha256. */
export function certificateSha256(pem: string): Uint8Array {
  return new Uint8Array(createHash("sha256").update(new X509Certificate(pem).raw).digest());
}

/**
 * Generates an RSA-2048 key (node:crypto) and a self-signed X.509 v3 server certificate
 * (node-forge) for `hosts`.
 */
export function generateSelfSignedCertificate(options: Partial<CertificateOptions> = {}): SelfSignedCertificate {
  const o = { ...DEFAULTS, ...options };
  if (!Number.isInteger(o.days) || o.days < 1) throw new RangeError(`days ${o.days} is not a positive integer`);
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const key = privateKey.export({ type: "pkcs1", format: "pem" }).toString();
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKey.export({ type: "pkcs1", format: "pem" }).toString());
  // A positive serial: the first byte's top bit clear.
  const serial = randomBytes(16);
  serial[0] = serial[0]! & 0x7f;
  cert.serialNumber = serial.toString("hex");
  const now = Date.now();
  cert.validity.notBefore = new Date(now - 60_000);
  cert.validity.notAfter = new Date(now + o.days * 86_400_000);
  const name = [{ name: "commonName", value: o.commonName }];
  cert.setSubject(name);
  cert.setIssuer(name);
  cert.setExtensions([
    { name: "basicConstraints", cA: false },
    { name: "keyUsage", digitalSignature: true, keyEncipherment: true },
    { name: "extKeyUsage", serverAuth: true },
    {
      name: "subjectAltName",
      altNames: o.hosts.map((h) => (isIP(h) ? { type: 7, ip: h } : { type: 2, value: h })),
    },
  ]);
  cert.sign(forge.pki.privateKeyFromPem(key), forge.md.sha256.create());
  const pem = forge.pki.certificateToPem(cert);
  const der = new Uint8Array(new X509Certificate(pem).raw);
  return { cert: pem, key, der, sha256: new Uint8Array(createHash("sha256").update(der).digest()) };
}
