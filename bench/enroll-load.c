/* SPDX-License-Identifier: MIT */
/* enroll-load: the load generator behind bench/enroll.
 *
 *   enroll-load enroll --port P --token-file F [-n N] [-c C] [--rate R]
 *   enroll-load get    --port P --path /x.json [-n N] [-c C] [--rate R]
 *   enroll-load freeport
 *   enroll-load waitport PORT SECONDS
 *   enroll-load fsync DIR [COUNT]
 *
 * Every request runs on a fresh TCP connection with a full TLS 1.3
 * handshake (no session resumption), from C threads.  In enroll mode N
 * distinct P-256 keys and their CSRs are made before the clock starts.
 * Without --rate the threads send back to back (closed loop, the maximum
 * rate); with --rate R request i is scheduled at t0 + i/R (open loop) and
 * its latency counts from that scheduled time, so a server that falls
 * behind is charged for the queueing it causes.
 *
 * Prints one line of key=value pairs for bench/enroll to parse.  Server
 * certificates are not verified: the load generator measures the
 * server, and the agent's SPKI pin check costs the client, not the
 * server. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#define THREADS_MAX 1024
#define REQUESTS_MAX 1000000
#define RESPONSE_MAX (256 * 1024)
#define IO_TIMEOUT_S 15

enum mode { MODE_ENROLL, MODE_GET };

struct load {
	enum mode mode;
	uint16_t port;
	unsigned n, concurrency;
	double rate;	    /* requests/s; 0: as fast as possible */
	double max_seconds; /* stop taking new work after this */
	SSL_CTX *ctx;
	char **requests; /* one ready-to-send HTTP request each */
	size_t *request_len;
	double *latency; /* seconds from the scheduled start */
	double *service; /* seconds from the actual start */
	int *status;
	atomic_uint next;
	double t0;
	pthread_barrier_t ready;
};

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
sleep_until(double t)
{
	struct timespec ts;

	ts.tv_sec = (time_t)t;
	ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) ==
	       EINTR)
		;
}

static void
die(const char *what)
{
	fprintf(stderr, "enroll-load: %s\n", what);
	ERR_print_errors_fp(stderr);
	exit(1);
}

static char *
read_token(const char *path)
{
	static char buf[8192];
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		die("cannot open the token file");
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	while (n > 0 &&
	       (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
		n--;
	buf[n] = '\0';
	if (n == 0)
		die("empty token file");
	return buf;
}

/* A P-256 key and a CSR for it, as a JSON string body (PEM newlines
 * escaped). */
static char *
make_csr_json(void)
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509_REQ *req = X509_REQ_new();
	X509_NAME *name;
	BIO *bio = BIO_new(BIO_s_mem());
	char *pem, *out, *o;
	long len, i;

	if (!key || !req || !bio)
		die("out of memory making a key");
	name = X509_REQ_get_subject_name(req);
	if (!X509_REQ_set_version(req, 0) ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
					(const unsigned char *)"bench", -1, -1,
					0) ||
	    !X509_REQ_set_pubkey(req, key) ||
	    !X509_REQ_sign(req, key, EVP_sha256()) ||
	    !PEM_write_bio_X509_REQ(bio, req))
		die("cannot make a CSR");
	len = BIO_get_mem_data(bio, &pem);
	out = malloc((size_t)len * 2 + 1);
	if (!out)
		die("out of memory");
	for (o = out, i = 0; i < len; i++) {
		if (pem[i] == '\n') {
			*o++ = '\\';
			*o++ = 'n';
		} else {
			*o++ = pem[i];
		}
	}
	*o = '\0';
	BIO_free(bio);
	X509_REQ_free(req);
	EVP_PKEY_free(key);
	return out;
}

