/* SPDX-License-Identifier: MIT */
/* STAND-IN (geostage tests): the cluster CA of the API server stand-in and
 * the certificates it signs (serving, admin, kubelet client). */
#pragma once

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdbool.h>

struct pki_leaf {
	const char *cn;
	const char *org; /* NULL for none */
	const char *san; /* OpenSSL form "IP:1.2.3.4,DNS:x"; NULL for none */
	bool server;	 /* serverAuth, else clientAuth */
	unsigned days;
};

/* DIR/ca.crt and DIR/ca.key, created (CN "kubernetes", P-256, 10 years)
 * when absent. */
int pki_ca_load_or_create(const char *dir, EVP_PKEY **ret_key, X509 **ret_cert);
/* A new P-256 key and a certificate for it signed by the CA. */
int pki_issue(EVP_PKEY *ca_key, X509 *ca, const struct pki_leaf *leaf,
	      EVP_PKEY **ret_key, X509 **ret_cert);
/* Unencrypted PKCS#8 PEM (a secret: free with erase_and_free). */
int pki_key_to_pem(EVP_PKEY *key, char **ret);
