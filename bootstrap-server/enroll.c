/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <openssl/bn.h>

#include "ca.h"
#include "crypto.h"
#include "db.h"
#include "enroll.h"
#include "jws.h"
#include "log.h"
#include "name.h"
#include "ossl.h"
#include "ovpn.h"
#include "profile.h"

static const char *const step_names[] = {"preflight", "enroll",	 "packages",
					 "host",      "network", "gate",
					 "join",      "done"};
static const char *const step_states[] = {"running", "done", "failed",
					  "not_implemented"};

void
enroll_answer_done(struct enroll_answer *a)
{
	json_decref(a->body);
	a->body = NULL;
}

static int
fail(struct enroll_answer *a, int status, const char *error,
     const char *message)
{
	a->status = status;
	a->error = error;
	snprintf(a->message, sizeof(a->message), "%s", message);
	return 0;
}

/* Anything that is not the client's fault: 503, so that the agent retries
 * later, and the reason in the server's log only. */
static int
fail_db(struct enroll_answer *a, int r)
{
	if (r == -ENOMEM)
		return r;
	a->retry_after = r == -EBUSY ? 1 : 30;
	log_warning("enrollment store unavailable: %s", strerror(-r));
	return fail(a, 503, "unavailable",
		    "the server cannot record enrollments right now");
}

static bool
printable_ascii(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return false;
	return true;
}

/* Control characters would let a message forge log or table lines. */
static bool
has_controls(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

/* A bounded string member; NULL when absent and optional. */
static int
get_string(json_t *o, const char *key, size_t max, bool required,
	   const char **ret)
{
	json_t *v = json_object_get(o, key);
	size_t n;

	if (!v) {
		*ret = NULL;
		return required ? -EINVAL : 0;
	}
	if (!json_is_string(v))
		return -EINVAL;
	n = json_string_length(v);
	if (n == 0 || n > max || strlen(json_string_value(v)) != n)
		return -EINVAL;
	*ret = json_string_value(v);
	return 0;
}

void
enroll_request_done(struct enroll_request *req)
{
	json_decref(req->json);
	free(req->facts);
	memset(req, 0, sizeof(*req));
}

int
enroll_request_parse(const char *body, size_t len, struct enroll_request *req,
		     const char **ret_why)
{
	json_t *facts;

	req->json = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(req->json))
		return *ret_why = "body must be a JSON object", -EINVAL;
	if (get_string(req->json, "csr", CA_CSR_MAX, true, &req->csr) < 0)
		return *ret_why = "csr must be a PEM string", -EINVAL;
	if (get_string(req->json, "hostname", ENROLL_HOSTNAME_MAX, true,
		       &req->hostname) < 0 ||
	    !printable_ascii(req->hostname, strlen(req->hostname)))
		return *ret_why = "hostname must be printable ASCII, at most "
				  "253 bytes",
		       -EINVAL;
	if (get_string(req->json, "name", NAME_MAX_LEN, false, &req->name) <
		    0 ||
	    (req->name &&
	     (!name_is_dns_label(req->name) || name_is_reserved(req->name))))
		return *ret_why = "name must be a lowercase RFC 1123 label and "
				  "not reserved",
		       -EINVAL;
	facts = json_object_get(req->json, "facts");
	if (facts && !json_is_object(facts))
		return *ret_why = "facts must be an object", -EINVAL;
	req->facts = facts ? json_dumps(facts, JSON_COMPACT | JSON_SORT_KEYS)
			   : strdup("{}");
	if (!req->facts)
		return -ENOMEM;
	if (strlen(req->facts) > ENROLL_FACTS_MAX)
		return *ret_why = "facts too large", -EINVAL;
	return 0;
}

/* Verifies the token and checks it against the database. */
static int
check_token(struct server *s, const char *token, size_t len, int64_t now,
	    struct token_claims **ret_claims, struct db_token *ret_row,
	    struct enroll_answer *a)
{
	_cleanup_(json_decrefp) json_t *claims = NULL;
	_cleanup_(token_claims_freep) struct token_claims *c = NULL;
	int r;

