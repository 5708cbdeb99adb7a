/* SPDX-License-Identifier: MIT */
/* The enrollment token file: read, wiped after use, claims checked. The
 * signature is the server's business; the agent trusts the token's pin. */
#include "config.h"

#include <sys/stat.h>

#include "agent.h"
#include "fileio.h"
#include "jws.h"
#include "log.h"
#include "ossl.h"
#include "output.h"

void
agent_token_free(struct agent_token *t)
{
	if (!t)
		return;
	if (t->jws) {
		explicit_bzero(t->jws, t->len);
		free(t->jws);
	}
	token_claims_free(t->claims);
	free(t);
}

static void
warn_mode(const char *path)
{
	struct stat st;

	if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode))
		return;
	if (st.st_mode & (S_IRWXG | S_IRWXO))
		log_warning("token file %s is accessible by group or others "
			    "(mode %04o): it should be 0600",
			    path, (unsigned)(st.st_mode & 07777));
}

/* Strips surrounding whitespace in place, wiping what it moved away from;
 * returns the new length. */
static size_t
trim(char *s, size_t len)
{
	size_t start = 0, old = len;

	while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == '\r' ||
			   s[len - 1] == ' ' || s[len - 1] == '\t'))
		s[--len] = '\0';
	while (start < len && (s[start] == ' ' || s[start] == '\t' ||
			       s[start] == '\n' || s[start] == '\r'))
		start++;
	if (start > 0) {
		memmove(s, s + start, len - start + 1);
		len -= start;
	}
	explicit_bzero(s + len, old - len);
	return len;
}

int
agent_token_load(const char *path, struct agent_token **ret, char *err,
		 size_t errsz)
{
	_cleanup_(agent_token_freep) struct agent_token *t = NULL;
	_cleanup_(json_decrefp) json_t *j = NULL;
	size_t len;
	int r;

	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	warn_mode(path);
	r = read_file(path, JWS_MAX_LEN + 64, &t->jws, &len);
	if (r < 0) {
		snprintf(err, errsz, "token file %s: %s", path,
			 r == -EFBIG ? "too large for a token"
				     : agent_file_error(r));
		return r;
	}
	t->len = len = trim(t->jws, len);
	if (len == 0) {
		snprintf(err, errsz, "token file %s is empty", path);
		return -ENODATA;
	}
	r = jws_decode_unverified(t->jws, len, &j);
	if (r < 0) {
		snprintf(err, errsz,
			 "token file %s does not hold a geostage token "
			 "(malformed JWS)",
			 path);
		return -EBADMSG;
	}
	r = token_claims_from_json(j, &t->claims);
	if (r < 0) {
		snprintf(err, errsz,
			 "token file %s: the token's claims are invalid "
			 "(missing, malformed or unknown claim)",
			 path);
		return r == -ENOMEM ? r : -EBADMSG;
	}
	*ret = TAKE_PTR(t);
	return 0;
}

int
agent_token_check_time(const struct token_claims *c, int64_t now, char *err,
		       size_t errsz)
{
	char when[64], ago[32];
	int64_t d = now - c->exp;

	if (c->exp > now)
		return 0;
	format_time(c->exp, when, sizeof(when));
	if (d < 3600)
		format_duration_ms(d * 1000, ago, sizeof(ago));
	else if (d < 2 * 86400)
		snprintf(ago, sizeof(ago), "%lldh%02lldm", (long long)d / 3600,
			 (long long)d % 3600 / 60);
	else
		snprintf(ago, sizeof(ago), "%lld days", (long long)d / 86400);
	snprintf(
		err, errsz,
		"token %s expired at %s (%s ago): ask the cluster operator for "
		"a new token",
		c->jti, when, ago);
	return -EKEYEXPIRED;
}
