/* SPDX-License-Identifier: MIT */
/* The OpenVPN management interface, over its unix socket: one command,
 * "kill <common name>", to end a revoked node's live session. */
#include "config.h"

#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>

#include "log.h"
#include "name.h"
#include "ovpn.h"

#define MGMT_TIMEOUT_S 2

/* Reads one line (without "\r\n"), skipping real-time ">" notifications. */
static int
read_reply(int fd, char *buf, size_t size)
{
	size_t n = 0;

	for (;;) {
		char c;
		ssize_t k = read(fd, &c, 1);
		if (k < 0)
			return errno == EAGAIN ? -ETIMEDOUT : negative_errno();
		if (k == 0)
			return -ECONNRESET;
		if (c == '\n') {
			if (n > 0 && buf[n - 1] == '\r')
				n--;
			buf[n] = '\0';
			if (buf[0] != '>')
				return 0;
			n = 0;
			continue;
		}
		if (n + 1 < size)
			buf[n++] = c;
	}
}

static int
write_all(int fd, const char *s)
{
	size_t len = strlen(s);

	while (len > 0) {
		ssize_t k = write(fd, s, len);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return negative_errno();
		}
		s += k;
		len -= (size_t)k;
	}
	return 0;
}

/* The column of "Client ID" in "HEADER,CLIENT_LIST,..." (CLIENT_LIST
 * lines have the same layout), or -1. */
static int
client_id_column(const char *header)
{
	char buf[512], *tok, *save = NULL;
	int col = 0;

	snprintf(buf, sizeof(buf), "%s", header);
	for (tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save), col++)
		if (streq(tok, "Client ID"))
			return col - 1; /* HEADER shifts the columns by one */
	return -1;
}

/* Field col of a comma-separated line, into buf. */
static bool
field(const char *line, int col, char *buf, size_t size)
{
	const char *p = line;
	size_t n;

	for (; col > 0 && p; col--) {
		p = strchr(p, ',');
		if (p)
			p++;
	}
	if (!p)
		return false;
	n = strcspn(p, ",");
	if (n == 0 || n >= size)
		return false;
	memcpy(buf, p, n);
	buf[n] = '\0';
	return true;
}

/* "status 2" lists the sessions; the client IDs of cn's go to ret. */
static int
find_client_ids(int fd, const char *cn, unsigned long ret[8], size_t *ret_n)
{
	char line[512], name[80], cid[24];
	int col = -1, r;
	size_t n = 0, lines;

	if ((r = write_all(fd, "status 2\n")) < 0)
		return r;
	for (lines = 0; lines < 100000; lines++) {
		r = read_reply(fd, line, sizeof(line));
		if (r < 0)
			return r;
		if (streq(line, "END"))
			break;
		if (startswith(line, "HEADER,CLIENT_LIST,"))
			col = client_id_column(line);
		else if (col > 0 && startswith(line, "CLIENT_LIST,") &&
			 field(line, 1, name, sizeof(name)) &&
			 streq(name, cn) && field(line, col, cid, sizeof(cid)) &&
			 n < 8)
			ret[n++] = strtoul(cid, NULL, 10);
	}
	*ret_n = n;
	return 0;
}

/* client-kill makes OpenVPN tell the client (RESTART), so the node drops
 * its tunnel at once; "kill CN" would end the session on the server side
 * only, leaving the node to notice at its keepalive timeout. */
int
ovpn_kill(const char *management_path, const char *cn)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct timeval tv = {MGMT_TIMEOUT_S, 0};
	_cleanup_close_ int fd = -1;
	unsigned long ids[8];
	char cmd[96], reply[256];
	size_t n, i;
	int r, killed = 0;

	/* The name goes into a command line: only a label may. */
	if (!name_is_dns_label(cn))
		return -EINVAL;
	if (strlen(management_path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, management_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return negative_errno();
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return errno == ENOENT ? -ECONNREFUSED : negative_errno();
	r = find_client_ids(fd, cn, ids, &n);
	for (i = 0; r >= 0 && i < n; i++) {
		snprintf(cmd, sizeof(cmd), "client-kill %lu\n", ids[i]);
		if ((r = write_all(fd, cmd)) < 0 ||
		    (r = read_reply(fd, reply, sizeof(reply))) < 0)
			break;
		if (startswith(reply, "SUCCESS:"))
			killed++;
		else
			log_debug("openvpn management: %s", reply);
	}
	(void)write_all(fd, "quit\n");
	if (r < 0)
		return r;
	return killed > 0 ? 0 : -ENOENT;
}
