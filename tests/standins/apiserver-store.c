/* SPDX-License-Identifier: MIT */
/* STAND-IN (geostage tests) for the Kubernetes API server: its "etcd", one
 * JSON file per object under the state dir, so that tests can inspect
 * what geostage created and a restarted stand-in keeps its objects. */
#include "config.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "apiserver.h"
#include "common.h"
#include "fileio.h"
#include "log.h"
#include "name.h"

#define STORE_FILE_MAX (256 * 1024)

static bool
secret_name_ok(const char *name)
{
	const char *id = startswith(name, "bootstrap-token-");

	return id && bootstrap_token_id_is_valid(id);
}

static int
open_dir(const char *state, const char *sub, int *ret)
{
	char path[4096];
	int fd, r;

	snprintf(path, sizeof(path), "%s/%s", state, sub);
	r = mkdir_safe(path, 0700);
	if (r < 0)
		return log_error_errno(r, "cannot create %s: %s", path,
				       strerror(-r));
	fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return log_error_errno(errno, "cannot open %s: %m", path);
	*ret = fd;
	return 0;
}

static void
load_one(int dirfd, const char *file, bool (*ok)(const char *), json_t *into)
{
	_cleanup_free_ char *text = NULL, *name = NULL;
	const char *dot = strrchr(file, '.');
	json_t *obj;
	size_t len;

	if (!dot || !streq(dot, ".json"))
		return;
	name = strndup(file, (size_t)(dot - file));
	if (!name || !ok(name) ||
	    read_file_at(dirfd, file, STORE_FILE_MAX, &text, &len) < 0) {
		log_warning("ignoring stored object %s", file);
		return;
	}
	obj = json_loadb(text, len, 0, NULL);
	if (!json_is_object(obj)) {
		log_warning("ignoring unreadable stored object %s", file);
		json_decref(obj);
		return;
	}
	json_object_set_new(into, name, obj);
}

static int
load_dir(int dirfd, bool (*ok)(const char *), json_t *into)
{
	DIR *d;
	struct dirent *de;
	int fd = dup(dirfd);

	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return negative_errno();
	}
	while ((de = readdir(d)))
		if (de->d_type == DT_REG)
			load_one(dirfd, de->d_name, ok, into);
	closedir(d);
	return 0;
}

int
store_open(struct apiserver *a)
{
	int r;

	if ((r = open_dir(a->state_dir, "secrets", &a->secrets_dirfd)) < 0 ||
	    (r = open_dir(a->state_dir, "nodes", &a->nodes_dirfd)) < 0)
		return r;
	if ((r = load_dir(a->secrets_dirfd, secret_name_ok, a->secrets)) < 0 ||
	    (r = load_dir(a->nodes_dirfd, name_is_dns_label, a->nodes)) < 0)
		return log_error_errno(r, "cannot load the stored objects");
	log_info("loaded %zu Secret(s) and %zu Node(s) from %s",
		 json_object_size(a->secrets), json_object_size(a->nodes),
		 a->state_dir);
	return 0;
}

int
store_save(int dirfd, const char *name, json_t *obj)
{
	_cleanup_erase_ char *text = json_dumps(obj, JSON_INDENT(2));
	char file[128];

	if (!text)
		return -ENOMEM;
	snprintf(file, sizeof(file), "%s.json", name);
	return write_file_atomic_at(dirfd, file, text, strlen(text), 0600);
}

int
store_delete(int dirfd, const char *name)
{
	char file[128];

	snprintf(file, sizeof(file), "%s.json", name);
	return unlink_file_at(dirfd, file);
}
