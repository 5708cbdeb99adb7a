/* SPDX-License-Identifier: MIT */
/* geostage-enrolld: exit codes, configuration, the token it redeems and the
 * context every step runs in. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"
#include "state.h"
#include "token.h"

/* Exit codes; `geostage-enrolld --help` and the man page list them. */
enum {
	AGENT_EXIT_OK = 0,
	AGENT_EXIT_FAILURE = 1,
	AGENT_EXIT_USAGE = 2,
	AGENT_EXIT_NOT_IMPLEMENTED = 70, /* EX_SOFTWARE */
	AGENT_EXIT_RETRY_EXHAUSTED = 75, /* EX_TEMPFAIL */
	AGENT_EXIT_PIN_MISMATCH = 76,	 /* EX_PROTOCOL */
	AGENT_EXIT_REFUSED = 77,	 /* EX_NOPERM */
	AGENT_EXIT_CONFIG = 78,		 /* EX_CONFIG */
	AGENT_EXIT_PACKAGE = 80,	 /* packages: apt, key, runtime */
	AGENT_EXIT_NETWORK = 81,	 /* network and gate */
	AGENT_EXIT_JOIN = 82,		 /* kubeadm join */
};

/* Why a step failed: decides the exit code and whether to retry. */
enum agent_fail {
	AGENT_FAIL_OTHER,
	AGENT_FAIL_CONFIG,
	AGENT_FAIL_PIN,
	AGENT_FAIL_REFUSED,
	AGENT_FAIL_RETRY,
	AGENT_FAIL_NOT_IMPLEMENTED,
	AGENT_FAIL_PACKAGE,
	AGENT_FAIL_NETWORK,
	AGENT_FAIL_JOIN,
};

int agent_fail_exit_code(enum agent_fail f);

#define AGENT_CONF_PATH "/etc/geostage/enrolld.conf"
#define AGENT_TOKEN_PATH "/etc/geostage/token"
#define AGENT_STATE_DIR "/var/lib/geostage-enrolld"
#define AGENT_STATE_DIR_ENV "GEOSTAGE_STATE_DIR"
#define AGENT_CREDENTIAL "geostage-token"
#define AGENT_HOSTNAME_MAX 253
#define AGENT_ERROR_MAX 512

/* The programs the steps run; each path can be set in enrolld.conf under
 * the key agent_prog_key() names ("apt_get = /usr/bin/apt-get"). */
enum agent_prog {
	PROG_APT_GET,
	PROG_APT_CACHE,
	PROG_APT_MARK,
	PROG_DPKG_QUERY,
	PROG_DPKG,
	PROG_MODPROBE,
	PROG_SYSCTL,
	PROG_SYSTEMCTL,
	PROG_SWAPOFF,
	PROG_IP,
	PROG_KUBEADM,
	PROG_GPG,
	_PROG_MAX,
};

const char *agent_prog_key(enum agent_prog p);
const char *agent_prog_default(enum agent_prog p);

struct agent_conf {
	char *token_file; /* NULL until agent_conf_finish() */
	char *state_dir;  /* NULL until agent_conf_finish() */
	char *hostname;	  /* NULL: gethostname() */
	char *name;	  /* NULL: the server derives it from hostname */
	unsigned connect_timeout_s;
	unsigned request_timeout_s;
	unsigned retry_initial_ms;
	unsigned retry_max_ms;
	unsigned retry_attempts; /* rounds over all iss URLs; 0: unlimited */
	/* Every file the steps write on the host is under root_dir. */
	char *root_dir;		    /* NULL: "/" */
	char *prog[_PROG_MAX];	    /* NULL: agent_prog_default() */
	unsigned command_timeout_s; /* systemctl, modprobe, gpg ... */
	unsigned apt_timeout_s;	    /* each apt-get run */
	unsigned vpn_timeout_s;	    /* the VPN address to appear */
	unsigned join_timeout_s;    /* kubeadm join */
	/* With no apt_sources in the plan: the key of pkgs.k8s.io. */
	char *kubernetes_apt_key;
	char *kubernetes_apt_fingerprint;
	/* Where the kernel's state is read: "/proc" and "/sys" when NULL.
	 * Not configuration keys: unit tests hand in their own. */
	const char *proc_dir, *sys_dir;
	/* Where systemd says it runs in a container (/run/systemd/container);
	 * "/run" when NULL. Tests only, like proc_dir. */
	const char *run_dir;
};

