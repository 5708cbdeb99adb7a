/* SPDX-License-Identifier: MIT */
/* geostage-bootstrap serve: the HTTPS server's event loop, listeners,
 * signals and systemd notifications. */
#include "config.h"

#include <event2/event.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <systemd/sd-daemon.h>

#include "api.h"
#include "commands.h"
#include "fileio.h"
#include "httpd.h"
#include "log.h"
#include "ovpn.h"
#include "server.h"

#define RECONCILE_INTERVAL 60

struct serve {
	struct server *server;
	struct event_base *base;
	struct api api;
	struct event *sigterm, *sigint, *watchdog, *reconcile;
	uint64_t watchdog_usec;
};

static void
serve_help(void)
{
	printf("Usage: geostage-bootstrap serve [OPTIONS]\n\n"
	       "Run the HTTPS enrollment server. Listens on the sockets systemd\n"
	       "passes (socket activation), else on --listen, else on the\n"
	       "listen setting, else on 0.0.0.0 and the first URL's port.\n\n"
	       "  --state-dir D        state dir (default %s)\n"
	       "  --listen ADDR:PORT   address to listen on (port 0: any)\n"
	       "  --port-file F        write the port listened on to F\n",
	       server_default_state_dir());
}

static void
on_signal(evutil_socket_t sig, short what, void *userdata)
{
	struct serve *sv = userdata;

	log_info("received %s, shutting down", strsignal((int)sig));
	sd_notify(0, "STOPPING=1");
	event_base_loopexit(sv->base, NULL);
}

static void
notify_status(struct serve *sv)
{
	sd_notifyf(0, "STATUS=serving %u nodes, %u connections",
		   db_nodes_active_count(sv->server->db),
		   httpd_connections(sv->api.httpd));
}

static void
on_watchdog(evutil_socket_t fd, short what, void *userdata)
{
	struct serve *sv = userdata;

	sd_notify(0, "WATCHDOG=1");
	notify_status(sv);
}

static void
on_reconcile(evutil_socket_t fd, short what, void *userdata)
{
	struct serve *sv = userdata;
	struct server *s = sv->server;
	int r;

	/* Catches files changed behind the server's back, e.g. a node
	 * revoked by the CLI that crashed before removing its file. */
	r = ovpn_reconcile(s->db, &s->cfg, s->ccd_fd, s->revoked_fd);
	if (r < 0)
		log_warning_errno(r, "reconciling OpenVPN files failed: %s",
				  strerror(-r));
	else if (r > 0)
		log_info("reconciled %d OpenVPN files", r);
	notify_status(sv);
}

static const char *
default_listen(const struct server_config *c, char *buf, size_t size)
{
	const char *h = c->urls[0] + strlen("https://");
	const char *port;

	if (h[0] == '[')
		h = strchr(h, ']');
	port = h ? strchr(h, ':') : NULL;
	snprintf(buf, size, "0.0.0.0:%d", port ? atoi(port + 1) : 443);
	return buf;
}

static int
bound_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return negative_errno();
	return ss.ss_family == AF_INET6
		       ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
		       : ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static int
write_port_file(const char *path, int fd)
{
	char buf[16];
	int port = bound_port(fd);

	if (port < 0)
		return port;
	snprintf(buf, sizeof(buf), "%d\n", port);
	return write_file_atomic(path, buf, strlen(buf), 0644);
}

static int
open_listeners(struct serve *sv, const char *listen_flag,
	       const char *port_file)
{
	const char *addr = listen_flag;
	char def[64];
	int n, i, fd, r;

	n = sd_listen_fds(1);
	if (n > 0) {
		for (i = 0; i < n; i++) {
			r = httpd_add_listener(sv->api.httpd,
					       SD_LISTEN_FDS_START + i);
			if (r < 0)
				return r;
		}
		log_info("listening on %d socket(s) from systemd", n);
		return port_file ? write_port_file(port_file,
						   SD_LISTEN_FDS_START)
				 : 0;
	}
	if (!addr)
		addr = sv->server->cfg.listen;
	if (!addr)
		addr = default_listen(&sv->server->cfg, def, sizeof(def));
	r = httpd_bind(addr, &fd);
	if (r < 0)
		return r;
	if (port_file) {
		r = write_port_file(port_file, fd);
		if (r < 0) {
			close(fd);
			return log_error_errno(r, "cannot write %s: %s",
					       port_file, strerror(-r));
		}
	}
	log_info("listening on %s (port %d)", addr, bound_port(fd));
	return httpd_add_listener(sv->api.httpd, fd);
}