	/* A bad signature and an unknown id must look the same. */
	if (jws_verify_kid(s->token_key, s->token_kid, token, len, &claims) <
		    0 ||
	    token_claims_from_json(claims, &c) < 0)
		return fail(a, 401, "invalid_token",
			    "the enrollment token is not valid"),
		       -EPERM;
	snprintf(a->jti, sizeof(a->jti), "%s", c->jti);
	r = db_token_get(s->db, c->jti, ret_row);
	if (r == -ENOENT)
		return fail(a, 401, "invalid_token",
			    "the enrollment token is not valid"),
		       -EPERM;
	if (r < 0)
		return r;
	if (ret_row->revoked)
		return fail(a, 403, "token_revoked",
			    "the enrollment token was revoked"),
		       -EPERM;
	if (ret_row->expires <= now || c->exp <= now)
		return fail(a, 403, "token_expired",
			    "the enrollment token has expired"),
		       -EPERM;
	*ret_claims = TAKE_PTR(c);
	return 0;
}

static int
pick_name(struct server *s, const struct enroll_request *req, char ret[64],
	  struct enroll_answer *a)
{
	char base[NAME_MAX_LEN - 5 + 1], suffix[5];
	int r, i;

	if (req->name) {
		r = db_node_name_taken(s->db, req->name);
		if (r < 0)
			return r;
		if (r > 0)
			return fail(a, 409, "name_conflict",
				    "another node already has that name"),
			       -EEXIST;
		snprintf(ret, 64, "%s", req->name);
		return 0;
	}
	name_from_hostname(req->hostname, base, NAME_MAX_LEN - 5);
	snprintf(ret, 64, "%s", base);
	for (i = 0; i < 16; i++) {
		r = db_node_name_taken(s->db, ret);
		if (r <= 0)
			return r;
		r = crypto_random_base32(suffix, 4);
		if (r < 0)
			return r;
		snprintf(ret, 64, "%s-%s", base, suffix);
	}
	return -EEXIST;
}

static int
labels_for(const struct token_claims *c, char **ret)
{
	_cleanup_(json_decrefp) json_t *l = json_deep_copy(c->labels);

	if (!l || json_object_set_new(l, "geostage.io/site",
				      json_string(c->site)) < 0)
		return -ENOMEM;
	*ret = json_dumps(l, JSON_COMPACT | JSON_SORT_KEYS);
	return *ret ? 0 : -ENOMEM;
}

static int
answer_body(struct server *s, const struct ovpn_plan *p,
	    const struct db_node *n, bool repeat, json_t **ret)
{
	_cleanup_(json_decrefp) json_t *vpn = NULL, *labels = NULL;
	char version[40];
	int r;

	r = profile_vpn_json(s, p, n, &vpn);
	if (r < 0)
		return r;
	labels = json_loads(n->labels, 0, NULL);
	if (s->cfg.kubernetes_version)
		snprintf(version, sizeof(version), "v%s",
			 s->cfg.kubernetes_version);
	*ret = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:O, s:{s:s?, s:s?},"
			 " s:O*, s:O*, s:b}",
			 "node", n->name, "site", n->site, "role", n->role,
			 "serial", n->serial, "certificate", n->cert, "ca",
			 s->ca_pem, "vpn", vpn, "kubernetes", "api_endpoint",
			 s->cfg.api_endpoint, "version",
			 s->cfg.kubernetes_version ? version : NULL, "packages",
			 s->packages, "labels", labels, "repeat", repeat);
	return *ret ? 0 : -ENOMEM;
}

/* A fresh serial and certificate for n (n->cert replaced). */
static int
issue_cert(struct server *s, EVP_PKEY *pub, struct db_node *n)
{
	_cleanup_(X509_freep) X509 *cert = NULL;
	char *pem;
	int r;

	if ((r = ca_serial_new(n->serial)) < 0 ||
	    (r = ca_issue(s->ca_key, s->ca_cert, pub, n->name, n->serial,
			  s->cfg.cert_days, CA_USAGE_CLIENT, &cert)) < 0 ||
	    (r = crypto_cert_to_pem(cert, &pem)) < 0)
		return r;
	free(n->cert);
	n->cert = pem;
	return 0;
}

/* A returning node keeps its certificate while the current node CA signed
 * it and it has more than a tenth of its life left; otherwise (after
 * init --force, or near expiry) it gets a new one, same name and
 * address, new serial. */
