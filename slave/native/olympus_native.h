/*
 * Shared declarations of the olympus_native addon.
 *
 * The C side is thin on purpose: each exported function is one or two
 * syscalls plus argument checks. All policy (queues, ownership, events) lives
 * in slave/native/index.ts. The one exception is reader.c, whose thread must
 * decide by itself when to stop reading.
 */
#ifndef OLYMPUS_NATIVE_H
#define OLYMPUS_NATIVE_H

#define NAPI_VERSION 8
#include <node_api.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* Returns NULL from the current function when an N-API call fails; a JS
 * exception is then pending. */
#define CHECK(env, call)                  \
  do {                                    \
    if ((call) != napi_ok) {              \
      return napi_failure(env);           \
    }                                     \
  } while (0)

/* --- helpers (napi.c) --- */

/* Makes sure an exception is pending after a failed N-API call. Returns NULL. */
napi_value napi_failure(napi_env env);

/* Throws Error "<syscall>(fd N): ENAME (description)" with code, errno and
 * syscall set as Node does. Pass fd -1 when no fd is involved. Returns NULL. */
napi_value throw_errno(napi_env env, const char* syscall, int fd, int err);

/* Reads argument values; missing ones are undefined. */
bool get_args(napi_env env, napi_callback_info info, size_t count, napi_value* argv);

/* Reads an integer in [min, max]; throws a TypeError naming `what` otherwise. */
bool get_int(napi_env env, napi_value value, const char* what, int32_t min, int32_t max, int32_t* out);

/* Reads a file descriptor (a non-negative integer). */
bool get_fd(napi_env env, napi_value value, int* fd);
/* For functions whose one argument is an fd. */
bool get_fd_argument(napi_env env, napi_callback_info info, int* fd);
/* Reads a Buffer argument; throws a TypeError naming `what` otherwise. */
bool get_buffer(napi_env env, napi_value value, const char* what, void** data, size_t* length);

napi_value make_int(napi_env env, int64_t value);
napi_value make_null(napi_env env);

/* EAGAIN or EWOULDBLOCK: nothing to read, or no room to write, right now. */
bool is_again(int err);

/* What a write or send that must not block returns: the `count` bytes it
 * took, or -1 if the fd can take none now; throws on other errors (errno). */
napi_value make_sent(napi_env env, ssize_t count, const char* syscall, int fd);

/* What a call that makes two fds returns: [fds[0], fds[1]], or the error when
 * `result` < 0 (errno); closes both fds if the array cannot be built. */
napi_value make_fd_pair(napi_env env, int result, const char* syscall, const int fds[2]);

/* The C struct a class method's `this` wraps, with up to `count` arguments in
 * argv (and `this` in *self, if self is not NULL); throws TypeError
 * "not a <what>" and returns NULL otherwise. */
void* unwrap_this(napi_env env, napi_callback_info info, size_t count, napi_value* argv, napi_value* self, const char* what);

/* Calls a JS callback from a libuv callback, as Node's own I/O does: through
 * make_callback, so process.nextTick and promise jobs run afterwards and
 * async_hooks see the context. A throw becomes an uncaught exception. */
void call_back(napi_env env, napi_async_context context, napi_value receiver, napi_value callback, size_t argc, const napi_value* argv);

/* For a constructor taking an fd first: checks it was called with `new`
 * (throws TypeError "<what> must be called with new" otherwise), reads up to
 * `count` arguments into argv, `this` into *self, and the fd in argv[0]. */
bool get_constructor_args(napi_env env, napi_callback_info info, const char* what, size_t count, napi_value* argv,
                          napi_value* self, int* fd);

/* A method of a class define_class makes: its JS name and C function. */
typedef struct {
  const char* name;
  napi_callback function;
} method_t;

/* Defines the JS class `name`, whose constructor wraps a C struct in `this`,
 * with up to 8 methods. Returns the class, or NULL with an exception pending. */
napi_value define_class(napi_env env, const char* name, napi_callback constructor, const method_t* methods, size_t count);

/* The functions the module exports, as X(JS name, C function), by the file
 * that defines them: one list declares them here and registers them in
 * module.c. */
#define OLYMPUS_FUNCTIONS(X)                                  \
  /* socket.c: socket pairs and messages with fds */          \
  X("socketpair", js_socketpair)                              \
  X("socketType", js_socket_type)                             \
  X("shutdownWrite", js_shutdown_write)                       \
  X("sendmsg", js_sendmsg)                                    \
  X("recvmsg", js_recvmsg)                                    \
  /* fds.c: pipes, reads and writes */                        \
  X("pipe", js_pipe)                                          \
  X("dup", js_dup)                                            \
  X("read", js_read)                                          \
  X("write", js_write)                                        \
  /* pty.c: terminals */                                      \
  X("openpty", js_openpty)                                    \
  X("setWindowSize", js_set_window_size)                      \
  X("getWindowSize", js_get_window_size)                      \
  X("foregroundProcessGroup", js_foreground_process_group)    \
  /* process.c: process lifetime */                           \
  X("pidfdOpen", js_pidfd_open)                               \
  X("exitStatus", js_exit_status)                             \
  X("exitStatusByPidfd", js_exit_status_by_pidfd)             \
  X("startGuardian", js_start_guardian)                       \
  X("peerPid", js_peer_pid)                                   \
  X("startStandIn", js_start_stand_in)                        \
  X("reap", js_reap)

#define DECLARE_FUNCTION(js_name, function) napi_value function(napi_env env, napi_callback_info info);
OLYMPUS_FUNCTIONS(DECLARE_FUNCTION)
#undef DECLARE_FUNCTION

/* --- poller.c: uv_poll_t wrapped as a JS class --- */
napi_value define_poller_class(napi_env env);

/* --- reader.c: reading an fd on a thread of its own --- */
napi_value define_reader_class(napi_env env);

#endif
