/*
 * UNIX sockets: pairs, their kind, and messages that carry fds (SCM_RIGHTS),
 * sent and received with MSG_DONTWAIT so the event loop never blocks and no
 * O_NONBLOCK is set on a description a worker shares (see fds.c).
 */
#define _GNU_SOURCE
#include "olympus_native.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define RECV_BUFFER_SIZE (64 * 1024)
#define RECV_MAX_FDS 64  /* more in one message is MSG_CTRUNC, an error */
#define SEND_MAX_FDS 253 /* SCM_MAX_FD, the kernel's limit per message */

static void close_all(const int* fds, int count) {
  for (int i = 0; i < count; i++) {
    close(fds[i]);
  }
}

/* Throws an Error with our own code, for conditions that have no errno. */
static napi_value throw_coded(napi_env env, const char* code, const char* message) {
  napi_throw_error(env, code, message);
  return NULL;
}

/* socketpair("stream" | "dgram") -> [fd, fd]: AF_UNIX, CLOEXEC, both blocking. */
napi_value js_socketpair(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) {
    return napi_failure(env);
  }
  char type[8] = "";
  size_t length = 0;
  napi_get_value_string_utf8(env, argv[0], type, sizeof type, &length);
  int kind;
  if (strcmp(type, "stream") == 0) {
    kind = SOCK_STREAM;
  } else if (strcmp(type, "dgram") == 0) {
    kind = SOCK_DGRAM;
  } else {
    napi_throw_type_error(env, NULL, "socketpair type must be \"stream\" or \"dgram\"");
    return NULL;
  }

  int fds[2];
  return make_fd_pair(env, socketpair(AF_UNIX, kind | SOCK_CLOEXEC, 0, fds), "socketpair", fds);
}

/* socketType(fd) -> "stream" | "dgram", for a socket that arrived from a
 * worker (the Zeus shims use either). */
napi_value js_socket_type(napi_env env, napi_callback_info info) {
  int fd;
  if (!get_fd_argument(env, info, &fd)) {
    return NULL;
  }
  int type = 0;
  socklen_t length = sizeof type;
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &length) < 0) {
    return throw_errno(env, "getsockopt(SO_TYPE)", fd, errno);
  }
  if (type != SOCK_STREAM && type != SOCK_DGRAM) {
    char text[128];
    snprintf(text, sizeof text, "socketType(fd %d): socket type %d is neither stream nor dgram", fd, type);
    return throw_coded(env, "ERR_SOCKET_TYPE", text);
  }
  napi_value result;
  CHECK(env, napi_create_string_utf8(env, type == SOCK_STREAM ? "stream" : "dgram", NAPI_AUTO_LENGTH, &result));
  return result;
}

/* shutdownWrite(fd): the peer of a stream socket reads EOF, while we can still read. */
napi_value js_shutdown_write(napi_env env, napi_callback_info info) {
  int fd;
  if (!get_fd_argument(env, info, &fd)) {
    return NULL;
  }
  if (shutdown(fd, SHUT_WR) < 0) {
    return throw_errno(env, "shutdown(SHUT_WR)", fd, errno);
  }
  return NULL;
}
/* sendmsg(fd, data, fds) -> bytes sent, or -1 if the socket is full.
 *
 * The fds are copied into the kernel: the caller still owns its fds and may
 * close them as soon as this returns. Fds need at least one byte of data to
 * ride on (a stream socket drops fds sent with zero bytes), so that is an
 * error. On a stream socket a partial send is possible; the fds then went
 * with the first byte. */
napi_value js_sendmsg(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int fd;
  void* data;
  size_t length;
  if (!get_args(env, info, 3, argv) || !get_fd(env, argv[0], &fd) ||
      !get_buffer(env, argv[1], "sendmsg data", &data, &length)) {
    return NULL;
  }

  uint32_t fd_count = 0;
  bool is_array = false;
  napi_is_array(env, argv[2], &is_array);
  if (is_array) {
    CHECK(env, napi_get_array_length(env, argv[2], &fd_count));
  }
  if (fd_count > SEND_MAX_FDS) {
    napi_throw_range_error(env, NULL, "sendmsg: at most 253 fds fit in one message");
    return NULL;
  }
  if (fd_count > 0 && length == 0) {
    napi_throw_range_error(env, NULL, "sendmsg: fds need at least one byte of data to travel with");
    return NULL;
  }

  union {
    struct cmsghdr align;
    char bytes[CMSG_SPACE(sizeof(int) * SEND_MAX_FDS)];
  } control;
  struct iovec iov = {.iov_base = data, .iov_len = length};
  struct msghdr message = {.msg_iov = &iov, .msg_iovlen = 1};

  if (fd_count > 0) {
    memset(&control, 0, sizeof control);
    message.msg_control = control.bytes;
    message.msg_controllen = CMSG_SPACE(sizeof(int) * fd_count);
    struct cmsghdr* header = CMSG_FIRSTHDR(&message);
    header->cmsg_level = SOL_SOCKET;
    header->cmsg_type = SCM_RIGHTS;
    header->cmsg_len = CMSG_LEN(sizeof(int) * fd_count);
    unsigned char* slot = CMSG_DATA(header);
    for (uint32_t i = 0; i < fd_count; i++) {
      napi_value element;
      int passed;
      CHECK(env, napi_get_element(env, argv[2], i, &element));
      if (!get_fd(env, element, &passed)) {
        return NULL;
      }
      memcpy(slot + i * sizeof(int), &passed, sizeof(int));
    }
  }

  return make_sent(env, TEMP_FAILURE_RETRY(sendmsg(fd, &message, MSG_DONTWAIT | MSG_NOSIGNAL)), "sendmsg", fd);
}