static void
make_requests(struct load *l, const char *token, const char *path,
	      const char *prefix)
{
	unsigned i;

	l->requests = calloc(l->n, sizeof(char *));
	l->request_len = calloc(l->n, sizeof(size_t));
	if (!l->requests || !l->request_len)
		die("out of memory");
	for (i = 0; i < l->n; i++) {
		char *req, *body = NULL, *csr;
		int len;

		if (l->mode == MODE_GET) {
			len = asprintf(&req,
				       "GET %s HTTP/1.1\r\n"
				       "Host: 127.0.0.1:%u\r\n"
				       "Connection: close\r\n\r\n",
				       path, l->port);
		} else {
			csr = make_csr_json();
			if (asprintf(&body,
				     "{\"csr\":\"%s\","
				     "\"hostname\":\"%s-%u.tokyo.example.org\","
				     "\"facts\":{\"os\":\"Debian GNU/Linux 12 "
				     "(bookworm)\",\"arch\":\"x86_64\","
				     "\"kernel\":\"6.1.0-26-amd64\","
				     "\"addresses\":[\"192.168.20.7\"],"
				     "\"default_route\":\"192.168.20.1\","
				     "\"cpus\":2,\"mem_mb\":2048}}",
				     csr, prefix, i) < 0)
				die("out of memory");
			free(csr);
			len = asprintf(&req,
				       "POST /v1/enroll HTTP/1.1\r\n"
				       "Host: 127.0.0.1:%u\r\n"
				       "Authorization: Bearer %s\r\n"
				       "Content-Type: application/json\r\n"
				       "Content-Length: %zu\r\n"
				       "Connection: close\r\n\r\n%s",
				       l->port, token, strlen(body), body);
			free(body);
		}
		if (len < 0)
			die("out of memory");
		l->requests[i] = req;
		l->request_len[i] = (size_t)len;
	}
}

static int
tcp_connect(uint16_t port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons(port)};
	struct timeval tv = {IO_TIMEOUT_S, 0};
	int fd, one = 1;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	return fd;
}

/* The HTTP status once the whole response (headers + Content-Length
 * bytes, or up to EOF) is in; -1 on any failure. */
static int
read_response(SSL *ssl, char *buf, size_t size, bool want_node)
{
	size_t have = 0, need = 0;
	char *hdr_end = NULL;
	int status = -1;

	for (;;) {
		int k;

		if (have + 1 >= size)
			return -1;
		k = SSL_read(ssl, buf + have, (int)(size - 1 - have));
		if (k <= 0)
			break;
		have += (size_t)k;
		buf[have] = '\0';
		if (!hdr_end && (hdr_end = strstr(buf, "\r\n\r\n"))) {
			const char *cl = strcasestr(buf, "\r\nContent-Length:");
			if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
				return -1;
			if (!cl || cl > hdr_end)
				return -1;
			need = (size_t)(hdr_end + 4 - buf) +
			       strtoul(cl + 17, NULL, 10);
		}
		if (hdr_end && have >= need)
			break;
	}
	if (!hdr_end || have < need)
		return -1;
	if (want_node && status == 200 && !strstr(hdr_end, "\"node\""))
		return -1;
	return status;
}

static int
one_request(struct load *l, unsigned i, char *buf)
{
	SSL *ssl;
	int fd, status = -1;

	fd = tcp_connect(l->port);
	if (fd < 0)
		return -1;
	ssl = SSL_new(l->ctx);
	if (ssl && SSL_set_fd(ssl, fd) == 1 && SSL_connect(ssl) == 1 &&
	    SSL_write(ssl, l->requests[i], (int)l->request_len[i]) ==
		    (int)l->request_len[i])
		status = read_response(ssl, buf, RESPONSE_MAX,
				       l->mode == MODE_ENROLL);
	if (ssl) {
		(void)SSL_shutdown(ssl);
		SSL_free(ssl);
	}
	close(fd);
	ERR_clear_error();
	return status;
}

