/* SPDX-License-Identifier: MIT */
/* rss-floor: what linking and initialising a library costs in peak RSS
 * before any work, so bench/enroll can tell the agent's own memory from
 * its libraries'.  Built three times, each linked with only what it uses:
 *
 *   -DFLOOR_LIBC      nothing at all
 *   -DFLOOR_OPENSSL   an SSL_CTX and one P-256 key (-lssl -lcrypto)
 *   -DFLOOR_CURL      curl_global_init + one easy handle (-lcurl: Debian's
 *                     libcurl and the ~30 libraries it pulls in)
 *
 * Run it under /usr/bin/time -f %M. */
#if defined(FLOOR_OPENSSL)
#include <openssl/evp.h>
#include <openssl/ssl.h>
#elif defined(FLOOR_CURL)
#include <curl/curl.h>
#endif

int
main(void)
{
#if defined(FLOOR_OPENSSL)
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	int ok = ctx && k;

	EVP_PKEY_free(k);
	SSL_CTX_free(ctx);
	return ok ? 0 : 1;
#elif defined(FLOOR_CURL)
	CURL *h;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return 1;
	h = curl_easy_init();
	curl_easy_cleanup(h);
	curl_global_cleanup();
	return h ? 0 : 1;
#else
	return 0;
#endif
}
