/* Process lifetime: pidfds and the child-subreaper flag. */
#define _GNU_SOURCE
#include "olympus_native.h"

#include <errno.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434 /* the same number on every architecture */
#endif

/* pidfdOpen(pid) -> fd that becomes readable when the process exits. Works
 * for any process we may signal, not only our children. The kernel always
 * makes pidfds CLOEXEC. Throws code ESRCH if the process is gone. */
napi_value js_pidfd_open(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int pid;
  if (!get_args(env, info, 1, argv) || !get_int(env, argv[0], "pid", 1, INT32_MAX, &pid)) {
    return NULL;
  }
  long fd = syscall(SYS_pidfd_open, (pid_t)pid, 0);
  if (fd < 0) {
    return throw_errno(env, "pidfd_open", -1, errno);
  }
  return make_int(env, fd);
}

/* setChildSubreaper(): orphaned descendants are re-parented to us instead of
 * init. Whoever calls this must also reap them (waitpid), or they stay
 * zombies: libuv only reaps the children it spawned itself. */
napi_value js_set_child_subreaper(napi_env env, napi_callback_info info) {
  (void)info;
  if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0) {
    return throw_errno(env, "prctl(PR_SET_CHILD_SUBREAPER)", -1, errno);
  }
  return NULL;
}
