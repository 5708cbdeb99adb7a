/* SPDX-License-Identifier: MIT */
/* HTTPS POST of JSON over libcurl, pinned to the token's key. */
#include "config.h"

#include <curl/curl.h>
#include <strings.h>
#include <time.h>

#include "agent.h"
#include "client.h"
#include "ossl.h"
#include "retry.h"
#include "token.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(CURL *, curl_easy_cleanup)

/* Header lists may hold the bearer token: wipe before freeing. */
static void
slist_erase_freep(struct curl_slist **p)
{
	struct curl_slist *l;

	for (l = *p; l; l = l->next)
		if (l->data)
			explicit_bzero(l->data, strlen(l->data));
	curl_slist_free_all(*p);
}

struct sink {
	char *buf;
	size_t len, cap;
	bool too_large;
};

static size_t
write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct sink *s = userdata;
	size_t n = size * nmemb;

	if (n > CLIENT_RESPONSE_MAX - s->len) {
		s->too_large = true;
		return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
	}
	if (s->len + n + 1 > s->cap) {
		size_t cap = MAX(s->cap * 2, s->len + n + 1);
		char *b = realloc(s->buf, MIN(cap, CLIENT_RESPONSE_MAX + 1));
		if (!b)
			return 0;
		s->buf = b;
		s->cap = MIN(cap, CLIENT_RESPONSE_MAX + 1);
	}
	memcpy(s->buf + s->len, ptr, n);
	s->len += n;
	s->buf[s->len] = '\0';
	return n;
}

/* Date: an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"). */
static void
header_date(const char *v, size_t n, struct client_response *resp)
{
	char value[64];
	struct tm tm;
	const char *end;
	size_t k = 0;
	time_t t;

	while (n > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		n--;
	}
	while (k < n && v[k] != '\r' && v[k] != '\n' && k + 1 < sizeof(value)) {
		value[k] = v[k];
		k++;
	}
	value[k] = '\0';
	memset(&tm, 0, sizeof(tm));
	end = strptime(value, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	if (!end || *end)
		return;
	t = timegm(&tm);
	if (t != (time_t)-1)
		resp->date = (int64_t)t;
}

static size_t
header_cb(char *buf, size_t size, size_t nitems, void *userdata)
{
	struct client_response *resp = userdata;
	size_t n = size * nitems, i = 12;
	char value[64];
	size_t k = 0;
	int64_t s;

	/* A new status line (after 100 Continue, say) starts afresh. */
	if (n >= 5 && strncmp(buf, "HTTP/", 5) == 0) {
		resp->retry_after_s = -1;
		resp->date = -1;
	}
	if (n > 5 && strncasecmp(buf, "date:", 5) == 0) {
		header_date(buf + 5, n - 5, resp);
		return n;
	}
	if (n <= 12 || strncasecmp(buf, "retry-after:", 12) != 0)
		return n;
	while (i < n && (buf[i] == ' ' || buf[i] == '\t'))
		i++;
	while (i < n && buf[i] != '\r' && buf[i] != '\n' &&
	       k + 1 < sizeof(value))
		value[k++] = buf[i++];
	while (k > 0 && (value[k - 1] == ' ' || value[k - 1] == '\t'))
		k--;
	value[k] = '\0';
	if (retry_after_parse(value, time(NULL), &s) == 0)
		resp->retry_after_s = s;
	return n;
}

static int
map_curl_error(CURLcode c, bool too_large)
{
	switch (c) {
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
		return -EKEYREJECTED;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return -EHOSTUNREACH;
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return -ECONNRESET;
	case CURLE_WRITE_ERROR:
		return too_large ? -EFBIG : -ENOMEM;
	case CURLE_FILESIZE_EXCEEDED:
		return -EFBIG;
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
		return -EINVAL;
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
		return -ENOKEY;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	case CURLE_UNKNOWN_OPTION:
	case CURLE_NOT_BUILT_IN:
		return -EOPNOTSUPP;
	default:
		return -EIO;
	}
}

bool
client_error_is_retryable(int r)
{
	return r == -ETIMEDOUT || r == -ECONNREFUSED || r == -EHOSTUNREACH ||
	       r == -ECONNRESET;
}

int
client_global_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -EIO;
}