/* Builds {data, fds} (plus eof: true when asked). The caller closes the fds
 * if this fails. */
static napi_value make_message(napi_env env, const char* data, size_t length, const int* fds, int fd_count,
                               bool eof) {
  napi_value result, buffer, list;
  CHECK(env, napi_create_object(env, &result));
  CHECK(env, napi_create_buffer_copy(env, length, data, NULL, &buffer));
  CHECK(env, napi_create_array_with_length(env, fd_count, &list));
  for (int i = 0; i < fd_count; i++) {
    napi_value number;
    CHECK(env, napi_create_int32(env, fds[i], &number));
    CHECK(env, napi_set_element(env, list, i, number));
  }
  CHECK(env, napi_set_named_property(env, result, "data", buffer));
  CHECK(env, napi_set_named_property(env, result, "fds", list));
  if (eof) {
    napi_value yes;
    CHECK(env, napi_get_boolean(env, true, &yes));
    CHECK(env, napi_set_named_property(env, result, "eof", yes));
  }
  return result;
}

/* recvmsg(fd) -> {data, fds}, null if nothing is waiting, or
 * {data: <empty>, fds: [], eof: true} when a stream's peer has closed.
 *
 * Received fds are CLOEXEC (MSG_CMSG_CLOEXEC), so no child we spawn later
 * inherits them by accident. They belong to the caller. */
napi_value js_recvmsg(napi_env env, napi_callback_info info) {
  int fd;
  if (!get_fd_argument(env, info, &fd)) {
    return NULL;
  }

  char data[RECV_BUFFER_SIZE];
  union {
    struct cmsghdr align;
    char bytes[CMSG_SPACE(sizeof(int) * RECV_MAX_FDS)];
  } control;
  struct iovec iov = {.iov_base = data, .iov_len = sizeof data};
  struct msghdr message = {
    .msg_iov = &iov,
    .msg_iovlen = 1,
    .msg_control = control.bytes,
    .msg_controllen = sizeof control.bytes,
  };

  ssize_t received = TEMP_FAILURE_RETRY(recvmsg(fd, &message, MSG_DONTWAIT | MSG_CMSG_CLOEXEC));
  if (received < 0) {
    return is_again(errno) ? make_null(env) : throw_errno(env, "recvmsg", fd, errno);
  }

  /* Take every fd that arrived before deciding anything, so none can leak. */
  int fds[RECV_MAX_FDS];
  int fd_count = 0;
  bool too_many = false;
  for (struct cmsghdr* header = CMSG_FIRSTHDR(&message); header != NULL;
       header = CMSG_NXTHDR(&message, header)) {
    if (header->cmsg_level != SOL_SOCKET || header->cmsg_type != SCM_RIGHTS) {
      continue;
    }
    size_t count = (header->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; i++) {
      int passed;
      memcpy(&passed, CMSG_DATA(header) + i * sizeof(int), sizeof(int));
      if (fd_count < RECV_MAX_FDS) {
        fds[fd_count++] = passed;
      } else {
        close(passed);
        too_many = true;
      }
    }
  }

  char text[256];
  if ((message.msg_flags & MSG_CTRUNC) || too_many) {
    /* The kernel sets MSG_CTRUNC when more fds came than we have room for, or
     * when it could not install them (fd limit). Either way the sender's fds
     * are incomplete; keeping half of them would only confuse the caller. */
    close_all(fds, fd_count);
    snprintf(text, sizeof text,
             "recvmsg(fd %d): fds truncated (MSG_CTRUNC): more than %d fds in one message or the fd limit "
             "reached; the %d that arrived were closed",
             fd, RECV_MAX_FDS, fd_count);
    return throw_coded(env, "ERR_FDS_TRUNCATED", text);
  }
  if (message.msg_flags & MSG_TRUNC) {
    close_all(fds, fd_count);
    snprintf(text, sizeof text, "recvmsg(fd %d): datagram larger than %d bytes was truncated", fd,
             RECV_BUFFER_SIZE);
    return throw_coded(env, "ERR_MESSAGE_TRUNCATED", text);
  }

  /* Zero bytes is end-of-stream on a stream socket, but a real (empty)
   * message on a datagram socket. */
  bool eof = false;
  if (received == 0 && fd_count == 0) {
    int type = 0;
    socklen_t type_length = sizeof type;
    eof = getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &type_length) == 0 && type == SOCK_STREAM;
  }

  napi_value result = make_message(env, data, (size_t)received, fds, fd_count, eof);
  if (result == NULL) {
    close_all(fds, fd_count);
  }
  return result;
}