static int
setup_events(struct serve *sv)
{
	struct timeval tv = {RECONCILE_INTERVAL, 0};

	sv->sigterm = evsignal_new(sv->base, SIGTERM, on_signal, sv);
	sv->sigint = evsignal_new(sv->base, SIGINT, on_signal, sv);
	sv->reconcile = event_new(sv->base, -1, EV_PERSIST, on_reconcile, sv);
	if (!sv->sigterm || !sv->sigint || !sv->reconcile ||
	    evsignal_add(sv->sigterm, NULL) < 0 ||
	    evsignal_add(sv->sigint, NULL) < 0 ||
	    event_add(sv->reconcile, &tv) < 0)
		return -ENOMEM;
	if (sd_watchdog_enabled(0, &sv->watchdog_usec) > 0) {
		struct timeval wd = {
			(time_t)(sv->watchdog_usec / 2 / 1000000),
			(suseconds_t)(sv->watchdog_usec / 2 % 1000000)};
		sv->watchdog = event_new(sv->base, -1, EV_PERSIST,
					 on_watchdog, sv);
		if (!sv->watchdog || event_add(sv->watchdog, &wd) < 0)
			return -ENOMEM;
	}
	return 0;
}

static void
serve_done(struct serve *sv, SSL_CTX *ctx)
{
	if (sv->sigterm)
		event_free(sv->sigterm);
	if (sv->sigint)
		event_free(sv->sigint);
	if (sv->watchdog)
		event_free(sv->watchdog);
	if (sv->reconcile)
		event_free(sv->reconcile);
	httpd_free(sv->api.httpd);
	api_done(&sv->api);
	SSL_CTX_free(ctx);
	if (sv->base)
		event_base_free(sv->base);
	server_free(sv->server);
}

static int
serve_run(struct serve *sv, const char *listen_flag, const char *port_file)
{
	struct server *s = sv->server;
	_cleanup_free_ char *crt = server_path(s, "tls.crt"),
			    *key = server_path(s, "tls.key");
	struct httpd_limits limits = {
		.max_connections = s->cfg.max_connections,
		.timeout = s->cfg.timeout,
		.lifetime = s->cfg.connection_lifetime,
		.max_headers = API_HEADERS_MAX,
		.max_body = API_BODY_MAX,
	};
	SSL_CTX *ctx = NULL;
	int r;

	r = ovpn_reconcile(s->db, &s->cfg, s->ccd_fd, s->revoked_fd);
	if (r > 0)
		log_info("reconciled %d OpenVPN files with the database", r);
	sv->base = event_base_new();
	if (r >= 0 && (!sv->base || !crt || !key))
		r = -ENOMEM;
	if (r < 0 || (r = httpd_tls_context(crt, key, s->ca_cert, &ctx)) < 0 ||
	    (r = api_init(&sv->api, s)) < 0 ||
	    (r = httpd_new(sv->base, ctx, &limits, api_handle, &sv->api,
			   &sv->api.httpd)) < 0 ||
	    (r = open_listeners(sv, listen_flag, port_file)) < 0 ||
	    (r = setup_events(sv)) < 0) {
		serve_done(sv, ctx);
		return log_error_errno(r, "cannot start the server: %s",
				       strerror(-r));
	}
	sd_notify(0, "READY=1");
	notify_status(sv);
	event_base_dispatch(sv->base);
	serve_done(sv, ctx);
	return 0;
}

int
cmd_serve(int argc, char **argv)
{
	static const struct option opts[] = {
		COMMON_LONG_OPTIONS,
		{"listen", required_argument, NULL, 'l'},
		{"port-file", required_argument, NULL, 'p'},
		{},
	};
	const char *dir = NULL, *listen_flag = NULL, *port_file = NULL;
	struct serve sv = {0};
	int o, r;

	while ((o = getopt_long(argc, argv, "h", opts, NULL)) >= 0) {
		switch (o) {
		case 'h':
			serve_help();
			return EXIT_OK;
		case 'D':
			dir = optarg;
			break;
		case 'l':
			listen_flag = optarg;
			break;
		case 'p':
			port_file = optarg;
			break;
		default:
			return EXIT_USAGE;
		}
	}
	if (optind < argc)
		return log_error("unexpected argument '%s'", argv[optind]),
		       EXIT_USAGE;
	signal(SIGPIPE, SIG_IGN);
	r = server_open(state_dir_or_default(dir),
			SERVER_LOAD_TOKEN_KEY | SERVER_LOAD_CA | SERVER_LOAD_KUBE,
			&sv.server);
	if (r < 0)
		return exit_code_for(r);
	r = serve_run(&sv, listen_flag, port_file);
	return r < 0 ? EXIT_FAIL : EXIT_OK;
}
