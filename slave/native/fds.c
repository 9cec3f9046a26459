/*
 * Pipes, and reads and writes that never block the event loop.
 *
 * Why no O_NONBLOCK: that flag lives on the open file description, which a
 * socket end or pipe end shares with every process holding a copy of it (a
 * worker we sent it to, a worker that sent it to us). Setting it would change
 * the fd under the other process's feet. So we never set it:
 * - sockets use MSG_DONTWAIT on each call;
 * - read() and write() ask poll() with a zero timeout first, and write() of a
 *   blocking fd sends at most PIPE_BUF bytes, which a writable pipe always
 *   takes at once (fds that already have O_NONBLOCK, such as our PTY master,
 *   just get EAGAIN from the kernel).
 */
#define _GNU_SOURCE
#include "olympus_native.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define READ_BUFFER_SIZE (64 * 1024)

/* {eof: true}: the peer closed a stream, a pipe's writers are gone, or a PTY
 * master reported EIO because no slave fd is open any more. */
static napi_value make_eof(napi_env env) {
  napi_value result, yes;
  CHECK(env, napi_create_object(env, &result));
  CHECK(env, napi_get_boolean(env, true, &yes));
  CHECK(env, napi_set_named_property(env, result, "eof", yes));
  return result;
}

/* Returns 1 if fd is ready for `events` (or hung up or in error: the next
 * syscall reports which), 0 if not, -1 with errno set on failure. */
static int poll_now(int fd, short events) {
  struct pollfd entry = {.fd = fd, .events = events};
  int ready = TEMP_FAILURE_RETRY(poll(&entry, 1, 0));
  if (ready > 0 && (entry.revents & POLLNVAL)) {
    errno = EBADF;
    return -1;
  }
  return ready;
}

/* pipe() -> [readFd, writeFd], both CLOEXEC and blocking. */
napi_value js_pipe(napi_env env, napi_callback_info info) {
  (void)info;
  int fds[2];
  return make_fd_pair(env, pipe2(fds, O_CLOEXEC), "pipe2", fds);
}

/* dup(fd) -> a new CLOEXEC fd for the same open file description. */
napi_value js_dup(napi_env env, napi_callback_info info) {
  int fd;
  if (!get_fd_argument(env, info, &fd)) {
    return NULL;
  }
  int copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (copy < 0) {
    return throw_errno(env, "dup", fd, errno);
  }
  return make_int(env, copy);
}
/* read(fd, maxBytes) -> Buffer, null if nothing is waiting, or {eof: true}. */
napi_value js_read(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int fd, max_bytes;
  if (!get_args(env, info, 2, argv) || !get_fd(env, argv[0], &fd) ||
      !get_int(env, argv[1], "maxBytes", 1, READ_BUFFER_SIZE, &max_bytes)) {
    return NULL;
  }

  int ready = poll_now(fd, POLLIN);
  if (ready < 0) {
    return throw_errno(env, "read", fd, errno);
  }
  if (ready == 0) {
    return make_null(env);
  }

  char buffer[READ_BUFFER_SIZE];
  ssize_t count = TEMP_FAILURE_RETRY(read(fd, buffer, (size_t)max_bytes));
  if (count < 0) {
    if (is_again(errno)) {
      return make_null(env);
    }
    if (errno == EIO) {
      return make_eof(env); /* PTY master: the slave side is closed */
    }
    return throw_errno(env, "read", fd, errno);
  }
  if (count == 0) {
    return make_eof(env);
  }
  napi_value result;
  CHECK(env, napi_create_buffer_copy(env, (size_t)count, buffer, NULL, &result));
  return result;
}

/* write(fd, data) -> bytes written (possibly fewer than asked), or -1 if the
 * fd cannot take any now. */
napi_value js_write(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int fd;
  void* data;
  size_t length;
  if (!get_args(env, info, 2, argv) || !get_fd(env, argv[0], &fd) ||
      !get_buffer(env, argv[1], "write data", &data, &length)) {
    return NULL;
  }

  /* A non-blocking fd (our PTY master) just writes: one syscall per keystroke. */
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || !(flags & O_NONBLOCK)) {
    int ready = poll_now(fd, POLLOUT);
    if (ready < 0) {
      return throw_errno(env, "write", fd, errno);
    }
    if (ready == 0) {
      return make_int(env, -1);
    }
    /* A blocking write larger than the free space would wait for the reader;
     * PIPE_BUF bytes always fit once poll says writable. */
    if (length > PIPE_BUF) {
      length = PIPE_BUF;
    }
  }

  return make_sent(env, TEMP_FAILURE_RETRY(write(fd, data, length)), "write", fd);
}