void
client_global_done(void)
{
	curl_global_cleanup();
}

static int
make_headers(const struct client_request *req, struct curl_slist **ret)
{
	static const char *const fixed[] = {"Content-Type: application/json",
					    "Accept: application/json",
					    "Expect:"};
	_cleanup_(slist_erase_freep) struct curl_slist *h = NULL;
	struct curl_slist *n;
	char *auth = NULL;
	size_t i;

	for (i = 0; i < ELEMENTSOF(fixed); i++) {
		n = curl_slist_append(h, fixed[i]);
		if (!n)
			return -ENOMEM;
		h = n;
	}
	if (req->bearer) {
		if (asprintf(&auth, "Authorization: Bearer %s", req->bearer) <
		    0)
			return -ENOMEM;
		n = curl_slist_append(h, auth);
		explicit_bzero(auth, strlen(auth));
		free(auth);
		if (!n)
			return -ENOMEM;
		h = n;
	}
	*ret = TAKE_PTR(h);
	return 0;
}

/* Every option that the security of the transfer rests on is checked. */
static int
setup(CURL *h, const struct client_request *req, const char *url,
      struct curl_slist *headers)
{
	CURLcode c = CURLE_OK;

#define SET(opt, val)                                                          \
	do {                                                                   \
		if (c == CURLE_OK)                                             \
			c = curl_easy_setopt(h, opt, val);                     \
	} while (0)
	SET(CURLOPT_URL, url);
#if LIBCURL_VERSION_NUM >= 0x075500 /* 7.85 */
	SET(CURLOPT_PROTOCOLS_STR, "https");
	SET(CURLOPT_REDIR_PROTOCOLS_STR, "https");
#else
	SET(CURLOPT_PROTOCOLS, (long)CURLPROTO_HTTPS);
	SET(CURLOPT_REDIR_PROTOCOLS, (long)CURLPROTO_HTTPS);
#endif
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_PINNEDPUBLICKEY, req->pin);
	/* No web PKI: the pin alone decides whom we talk to. */
	SET(CURLOPT_SSL_VERIFYPEER, 0L);
	SET(CURLOPT_SSL_VERIFYHOST, 0L);
	SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_CONNECTTIMEOUT, (long)req->connect_timeout_s);
	SET(CURLOPT_TIMEOUT, (long)req->request_timeout_s);
	SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)CLIENT_RESPONSE_MAX);
	SET(CURLOPT_USERAGENT, "geostage-enrolld/" PACKAGE_VERSION);
	SET(CURLOPT_HTTPHEADER, headers);
	if (req->body) {
		SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
		SET(CURLOPT_POSTFIELDS, req->body);
	} else {
		SET(CURLOPT_HTTPGET, 1L);
	}
	if (req->cert_file) {
		SET(CURLOPT_SSLCERTTYPE, "PEM");
		SET(CURLOPT_SSLCERT, req->cert_file);
		SET(CURLOPT_SSLKEYTYPE, "PEM");
		SET(CURLOPT_SSLKEY, req->key_file);
	}
#undef SET
	return c == CURLE_OK ? 0 : map_curl_error(c, false);
}

static int
make_url(const char *base, const char *path, char *buf, size_t size)
{
	size_t n = strlen(base);
	int k;

	while (n > 0 && base[n - 1] == '/')
		n--;
	k = snprintf(buf, size, "%.*s%s", (int)n, base, path);
	return k < 0 || (size_t)k >= size ? -ENAMETOOLONG : 0;
}