/* The configured path of a program, else its default. */
const char *agent_prog(const struct agent_conf *c, enum agent_prog p);
const char *agent_root(const struct agent_conf *c);

/* Defaults; allocates nothing. */
void agent_conf_init(struct agent_conf *c);
void agent_conf_done(struct agent_conf *c);
/* Parses "key = value" text; source names it in errors ("FILE:LINE: ..."),
 * which go to err. */
int agent_conf_parse(struct agent_conf *c, const char *text, size_t len,
		     const char *source, char *err, size_t errsz);
/* A missing file is fine unless must_exist. */
int agent_conf_load(struct agent_conf *c, const char *path, bool must_exist,
		    char *err, size_t errsz);
/* Settles token_file (flag > config > $CREDENTIALS_DIRECTORY credential >
 * default) and state_dir (flag > config > $GEOSTAGE_STATE_DIR > default). */
int agent_conf_finish(struct agent_conf *c, const char *token_file_arg,
		      const char *state_dir_arg);

/* The enrollment token: a secret, wiped on free; only its jti is logged. */
struct agent_token {
	char *jws;
	size_t len;
	struct token_claims *claims;
};

void agent_token_free(struct agent_token *t);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct agent_token *, agent_token_free)

/* Reads and parses the token file (not its signature: the agent trusts the
 * pin, not a key). Warns when the file is readable by group or others. */
int agent_token_load(const char *path, struct agent_token **ret, char *err,
		     size_t errsz);
/* -EKEYEXPIRED with a message when exp is not in the future. */
int agent_token_check_time(const struct token_claims *c, int64_t now, char *err,
			   size_t errsz);

struct agent {
	struct agent_conf *conf;
	struct agent_state state;
	struct agent_token *token; /* loaded by preflight or enroll */
	int lock_fd;
	bool ready_sent;
};

/* dir/name into buf; -ENAMETOOLONG when it does not fit. */
int agent_path(const struct agent *a, const char *name, char *buf, size_t size);
/* The hostname sent to the server: the config's, else gethostname(); size
 * at least AGENT_HOSTNAME_MAX + 1. */
int agent_hostname(const struct agent_conf *c, char *buf, size_t size);
/* The node name asked for: the config's name, else one derived from the
 * hostname (the server makes it unique). */
void agent_proposed_name(const struct agent_conf *c, const char *hostname,
			 char ret[NAME_MAX_LEN + 1]);
/* Loads the token if not loaded yet; failures are config errors. */
int agent_need_token(struct agent *a, char *err, size_t errsz);
/* Copies src into dst (always NUL-terminated), printable ASCII only: bytes
 * from servers or files never reach a terminal, the journal or JSON raw. */
void agent_sanitize(char *dst, size_t size, const char *src);
/* A human reason for a read_file() error: "file too large", "is a
 * symlink", "not a regular file" or strerror(). */
const char *agent_file_error(int r);
/* Creates the state dir (0700) when missing and checks it is ours and not
 * writable by others. */
int agent_state_dir_check(const char *dir, char *err, size_t errsz);

/* Markers: empty files in the state dir that carry an intention across a
 * crash ("containerd must still be restarted"). */
int agent_marker_set(const struct agent *a, const char *name);
bool agent_marker_exists(const struct agent *a, const char *name);
int agent_marker_clear(const struct agent *a, const char *name);

/* The marker `leave` leaves: run then does nothing until it is removed. */
#define AGENT_LEFT_FILE "left"

/* Takes the state dir's lock (flock on STATE/lock) or logs why not. */
int agent_lock(struct agent *a);
/* state.json into a->state (a fresh state when there is none); logs. */
int agent_load_state(struct agent *a);

/* Runs or resumes the steps; stops after until (_STEP_MAX: no stop).
 * Returns an exit code. */
int agent_run(struct agent_conf *conf, enum step_id until);