static void *
worker(void *userdata)
{
	struct load *l = userdata;
	char *buf = malloc(RESPONSE_MAX);

	if (!buf)
		die("out of memory");
	pthread_barrier_wait(&l->ready);
	for (;;) {
		unsigned i = atomic_fetch_add(&l->next, 1);
		double sched, start, end;

		if (i >= l->n)
			break;
		if (l->rate > 0) {
			sched = l->t0 + (double)i / l->rate;
			sleep_until(sched);
		} else {
			sched = now();
		}
		start = now();
		if (start - l->t0 > l->max_seconds) {
			l->status[i] = -2; /* not sent: out of time */
			continue;
		}
		l->status[i] = one_request(l, i, buf);
		end = now();
		l->latency[i] = end - (sched < start ? sched : start);
		l->service[i] = end - start;
	}
	free(buf);
	return NULL;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
percentile(const double *sorted, size_t n, double p)
{
	size_t k;

	if (n == 0)
		return 0;
	k = (size_t)(p / 100.0 * (double)n);
	if (k >= n)
		k = n - 1;
	return sorted[k];
}

static void
report(struct load *l, double wall, double prep)
{
	double *lat = malloc(l->n * sizeof(double));
	double *svc = malloc(l->n * sizeof(double));
	unsigned i, ok = 0, failed = 0, unsent = 0, other = 0;
	struct rusage ru;

	if (!lat || !svc)
		die("out of memory");
	for (i = 0; i < l->n; i++) {
		if (l->status[i] == 200) {
			lat[ok] = l->latency[i];
			svc[ok] = l->service[i];
			ok++;
		} else if (l->status[i] == -2) {
			unsent++;
		} else if (l->status[i] < 0) {
			failed++;
		} else {
			other++;
		}
	}
	qsort(lat, ok, sizeof(double), cmp_double);
	qsort(svc, ok, sizeof(double), cmp_double);
	getrusage(RUSAGE_SELF, &ru);
	printf("mode=%s n=%u c=%u target_rate=%.1f ok=%u failed=%u "
	       "non200=%u unsent=%u wall_s=%.3f rate=%.1f "
	       "p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f p999_ms=%.3f "
	       "max_ms=%.3f svc_p50_ms=%.3f svc_p99_ms=%.3f prep_s=%.3f "
	       "client_cpu_s=%.3f\n",
	       l->mode == MODE_ENROLL ? "enroll" : "get", l->n, l->concurrency,
	       l->rate, ok, failed, other, unsent, wall,
	       wall > 0 ? ok / wall : 0, percentile(lat, ok, 50) * 1e3,
	       percentile(lat, ok, 90) * 1e3, percentile(lat, ok, 99) * 1e3,
	       percentile(lat, ok, 99.9) * 1e3, ok ? lat[ok - 1] * 1e3 : 0,
	       percentile(svc, ok, 50) * 1e3, percentile(svc, ok, 99) * 1e3,
	       prep,
	       (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
		       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) /
			       1e6);
	for (i = 0; i < l->n && other; i++)
		if (l->status[i] > 0 && l->status[i] != 200) {
			fprintf(stderr,
				"enroll-load: first non-200 status: %d\n",
				l->status[i]);
			break;
		}
	free(lat);
	free(svc);
}

static void
usage(void)
{
	fprintf(stderr, "usage: enroll-load enroll|get --port P [-n N] [-c C] "
			"[--rate R]\n"
			"         [--token-file F] [--path P] [--prefix NAME] "
			"[--max-seconds S]\n"
			"       enroll-load freeport\n"
			"       enroll-load waitport PORT SECONDS\n"
			"       enroll-load fsync DIR [COUNT]\n");
	exit(2);
}

static int
cmd_freeport(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
		die("cannot find a free port");
	printf("%u\n", ntohs(sa.sin_port));
	close(fd);
	return 0;
}

static int
cmd_waitport(int argc, char **argv)
{
	double deadline;
	int fd;

	if (argc != 4)
		usage();
	deadline = now() + atof(argv[3]);
	while (now() < deadline) {
		fd = tcp_connect((uint16_t)atoi(argv[2]));
		if (fd >= 0) {
			close(fd);
			return 0;
		}
		usleep(50000);
	}
	fprintf(stderr, "enroll-load: port %s not open\n", argv[2]);
	return 1;
}

/* The median time of a 4 KiB write + fsync in DIR: what one durable
 * write costs on the filesystem the server's state lives on. */
static int
cmd_fsync(int argc, char **argv)
{
	unsigned count = argc > 3 ? (unsigned)atoi(argv[3]) : 200, i;
	char path[4096], block[4096];
	double *t;
	int fd;

	if (argc < 3 || count == 0 || count > 100000)
		usage();
	snprintf(path, sizeof(path), "%s/.enroll-load-fsync.%d", argv[2],
		 (int)getpid());
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	t = malloc(count * sizeof(double));
	if (fd < 0 || !t)
		die("cannot create the fsync test file");
	memset(block, 'x', sizeof(block));
	for (i = 0; i < count; i++) {
		double s = now();
		if (write(fd, block, sizeof(block)) != sizeof(block) ||
		    fsync(fd) < 0)
			die("write/fsync failed");
		t[i] = now() - s;
	}
	close(fd);
	unlink(path);
	qsort(t, count, sizeof(double), cmp_double);
	printf("fsync_p50_ms=%.3f fsync_p99_ms=%.3f count=%u\n",
	       percentile(t, count, 50) * 1e3, percentile(t, count, 99) * 1e3,
	       count);
	free(t);
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"port", required_argument, NULL, 'p'},
		{"requests", required_argument, NULL, 'n'},
		{"concurrency", required_argument, NULL, 'c'},
		{"rate", required_argument, NULL, 'r'},
		{"token-file", required_argument, NULL, 't'},
		{"path", required_argument, NULL, 'P'},
		{"prefix", required_argument, NULL, 'x'},
		{"max-seconds", required_argument, NULL, 'm'},
		{},
	};
	struct load l = {.n = 1000, .concurrency = 16, .max_seconds = 120};
	const char *token_file = NULL, *path = "/", *prefix = "bench";
	pthread_t threads[THREADS_MAX];
	double prep, start, wall;
	unsigned i;
	int o;

	if (argc < 2)
		usage();
	if (strcmp(argv[1], "freeport") == 0)
		return cmd_freeport();
	if (strcmp(argv[1], "waitport") == 0)
		return cmd_waitport(argc, argv);
	if (strcmp(argv[1], "fsync") == 0)
		return cmd_fsync(argc, argv);
	if (strcmp(argv[1], "enroll") == 0)
		l.mode = MODE_ENROLL;
	else if (strcmp(argv[1], "get") == 0)
		l.mode = MODE_GET;
	else
		usage();
	optind = 2;
	while ((o = getopt_long(argc, argv, "n:c:", opts, NULL)) >= 0) {
		switch (o) {
		case 'p':
			l.port = (uint16_t)atoi(optarg);
			break;
		case 'n':
			l.n = (unsigned)atoi(optarg);
			break;
		case 'c':
			l.concurrency = (unsigned)atoi(optarg);
			break;
		case 'r':
			l.rate = atof(optarg);
			break;
		case 't':
			token_file = optarg;
			break;
		case 'P':
			path = optarg;
			break;
		case 'x':
			prefix = optarg;
			break;
		case 'm':
			l.max_seconds = atof(optarg);
			break;
		default:
			usage();
		}
	}
	if (!l.port || l.n == 0 || l.n > REQUESTS_MAX || l.concurrency == 0 ||
	    l.concurrency > THREADS_MAX || l.rate < 0 || l.max_seconds <= 0 ||
	    (l.mode == MODE_ENROLL && !token_file))
		usage();
	if (l.concurrency > l.n)
		l.concurrency = l.n;

	l.ctx = SSL_CTX_new(TLS_client_method());
	if (!l.ctx || !SSL_CTX_set_min_proto_version(l.ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_max_proto_version(l.ctx, TLS1_3_VERSION))
		die("cannot set up TLS");
	SSL_CTX_set_verify(l.ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_session_cache_mode(l.ctx, SSL_SESS_CACHE_OFF);

	/* Everything the clock must not see: keys, CSRs, request bytes. */
	prep = now();
	make_requests(&l, l.mode == MODE_ENROLL ? read_token(token_file) : "",
		      path, prefix);
	prep = now() - prep;
	l.latency = calloc(l.n, sizeof(double));
	l.service = calloc(l.n, sizeof(double));
	l.status = calloc(l.n, sizeof(int));
	if (!l.latency || !l.service || !l.status)
		die("out of memory");

	pthread_barrier_init(&l.ready, NULL, l.concurrency + 1);
	for (i = 0; i < l.concurrency; i++)
		if (pthread_create(&threads[i], NULL, worker, &l) != 0)
			die("cannot start a thread");
	l.t0 = now() + (l.rate > 0 ? 0.01 : 0);
	pthread_barrier_wait(&l.ready);
	start = l.t0;
	for (i = 0; i < l.concurrency; i++)
		pthread_join(threads[i], NULL);
	wall = now() - start;
	report(&l, wall, prep);
	return 0;
}
