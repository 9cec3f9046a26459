/* Process lifetime: pidfds, peers, stand-ins and the guardian. */
#define _GNU_SOURCE
#include "olympus_native.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SYS_close_range
#define SYS_close_range 436
#endif

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

/* How a process that is not our child ended. While it is a zombie,
 * /proc/PID/stat shows its wait status (Linux 3.5). Once its parent has
 * reaped it, a pidfd opened before then tells it (PIDFD_INFO_EXIT, Linux
 * 6.15). The pidfd's hang-up marks the reaping, after which the pid may be
 * another process's. */
struct pidfd_info_exit {
  uint64_t mask;
  uint64_t cgroupid;
  uint32_t pid, tgid, ppid, ruid, rgid, euid, egid, suid, sgid, fsuid, fsgid;
  int32_t exit_code;
  uint32_t coredump_mask;
  uint32_t spare;
};
#define PIDFD_GET_INFO _IOWR(0xFF, 11, struct pidfd_info_exit)
#define PIDFD_INFO_EXIT (1UL << 3)

static bool reaped(int pidfd) {
  struct pollfd entry = {.fd = pidfd, .events = POLLIN};
  return TEMP_FAILURE_RETRY(poll(&entry, 1, 0)) > 0 && (entry.revents & POLLHUP);
}

/* 1 with *status set if the process is a zombie, 0 if not. */
static int zombie_status(int pid, int* status) {
  char path[64], text[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return 0;
  }
  ssize_t length = TEMP_FAILURE_RETRY(read(fd, text, sizeof text - 1));
  close(fd);
  char* field = length > 0 ? (text[length] = '\0', strrchr(text, ')')) : NULL;
  if (field == NULL || field[1] != ' ' || field[2] != 'Z') {
    return 0;
  }
  /* After "pid (comm)", fields 3 to 52: the state first, the exit code last.
   * Each pass steps to the space before field `number`. */
  for (int number = 3; number <= 52; number++) {
    field = strchr(field + 1, ' ');
    if (field == NULL) {
      return 0;
    }
  }
  *status = atoi(field + 1);
  return 1;
}

/* 1 with *status set if the process has ended and we can tell how, 0 if not
 * (still running, or a kernel that keeps no status for a pidfd), -1 on error. */
static int exit_status_of(int pidfd, int pid, int* status) {
  if (!reaped(pidfd)) {
    if (zombie_status(pid, status) == 0) {
      return 0;
    }
    if (!reaped(pidfd)) {
      return 1; /* still the zombie we read, not a later process with its pid */
    }
  }
  struct pidfd_info_exit info = {.mask = PIDFD_INFO_EXIT};
  if (ioctl(pidfd, PIDFD_GET_INFO, &info) < 0) {
    return errno == ENOTTY || errno == EINVAL ? 0 : -1;
  }
  if (!(info.mask & PIDFD_INFO_EXIT)) {
    return 0;
  }
  *status = info.exit_code;
  return 1;
}

/* exitStatus(pidfd, pid) -> {code, signal} once the process has ended and we
 * can tell how, null before then or where the kernel cannot tell. */
napi_value js_exit_status(napi_env env, napi_callback_info info) {
  napi_value argv[2], result, code, signal_number;
  int fd, pid, status;
  if (!get_args(env, info, 2, argv) || !get_fd(env, argv[0], &fd) ||
      !get_int(env, argv[1], "pid", 1, INT32_MAX, &pid)) {
    return NULL;
  }
  int known = exit_status_of(fd, pid, &status);
  if (known < 0) {
    return throw_errno(env, "ioctl(PIDFD_GET_INFO)", fd, errno);
  }
  if (known == 0) {
    CHECK(env, napi_get_null(env, &result));
    return result;
  }
  CHECK(env, napi_create_object(env, &result));
  if (WIFSIGNALED(status)) {
    CHECK(env, napi_get_null(env, &code));
    CHECK(env, napi_create_int32(env, WTERMSIG(status), &signal_number));
  } else {
    CHECK(env, napi_create_int32(env, WEXITSTATUS(status), &code));
    CHECK(env, napi_get_null(env, &signal_number));
  }
  CHECK(env, napi_set_named_property(env, result, "code", code));
  CHECK(env, napi_set_named_property(env, result, "signal", signal_number));
  return result;
}

/* exitStatusByPidfd() -> whether this kernel keeps a reaped process's
 * status for its pidfds: a vforked child that exits at once is reaped, then
 * asked about. */
napi_value js_exit_status_by_pidfd(napi_env env, napi_callback_info info) {
  (void)info;
  bool supported = false;
  pid_t child = vfork();
  if (child == 0) {
    _exit(0);
  }
  if (child > 0) {
    long fd = syscall(SYS_pidfd_open, child, 0); /* a zombie until reaped below */
    TEMP_FAILURE_RETRY(waitpid(child, NULL, 0));
    struct pidfd_info_exit exit_info = {.mask = PIDFD_INFO_EXIT};
    supported = fd >= 0 && ioctl((int)fd, PIDFD_GET_INFO, &exit_info) == 0 && (exit_info.mask & PIDFD_INFO_EXIT);
    if (fd >= 0) {
      close((int)fd);
    }
  }
  napi_value result;
  CHECK(env, napi_get_boolean(env, supported, &result));
  return result;
}

