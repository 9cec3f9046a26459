/* Pseudo-terminals: open a pair, window size, foreground process group. */
#define _GNU_SOURCE
#include "olympus_native.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

/* openpty() -> {master, slave, path}. Both fds are CLOEXEC; the master is
 * O_NONBLOCK (only we hold it), the slave stays blocking because it becomes
 * a process's stdin/stdout, and that process expects blocking I/O. */
napi_value js_openpty(napi_env env, napi_callback_info info) {
  (void)info;
  int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0) {
    return throw_errno(env, "posix_openpt", -1, errno);
  }
  char path[64];
  if (unlockpt(master) < 0 || ptsname_r(master, path, sizeof path) != 0) {
    int err = errno;
    close(master);
    return throw_errno(env, "unlockpt", -1, err);
  }
  /* TIOCGPTPEER opens the slave through the master itself, so a lookup by
   * path cannot reach some other devpts instance. */
  int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (slave < 0) {
    int err = errno;
    close(master);
    return throw_errno(env, "ioctl(TIOCGPTPEER)", -1, err);
  }
  int flags = fcntl(master, F_GETFL);
  if (flags < 0 || fcntl(master, F_SETFL, flags | O_NONBLOCK) < 0) {
    int err = errno;
    close(master);
    close(slave);
    return throw_errno(env, "fcntl(O_NONBLOCK)", -1, err);
  }

  napi_value result, master_value, slave_value, path_value;
  if (napi_create_object(env, &result) != napi_ok ||
      napi_create_int32(env, master, &master_value) != napi_ok ||
      napi_create_int32(env, slave, &slave_value) != napi_ok ||
      napi_create_string_utf8(env, path, NAPI_AUTO_LENGTH, &path_value) != napi_ok ||
      napi_set_named_property(env, result, "master", master_value) != napi_ok ||
      napi_set_named_property(env, result, "slave", slave_value) != napi_ok ||
      napi_set_named_property(env, result, "path", path_value) != napi_ok) {
    close(master);
    close(slave);
    return napi_failure(env);
  }
  return result;
}

/* setWindowSize(fd, cols, rows). On a master this also sends SIGWINCH to
 * the terminal's foreground process group. */
napi_value js_set_window_size(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int fd, cols, rows;
  if (!get_args(env, info, 3, argv) || !get_fd(env, argv[0], &fd) ||
      !get_int(env, argv[1], "cols", 1, 65535, &cols) || !get_int(env, argv[2], "rows", 1, 65535, &rows)) {
    return NULL;
  }
  struct winsize size = {.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};
  if (ioctl(fd, TIOCSWINSZ, &size) < 0) {
    return throw_errno(env, "ioctl(TIOCSWINSZ)", fd, errno);
  }
  return NULL;
}

/* getWindowSize(fd) -> {cols, rows} */
napi_value js_get_window_size(napi_env env, napi_callback_info info) {
  int fd;
  if (!get_fd_argument(env, info, &fd)) {
    return NULL;
  }
  struct winsize size;
  if (ioctl(fd, TIOCGWINSZ, &size) < 0) {
    return throw_errno(env, "ioctl(TIOCGWINSZ)", fd, errno);
  }
  napi_value result;
  CHECK(env, napi_create_object(env, &result));
  CHECK(env, napi_set_named_property(env, result, "cols", make_int(env, size.ws_col)));
  CHECK(env, napi_set_named_property(env, result, "rows", make_int(env, size.ws_row)));
  return result;
}

/* foregroundProcessGroup(fd) -> process group id; 0 if the terminal has
 * none. Works on the master side too (Linux). */
napi_value js_foreground_process_group(napi_env env, napi_callback_info info) {
  int fd;
  if (!get_fd_argument(env, info, &fd)) {
    return NULL;
  }
  pid_t group = tcgetpgrp(fd);
  if (group < 0) {
    return throw_errno(env, "tcgetpgrp", fd, errno);
  }
  return make_int(env, group);
}