static int
renew_if_stale(struct server *s, EVP_PKEY *pub, struct db_node *n, int64_t now)
{
	_cleanup_(X509_freep) X509 *cert = NULL;
	time_t margin = (time_t)now + (time_t)s->cfg.cert_days * 8640;
	int r;

	r = crypto_cert_from_pem(n->cert, strlen(n->cert), &cert);
	if (r >= 0 && X509_verify(cert, s->ca_key) == 1 &&
	    X509_cmp_time(X509_get0_notAfter(cert), &margin) > 0)
		return 0;
	r = issue_cert(s, pub, n);
	if (r < 0)
		return r;
	r = db_node_set_cert(s->db, n->id, n->serial, n->cert);
	if (r < 0)
		return r;
	return db_event(s->db, "certificate-renewed", NULL, n->name, NULL);
}

/* Inside the transaction: everything that spends a use. */
static int
enroll_new(struct server *s, const struct ovpn_plan *p,
	   const struct token_claims *c, const struct db_token *t,
	   const struct enroll_request *req, EVP_PKEY *pub, const char *key_id,
	   int64_t now, struct db_node *n, struct enroll_answer *a)
{
	int r;

	if (t->uses >= t->max_uses)
		return fail(a, 403, "token_exhausted",
			    "the enrollment token has no uses left"),
		       -EDQUOT;
	r = pick_name(s, req, n->name, a);
	if (r < 0)
		return r;
	snprintf(n->site, sizeof(n->site), "%s", c->site);
	snprintf(n->role, sizeof(n->role), "%s", c->role);
	snprintf(n->token_id, sizeof(n->token_id), "%s", c->jti);
	snprintf(n->key_id, sizeof(n->key_id), "%s", key_id);
	n->created = now;
	if ((r = db_alloc_vpn_addr(s->db, &s->cfg.vpn_network, &n->vpn_addr)) <
		    0 ||
	    (r = issue_cert(s, pub, n)) < 0 ||
	    (r = labels_for(c, &n->labels)) < 0)
		return r;
	if ((r = db_token_use(s->db, c->jti)) < 0 ||
	    (r = db_node_insert(s->db, n, req->hostname, req->facts)) < 0 ||
	    (r = db_event(s->db, "enrolled", c->jti, n->name, NULL)) < 0)
		return r;
	/* The client file goes to disk before the commit: a success answer
	 * always has its file, and a crash in between leaves a stray that
	 * start-up reconciliation removes. */
	return ovpn_ccd_write(s->ccd_fd, p, n);
}

static int
redeem_locked(struct server *s, const struct token_claims *c,
	      const struct db_token *t, const struct enroll_request *req,
	      EVP_PKEY *pub, int64_t now, struct enroll_answer *a)
{
	_cleanup_free_ char *key_id = NULL;
	struct db_node n = {0};
	struct ovpn_plan plan;
	int r;

	r = ca_key_id(pub, &key_id);
	if (r < 0)
		return r;
	r = ovpn_plan_load(s->db, &s->cfg, &plan);
	if (r < 0)
		return r;
	r = db_node_by_key(s->db, key_id, &n);
	if (r >= 0) {
		/* The same key again: the same node, no use spent; what it
		 * reports now (its addresses may have changed since) replaces
		 * what was kept: the join's node-ip comes from it. */
		a->repeat = true;
		if (n.revoked)
			r = (fail(a, 403, "node_revoked",
				  "this node was revoked"),
			     -EPERM);
		else if ((r = db_node_set_facts(s->db, n.id, req->hostname,
						req->facts)) >= 0)
			r = renew_if_stale(s, pub, &n, now);
	} else if (r == -ENOENT) {
		r = enroll_new(s, &plan, c, t, req, pub, key_id, now, &n, a);
	}
	if (r >= 0)
		r = answer_body(s, &plan, &n, a->repeat, &a->body);
	if (r >= 0)
		snprintf(a->node, sizeof(a->node), "%s", n.name);
	if (r < 0 && !a->error && n.name[0] && !a->repeat)
		(void)ovpn_ccd_remove(s->ccd_fd, n.name);
	db_node_done(&n);
	ovpn_plan_done(&plan);
	return r;
}

int
enroll_redeem(struct server *s, const char *token, size_t token_len,
	      const char *body, size_t body_len, int64_t now,
	      struct enroll_answer *a)
{
	_cleanup_(token_claims_freep) struct token_claims *c = NULL;
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *pub = NULL;
	struct enroll_request req = {0};
	struct db_token t;
	const char *why = NULL;
	int r;

