/* The small N-API helpers every other file uses: argument checks, errors, values, callbacks. */
#define _GNU_SOURCE
#include "olympus_native.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

napi_value napi_failure(napi_env env) {
  /* Read the error info first: the next N-API call overwrites it. */
  const napi_extended_error_info* info = NULL;
  napi_get_last_error_info(env, &info);
  const char* message = info != NULL && info->error_message != NULL ? info->error_message : "unknown";

  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (!pending) {
    char text[256];
    snprintf(text, sizeof text, "olympus_native: N-API call failed: %s", message);
    napi_throw_error(env, NULL, text);
  }
  return NULL;
}

napi_value throw_errno(napi_env env, const char* syscall, int fd, int err) {
  const char* name = strerrorname_np(err);
  char code[32];
  if (name == NULL) {
    snprintf(code, sizeof code, "E%d", err);
    name = code;
  }

  char message[256];
  if (fd >= 0) {
    snprintf(message, sizeof message, "%s(fd %d): %s (%s)", syscall, fd, name, strerror(err));
  } else {
    snprintf(message, sizeof message, "%s: %s (%s)", syscall, name, strerror(err));
  }

  napi_value code_value, message_value, error, errno_value, syscall_value;
  CHECK(env, napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code_value));
  CHECK(env, napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &message_value));
  CHECK(env, napi_create_error(env, code_value, message_value, &error));
  /* Node's own errors carry the negated errno (uv style); do the same. */
  CHECK(env, napi_create_int32(env, -err, &errno_value));
  CHECK(env, napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &syscall_value));
  CHECK(env, napi_set_named_property(env, error, "errno", errno_value));
  CHECK(env, napi_set_named_property(env, error, "syscall", syscall_value));
  napi_throw(env, error);
  return NULL;
}

bool get_args(napi_env env, napi_callback_info info, size_t count, napi_value* argv) {
  size_t argc = count;
  return napi_get_cb_info(env, info, &argc, argv, NULL, NULL) == napi_ok;
}

bool get_int(napi_env env, napi_value value, const char* what, int32_t min, int32_t max, int32_t* out) {
  double number;
  if (napi_get_value_double(env, value, &number) != napi_ok || number != (double)(int64_t)number ||
      number < min || number > max) {
    char message[128];
    snprintf(message, sizeof message, "%s must be an integer from %d to %d", what, min, max);
    napi_throw_type_error(env, NULL, message);
    return false;
  }
  *out = (int32_t)number;
  return true;
}

bool get_fd(napi_env env, napi_value value, int* fd) {
  return get_int(env, value, "fd", 0, INT32_MAX, fd);
}

bool get_fd_argument(napi_env env, napi_callback_info info, int* fd) {
  napi_value argv[1];
  return get_args(env, info, 1, argv) && get_fd(env, argv[0], fd);
}

bool get_buffer(napi_env env, napi_value value, const char* what, void** data, size_t* length) {
  bool is_buffer = false;
  if (napi_is_buffer(env, value, &is_buffer) != napi_ok || !is_buffer) {
    char message[128];
    snprintf(message, sizeof message, "%s must be a Buffer", what);
    napi_throw_type_error(env, NULL, message);
    return false;
  }
  if (napi_get_buffer_info(env, value, data, length) != napi_ok) {
    napi_failure(env);
    return false;
  }
  return true;
}

bool is_again(int err) {
  return err == EAGAIN || err == EWOULDBLOCK;
}

napi_value make_null(napi_env env) {
  napi_value result;
  CHECK(env, napi_get_null(env, &result));
  return result;
}

napi_value make_int(napi_env env, int64_t value) {
  napi_value result;
  CHECK(env, napi_create_int64(env, value, &result));
  return result;
}

napi_value make_sent(napi_env env, ssize_t count, const char* syscall, int fd) {
  if (count < 0) {
    return is_again(errno) ? make_int(env, -1) : throw_errno(env, syscall, fd, errno);
  }
  return make_int(env, count);
}

napi_value make_fd_pair(napi_env env, int result, const char* syscall, const int fds[2]) {
  if (result < 0) {
    return throw_errno(env, syscall, -1, errno);
  }
  napi_value pair, first, second;
  if (napi_create_array_with_length(env, 2, &pair) != napi_ok ||
      napi_create_int32(env, fds[0], &first) != napi_ok ||
      napi_create_int32(env, fds[1], &second) != napi_ok ||
      napi_set_element(env, pair, 0, first) != napi_ok ||
      napi_set_element(env, pair, 1, second) != napi_ok) {
    close(fds[0]);
    close(fds[1]);
    return napi_failure(env);
  }
  return pair;
}

void* unwrap_this(napi_env env, napi_callback_info info, size_t count, napi_value* argv, napi_value* self, const char* what) {
  size_t argc = count;
  napi_value this_value;
  void* data = NULL;
  if (napi_get_cb_info(env, info, &argc, argv, &this_value, NULL) != napi_ok || napi_unwrap(env, this_value, &data) != napi_ok) {
    char message[64];
    snprintf(message, sizeof message, "not a %s", what);
    napi_throw_type_error(env, NULL, message);
    return NULL;
  }
  if (self != NULL) {
    *self = this_value;
  }
  return data;
}

void call_back(napi_env env, napi_async_context context, napi_value receiver, napi_value callback, size_t argc, const napi_value* argv) {
  if (napi_make_callback(env, context, receiver, callback, argc, argv, NULL) == napi_pending_exception) {
    napi_value error;
    napi_get_and_clear_last_exception(env, &error);
    napi_fatal_exception(env, error);
  }
}

bool get_constructor_args(napi_env env, napi_callback_info info, const char* what, size_t count, napi_value* argv,
                          napi_value* self, int* fd) {
  napi_value target;
  if (napi_get_new_target(env, info, &target) != napi_ok) {
    napi_failure(env);
    return false;
  }
  if (target == NULL) {
    char message[64];
    snprintf(message, sizeof message, "%s must be called with new", what);
    napi_throw_type_error(env, NULL, message);
    return false;
  }
  size_t argc = count;
  if (napi_get_cb_info(env, info, &argc, argv, self, NULL) != napi_ok) {
    napi_failure(env);
    return false;
  }
  return get_fd(env, argv[0], fd);
}

napi_value define_class(napi_env env, const char* name, napi_callback constructor, const method_t* methods, size_t count) {
  napi_property_descriptor properties[8];
  if (count > sizeof properties / sizeof properties[0]) {
    napi_throw_range_error(env, NULL, "define_class: more than 8 methods");
    return NULL;
  }
  for (size_t i = 0; i < count; i++) {
    properties[i] = (napi_property_descriptor){
        .utf8name = methods[i].name, .method = methods[i].function, .attributes = napi_default_method};
  }
  napi_value result;
  CHECK(env, napi_define_class(env, name, NAPI_AUTO_LENGTH, constructor, NULL, count, properties, &result));
  return result;
}