int
client_post_json(const struct client_request *req, struct client_response *resp)
{
	_cleanup_(curl_easy_cleanupp) CURL *h = NULL;
	_cleanup_(slist_erase_freep) struct curl_slist *headers = NULL;
	char url[512], errbuf[CURL_ERROR_SIZE] = "";
	struct sink sink = {0};
	CURLcode c;
	int r;

	*resp = (struct client_response){.retry_after_s = -1, .date = -1};
	/* Without a pin libcurl would trust anyone: never. */
	if (!token_pin_is_valid(req->pin)) {
		r = -EINVAL;
		goto fail;
	}
	if ((r = make_url(req->base_url, req->path, url, sizeof(url))) < 0 ||
	    (r = make_headers(req, &headers)) < 0)
		goto fail;
	h = curl_easy_init();
	if (!h) {
		r = -ENOMEM;
		goto fail;
	}
	r = setup(h, req, url, headers);
	if (r < 0)
		goto fail;
	if (curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_cb) !=
		    CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_HEADERDATA, resp) != CURLE_OK) {
		r = -EOPNOTSUPP;
		goto fail;
	}
	c = curl_easy_perform(h);
	if (c != CURLE_OK) {
		r = map_curl_error(c, sink.too_large);
		if (r == -EFBIG)
			snprintf(resp->error, sizeof(resp->error),
				 "the answer is larger than %d bytes",
				 CLIENT_RESPONSE_MAX);
		else
			snprintf(resp->error, sizeof(resp->error), "%s",
				 errbuf[0] ? errbuf : curl_easy_strerror(c));
		free(sink.buf);
		return r;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
	resp->body = sink.buf ? sink.buf : strdup("");
	resp->body_len = sink.len;
	return resp->body ? 0 : -ENOMEM;

fail:
	snprintf(resp->error, sizeof(resp->error), "%s", strerror(-r));
	return r;
}

int
client_get(const struct client_request *req, struct client_response *resp)
{
	struct client_request r = *req;

	r.body = NULL;
	r.body_len = 0;
	return client_post_json(&r, resp);
}

int
client_tls_probe(const char *host_port, unsigned connect_timeout_s,
		 long *ret_ms, char *err, size_t errsz)
{
	_cleanup_(curl_easy_cleanupp) CURL *h = NULL;
	char url[300], errbuf[CURL_ERROR_SIZE] = "";
	curl_off_t us = 0;
	CURLcode c = CURLE_OK;
	int k;

	k = snprintf(url, sizeof(url), "https://%s/", host_port);
	if (k < 0 || (size_t)k >= sizeof(url)) {
		snprintf(err, errsz, "endpoint too long");
		return -EINVAL;
	}
	h = curl_easy_init();
	if (!h) {
		snprintf(err, errsz, "out of memory");
		return -ENOMEM;
	}
#define SET(opt, val)                                                          \
	do {                                                                   \
		if (c == CURLE_OK)                                             \
			c = curl_easy_setopt(h, opt, val);                     \
	} while (0)
	SET(CURLOPT_URL, url);
	SET(CURLOPT_CONNECT_ONLY, 1L);
	SET(CURLOPT_SSL_VERIFYPEER, 0L);
	SET(CURLOPT_SSL_VERIFYHOST, 0L);
	SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_CONNECTTIMEOUT, (long)connect_timeout_s);
	SET(CURLOPT_TIMEOUT, (long)connect_timeout_s);
	SET(CURLOPT_ERRORBUFFER, errbuf);
#undef SET
	if (c == CURLE_OK)
		c = curl_easy_perform(h);
	if (c != CURLE_OK) {
		snprintf(err, errsz, "%s",
			 errbuf[0] ? errbuf : curl_easy_strerror(c));
		return map_curl_error(c, false);
	}
	if (curl_easy_getinfo(h, CURLINFO_APPCONNECT_TIME_T, &us) != CURLE_OK)
		us = 0;
	*ret_ms = (long)(us / 1000);
	return 0;
}

void
client_response_done(struct client_response *resp)
{
	free(resp->body);
	resp->body = NULL;
	resp->body_len = 0;
}

void
client_error_body(const struct client_response *resp, char *code, size_t codesz,
		  char *msg, size_t msgsz)
{
	_cleanup_(json_decrefp) json_t *j = NULL;
	const char *e = NULL, *m = NULL;

	if (resp->body)
		j = json_loadb(resp->body, resp->body_len, 0, NULL);
	if (json_is_object(j)) {
		e = json_string_value(json_object_get(j, "error"));
		m = json_string_value(json_object_get(j, "message"));
	}
	agent_sanitize(code, codesz, e ? e : "-");
	agent_sanitize(msg, msgsz, m ? m : "-");
}