	memset(a, 0, sizeof(*a));
	r = db_begin(s->db);
	if (r < 0)
		return fail_db(a, r);
	r = check_token(s, token, token_len, now, &c, &t, a);
	if (r < 0)
		goto out;
	r = enroll_request_parse(body, body_len, &req, &why);
	if (r == -EINVAL) {
		fail(a, 400, "bad_request", why);
		goto out;
	}
	if (r < 0)
		goto out;
	r = ca_csr_check(req.csr, strlen(req.csr), &pub, &why);
	if (r == -EPERM || r == -EBADMSG) {
		fail(a, 422, "csr_rejected", why);
		goto out;
	}
	if (r < 0)
		goto out;
	r = redeem_locked(s, c, &t, &req, pub, now, a);
	if (r >= 0) {
		r = db_commit(s->db);
		if (r < 0 && !a->repeat)
			(void)ovpn_ccd_remove(s->ccd_fd, a->node);
	}
out:
	db_rollback(s->db);
	enroll_request_done(&req);
	if (r < 0 && !a->error) {
		enroll_answer_done(a);
		return fail_db(a, r);
	}
	if (!a->error)
		a->status = 200;
	return 0;
}

int
enroll_node_by_cert(struct server *s, X509 *peer, struct db_node *ret)
{
	char *hex;
	BIGNUM *bn;
	int r;

	bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(peer), NULL);
	if (!bn)
		return -ENOMEM;
	hex = BN_bn2hex(bn);
	BN_free(bn);
	if (!hex)
		return -ENOMEM;
	r = db_node_by_serial(s->db, hex, ret);
	OPENSSL_free(hex);
	if (r < 0)
		return r;
	if (ret->revoked) {
		db_node_done(ret);
		return -EPERM;
	}
	return 0;
}

/* Optional, may be empty, bounded, no NUL or control characters. */
static bool
message_is_valid(json_t *v, const char **ret)
{
	if (!v)
		return true;
	if (!json_is_string(v) || json_string_length(v) > ENROLL_MESSAGE_MAX ||
	    strlen(json_string_value(v)) != json_string_length(v) ||
	    has_controls(json_string_value(v)))
		return false;
	*ret = json_string_value(v);
	return true;
}

static bool
in_list(const char *s, const char *const *list, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (streq(s, list[i]))
			return true;
	return false;
}

int
enroll_progress(struct server *s, X509 *peer, const char *body, size_t body_len,
		int64_t now, struct enroll_answer *a)
{
	_cleanup_(json_decrefp) json_t *j = NULL;
	const char *step, *state, *message = NULL;
	json_t *started, *duration;
	struct db_node n;
	int r;

	memset(a, 0, sizeof(*a));
	if (!peer)
		return fail(a, 401, "client_certificate_required",
			    "this endpoint needs the node certificate");
	r = enroll_node_by_cert(s, peer, &n);
	if (r == -EPERM)
		return fail(a, 403, "node_revoked", "this node was revoked");
	if (r == -ENOENT)
		return fail(a, 401, "client_certificate_required",
			    "unknown node certificate");
	if (r < 0)
		return fail_db(a, r);
	snprintf(a->node, sizeof(a->node), "%s", n.name);
	j = json_loadb(body, body_len, JSON_REJECT_DUPLICATES, NULL);
	started = json_object_get(j, "started");
	duration = json_object_get(j, "duration_ms");
	if (!json_is_object(j) || get_string(j, "step", 16, true, &step) < 0 ||
	    get_string(j, "state", 16, true, &state) < 0 ||
	    !in_list(step, step_names, ELEMENTSOF(step_names)) ||
	    !in_list(state, step_states, ELEMENTSOF(step_states)) ||
	    !json_is_integer(started) || json_integer_value(started) < 0 ||
	    !json_is_integer(duration) || json_integer_value(duration) < 0 ||
	    !message_is_valid(json_object_get(j, "message"), &message)) {
		db_node_done(&n);
		return fail(a, 400, "bad_request",
			    "expected {step, state, started, duration_ms, "
			    "message}");
	}
	r = db_step_record(
		s->db, n.id, step, state, json_integer_value(started),
		json_integer_value(duration), message ? message : "", now);
	db_node_done(&n);
	if (r < 0)
		return fail_db(a, r);
	a->status = 200;
	a->body = json_pack("{s:b}", "ok", 1);
	return a->body ? 0 : -ENOMEM;
}
