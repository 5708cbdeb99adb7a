/* SPDX-License-Identifier: MIT */
/* Key generation, PEM I/O and public-key pins over OpenSSL 3. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

/* Lowercase RFC 4648 base32 of random bytes, n characters (n < 64). */
int crypto_random_base32(char *buf, size_t n);
int crypto_random_u64(uint64_t *ret);

int crypto_gen_ed25519(EVP_PKEY **ret);
int crypto_gen_p256(EVP_PKEY **ret);

/* PEM private key (PKCS#8) written atomically with the given mode. */
int crypto_key_save(const char *path, EVP_PKEY *key, mode_t mode);
int crypto_key_load(const char *path, EVP_PKEY **ret);
int crypto_cert_save(const char *path, X509 *cert, mode_t mode);
int crypto_cert_load(const char *path, X509 **ret);

int crypto_cert_to_pem(X509 *cert, char **ret);
int crypto_cert_from_pem(const char *pem, size_t len, X509 **ret);
int crypto_pubkey_to_pem(EVP_PKEY *key, char **ret);

/* SHA-256 of the DER SubjectPublicKeyInfo. */
int crypto_spki_sha256(EVP_PKEY *key, uint8_t ret[32]);
/* "sha256//<base64>", the form CURLOPT_PINNEDPUBLICKEY takes. */
int crypto_spki_pin(EVP_PKEY *key, char **ret);
/* "sha256:<hex>", kubeadm's caCertHashes form. */
int crypto_spki_hash_hex(EVP_PKEY *key, char **ret);

/* One X.509v3 extension in OpenSSL's config syntax ("critical,CA:FALSE"),
 * with issuer as the authority for AKI. */
int crypto_add_ext(X509 *cert, X509 *issuer, int nid, const char *value);

/* Self-signed certificate (TLS server or CA). cn at most 64 bytes; san is a
 * subjectAltName value in OpenSSL form ("DNS:a,IP:127.0.0.1") or NULL. */
int crypto_self_signed(EVP_PKEY *key, const char *cn, const char *san,
		       int is_ca, int days, X509 **ret);
