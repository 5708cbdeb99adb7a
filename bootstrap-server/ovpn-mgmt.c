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

int
ovpn_kill(const char *management_path, const char *cn)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct timeval tv = {MGMT_TIMEOUT_S, 0};
	_cleanup_close_ int fd = -1;
	char cmd[96], reply[256];
	int r;

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
	snprintf(cmd, sizeof(cmd), "kill %s\n", cn);
	if ((r = write_all(fd, cmd)) < 0 ||
	    (r = read_reply(fd, reply, sizeof(reply))) < 0)
		return r;
	(void)write_all(fd, "quit\n");
	if (startswith(reply, "SUCCESS:"))
		return 0;
	log_debug("openvpn management: %s", reply);
	return strstr(reply, "not found") ? -ENOENT : -EIO;
}
