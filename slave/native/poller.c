/*
 * Poller: a uv_poll_t on Node's own event loop, as a JS class.
 *
 *   const poller = new Poller(fd);  // takes ownership of fd
 *   poller.start(readable, writable, (status, readable, writable) => { ... });
 *   poller.startHangup(callback);  // hang-up alone (a reaped process's pidfd)
 *   poller.stop();   // keeps the handle, stops watching; the loop may exit
 *   poller.close();  // for good: stops watching, then closes the fd
 *
 * Why the poller owns its fd: stopping or closing a uv_poll_t removes its fd
 * NUMBER from epoll. If the fd were closed first and the number reused by
 * another watcher (any Node socket), that watcher would go deaf. Owning the
 * fd keeps the order right, even when a forgotten poller is collected.
 *
 * Lifetime: the JS object owns the C struct. While started, the object holds
 * a strong reference to itself, so an active poller is never collected; when
 * stopped or closed it is an ordinary object again. The struct is freed only
 * when both the uv handle has finished closing and the JS object is gone,
 * whichever comes last. close() may be called from inside the callback: uv
 * frees nothing until its close callback, which runs later.
 */
#include "olympus_native.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>
#include <uv.h>

typedef struct {
  uv_poll_t handle;
  int fd;
  napi_env env;
  napi_ref self;     /* weak, or strong while started */
  napi_ref callback; /* the function given to start(), NULL when stopped */
  napi_async_context async_context;
  bool started;
  bool closing;       /* uv_close() was called */
  bool handle_closed; /* uv's close callback has run */
  bool finalized;     /* the JS object was collected */
} poller_t;

static void destroy_async_context(poller_t* poller) {
  if (poller->async_context != NULL) {
    napi_async_destroy(poller->env, poller->async_context);
    poller->async_context = NULL;
  }
}

static void on_handle_closed(uv_handle_t* handle) {
  poller_t* poller = handle->data;
  poller->handle_closed = true;
  if (poller->finalized) {
    free(poller); /* finalize() already destroyed the async context */
  } else {
    /* Destroyed here, not in close(): close() may run inside a callback
     * that is still using the context. */
    destroy_async_context(poller);
  }
}

/* Mirrors a stopped uv handle in our bookkeeping: no callback, weak self. */
static void mark_stopped(poller_t* poller) {
  if (poller->callback != NULL) {
    napi_delete_reference(poller->env, poller->callback);
    poller->callback = NULL;
  }
  if (poller->started) {
    poller->started = false;
    napi_reference_unref(poller->env, poller->self, NULL);
  }
}

static void close_handle(poller_t* poller) {
  if (poller->closing) {
    return;
  }
  mark_stopped(poller);
  poller->closing = true;
  /* uv_close stops watching at once; only freeing waits for the callback.
   * So the fd number is no longer in epoll and may be closed now. */
  uv_close((uv_handle_t*)&poller->handle, on_handle_closed);
  close(poller->fd);
}

static void on_poll(uv_poll_t* handle, int status, int events) {
  poller_t* poller = handle->data;
  napi_env env = poller->env;
  if (poller->callback == NULL) {
    return;
  }

  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) {
    return;
  }
  napi_value self, callback, argv[3];
  bool ok = napi_get_reference_value(env, poller->self, &self) == napi_ok &&
            napi_get_reference_value(env, poller->callback, &callback) == napi_ok &&
            napi_create_int32(env, status, &argv[0]) == napi_ok &&
            napi_get_boolean(env, (events & UV_READABLE) != 0, &argv[1]) == napi_ok &&
            napi_get_boolean(env, (events & UV_WRITABLE) != 0, &argv[2]) == napi_ok;

  /* On an error (POLLERR) libuv has already stopped the handle. Record that
   * before JS runs, so the callback can start() again. Keep `callback` alive
   * in this scope first: mark_stopped() drops our reference to it. */
  if (ok && !uv_is_active((uv_handle_t*)handle)) {
    mark_stopped(poller);
  }

  if (ok) {
    call_back(env, poller->async_context, self, callback, 3, argv);
  }
  napi_close_handle_scope(env, scope);
}

static void finalize(napi_env env, void* data, void* hint) {
  (void)hint;
  poller_t* poller = data;
  close_handle(poller); /* no-op if close() was called */
  destroy_async_context(poller);
  napi_delete_reference(env, poller->self);
  poller->self = NULL;
  poller->finalized = true;
  if (poller->handle_closed) {
    free(poller);
  } /* else on_handle_closed frees it */
}

