/* SPDX-License-Identifier: MIT */
/* The node CA: the CSR policy and issuing node certificates. */
#pragma once

#include <openssl/evp.h>
#include <openssl/x509.h>

#define CA_CSR_MAX 8192

/* Parses one PEM CSR and applies the policy: a P-256 key with a named
 * curve, a valid self-signature, SHA-256/384, no attributes (so no
 * requested extensions: no CA:TRUE, SANs, EKUs). On refusal returns
 * -EPERM (policy) or -EBADMSG (unparsable) with *ret_reason set. */
int ca_csr_check(const char *pem, size_t len, EVP_PKEY **ret_pubkey,
		 const char **ret_reason);
/* 16 random bytes, top bit clear, as uppercase hex. */
int ca_serial_new(char ret[33]);
/* Serial hex -> decimal string (the file name OpenVPN's crl-verify dir
 * mode looks up). */
int ca_serial_to_decimal(const char *hex, char **ret);
enum ca_usage {
	CA_USAGE_CLIENT, /* nodes: clientAuth */
	CA_USAGE_SERVER, /* the master site's OpenVPN server: serverAuth */
};

/* CN = name, one EKU by usage, CA:FALSE; nothing copied from the CSR. */
int ca_issue(EVP_PKEY *ca_key, X509 *ca_cert, EVP_PKEY *pub, const char *name,
	     const char *serial_hex, unsigned days, enum ca_usage usage,
	     X509 **ret);
/* base64url SHA-256 of the key's SPKI: a node's identity in the database. */
int ca_key_id(EVP_PKEY *pub, char **ret);