/* The guardian: a forked child that outlives a SIGKILLed agent by a moment
 * and kills the process groups the agent registered. The agent writes int32
 * values to a pipe: N > 0 means "kill group N when I am gone", N < 0 means
 * "forget group -N". End of file on the pipe means the agent has died (or
 * stopped), because only the agent holds the write end (CLOEXEC, so no worker
 * inherits it). */

#define GUARDIAN_MAX_GROUPS 65536

/* Runs in the forked child of a multi-threaded process: only
 * async-signal-safe calls (raw syscalls), no malloc, no Node. */
static void guard(int fd) {
  static pid_t groups[GUARDIAN_MAX_GROUPS];
  size_t count = 0;
  int32_t value;
  for (;;) {
    ssize_t got = read(fd, &value, sizeof value);
    if (got < 0 && errno == EINTR) {
      continue;
    }
    if (got != (ssize_t)sizeof value) {
      break;
    }
    if (value > 0 && count < GUARDIAN_MAX_GROUPS) {
      groups[count++] = value;
    } else if (value < 0) {
      for (size_t i = 0; i < count; i++) {
        if (groups[i] == -value) {
          groups[i] = groups[--count];
          break;
        }
      }
    }
  }
  for (size_t i = 0; i < count; i++) {
    kill(-groups[i], SIGKILL);
    kill(groups[i], SIGKILL);
  }
  _exit(0);
}

/* startGuardian() -> the write end of the guardian's pipe. */
napi_value js_start_guardian(napi_env env, napi_callback_info info) {
  (void)info;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) < 0) {
    return throw_errno(env, "pipe2", -1, errno);
  }
  pid_t pid = fork();
  if (pid < 0) {
    int err = errno;
    close(fds[0]);
    close(fds[1]);
    return throw_errno(env, "fork", -1, err);
  }
  if (pid == 0) {
    /* Its own session: ^C at the agent's terminal must not take the guardian with it. */
    setsid();
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    int null = open("/dev/null", O_RDWR);
    dup2(null, 0);
    dup2(null, 1);
    dup2(null, 2);
    int keep = fds[0];
    syscall(SYS_close_range, 3, keep - 1, 0);
    syscall(SYS_close_range, keep + 1, ~0U, 0);
    prctl(PR_SET_NAME, "olympus-guard", 0, 0, 0);
    guard(keep);
  }
  close(fds[0]);
  return make_int(env, fds[1]);
}

/* peerPid(fd) -> the pid of the process that made this UNIX socket's pair
 * (SO_PEERCRED): for a socket a Zeus runner sent back, the runner. */
napi_value js_peer_pid(napi_env env, napi_callback_info info) {
  int fd;
  if (!get_fd_argument(env, info, &fd)) {
    return NULL;
  }
  struct ucred credentials;
  socklen_t length = sizeof credentials;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) < 0) {
    return throw_errno(env, "getsockopt(SO_PEERCRED)", fd, errno);
  }
  return make_int(env, credentials.pid);
}

/* startStandIn() -> pid of a forked child that holds no fds, ignores every
 * signal it can, and waits to be killed; it dies with this process too. A
 * Zeus runner is told its pid as the client's, so the runner's watchdog and
 * its parting SIGTERM meet it, never the agent. Reap it with reap(pid). */
napi_value js_start_stand_in(napi_env env, napi_callback_info info) {
  (void)info;
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    return throw_errno(env, "fork", -1, errno);
  }
  if (pid == 0) {
    /* Forked from a multi-threaded process: raw syscalls only. */
    static const int ignored[] = {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGPIPE, SIGALRM, SIGTSTP, SIGTTIN, SIGTTOU};
    for (size_t i = 0; i < sizeof ignored / sizeof ignored[0]; i++) {
      signal(ignored[i], SIG_IGN);
    }
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    syscall(SYS_close_range, 0, ~0U, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    prctl(PR_SET_NAME, "olympus-client", 0, 0, 0);
    if (getppid() != parent) {
      _exit(0);
    }
    for (;;) {
      pause();
    }
  }
  return make_int(env, pid);
}

/* reap(pid) -> true once the child `pid` has been waited for, false while it
 * runs. For children forked here, which libuv does not reap. */
napi_value js_reap(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int pid;
  if (!get_args(env, info, 1, argv) || !get_int(env, argv[0], "pid", 1, INT32_MAX, &pid)) {
    return NULL;
  }
  pid_t done = TEMP_FAILURE_RETRY(waitpid(pid, NULL, WNOHANG));
  if (done < 0 && errno != ECHILD) {
    return throw_errno(env, "waitpid", -1, errno);
  }
  napi_value result;
  CHECK(env, napi_get_boolean(env, done != 0, &result));
  return result;
}