/* new Poller(fd): owns fd from now on; if this throws, the caller still does. */
static napi_value poller_new(napi_env env, napi_callback_info info) {
  napi_value argv[1], self;
  int fd;
  if (!get_constructor_args(env, info, "Poller", 1, argv, &self, &fd)) {
    return NULL;
  }

  uv_loop_t* loop;
  CHECK(env, napi_get_uv_event_loop(env, &loop));
  poller_t* poller = calloc(1, sizeof *poller);
  if (poller == NULL) {
    return throw_errno(env, "Poller", fd, ENOMEM);
  }

  /* uv_poll_init sets O_NONBLOCK, which is shared with every process holding
   * this open file description. We never rely on it (see fds.c), so put the
   * flags back as they were. */
  int flags = fcntl(fd, F_GETFL);
  int err = uv_poll_init(loop, &poller->handle, fd);
  if (err != 0) {
    free(poller);
    return throw_errno(env, "uv_poll_init", fd, -err);
  }
  if (flags >= 0 && !(flags & O_NONBLOCK)) {
    fcntl(fd, F_SETFL, flags);
  }
  poller->handle.data = poller;
  poller->fd = fd;
  poller->env = env;

  napi_value name;
  if (napi_create_string_utf8(env, "OlympusPoller", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_async_init(env, NULL, name, &poller->async_context) != napi_ok ||
      napi_wrap(env, self, poller, finalize, NULL, &poller->self) != napi_ok) {
    /* Not wrapped, so no finalizer will run: close and free right here,
     * and leave the fd to the caller. */
    destroy_async_context(poller);
    poller->finalized = true;
    poller->closing = true;
    uv_close((uv_handle_t*)&poller->handle, on_handle_closed);
    return napi_failure(env);
  }
  return self;
}

/* Watches `events` with `callback`, replacing any earlier start(). */
static napi_value start_watching(napi_env env, poller_t* poller, int events, napi_value callback, const char* closed_message) {
  if (poller->closing) {
    napi_throw_error(env, NULL, closed_message);
    return NULL;
  }
  napi_valuetype type;
  CHECK(env, napi_typeof(env, callback, &type));
  if (type != napi_function) {
    napi_throw_type_error(env, NULL, "Poller: callback must be a function");
    return NULL;
  }
  if (events == 0) {
    uv_poll_stop(&poller->handle);
    mark_stopped(poller);
    return NULL;
  }
  int err = uv_poll_start(&poller->handle, events, on_poll);
  if (err != 0) {
    return throw_errno(env, "uv_poll_start", poller->fd, -err);
  }
  if (poller->callback != NULL) {
    napi_delete_reference(env, poller->callback);
  }
  CHECK(env, napi_create_reference(env, callback, 1, &poller->callback));
  if (!poller->started) {
    poller->started = true;
    napi_reference_ref(env, poller->self, NULL);
  }
  return NULL;
}

/* start(readable, writable, callback) */
static napi_value poller_start(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  poller_t* poller = unwrap_this(env, info, 3, argv, NULL, "Poller");
  if (poller == NULL) {
    return NULL;
  }
  bool readable = false, writable = false;
  CHECK(env, napi_get_value_bool(env, argv[0], &readable));
  CHECK(env, napi_get_value_bool(env, argv[1], &writable));
  int events = (readable ? UV_READABLE : 0) | (writable ? UV_WRITABLE : 0);
  return start_watching(env, poller, events, argv[2], "Poller.start: the poller is closed");
}

/* startHangup(callback): calls back on hang-up alone, which epoll always
 * reports. A pidfd hangs up when its process has been reaped; it never has
 * the priority data asked for, so nothing else wakes the callback. */
static napi_value poller_start_hangup(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  poller_t* poller = unwrap_this(env, info, 1, argv, NULL, "Poller");
  if (poller == NULL) {
    return NULL;
  }
  return start_watching(env, poller, UV_PRIORITIZED, argv[0], "Poller.startHangup: the poller is closed");
}

static napi_value poller_stop(napi_env env, napi_callback_info info) {
  poller_t* poller = unwrap_this(env, info, 0, NULL, NULL, "Poller");
  if (poller != NULL && !poller->closing) {
    uv_poll_stop(&poller->handle);
    mark_stopped(poller);
  }
  return NULL;
}

static napi_value poller_close(napi_env env, napi_callback_info info) {
  poller_t* poller = unwrap_this(env, info, 0, NULL, NULL, "Poller");
  if (poller != NULL) {
    close_handle(poller);
  }
  return NULL;
}

napi_value define_poller_class(napi_env env) {
  static const method_t methods[] = {
      {"start", poller_start}, {"startHangup", poller_start_hangup}, {"stop", poller_stop}, {"close", poller_close}};
  return define_class(env, "Poller", poller_new, methods, sizeof methods / sizeof methods[0]);
}
