/*
 * Reader: reads an fd on a thread of its own and calls back on the event loop.
 *
 *   const reader = new Reader(fd, (chunk) => { ... });  // borrows fd
 *   reader.pause(); reader.resume();
 *   reader.idle();   // nothing read and undelivered, nothing waiting in the fd
 *   reader.close();  // joins the thread; the caller may then close fd
 *
 * `chunk` is a Buffer, null at end of input (0 bytes, or EIO from a PTY
 * master whose slave side is closed), or an Error. Nothing follows the end or
 * an error.
 *
 * Why a thread: a PTY master hands out at most 4 KiB per read(), and each
 * read waits for the kernel's tty worker to move the next 4 KiB. Read on the
 * loop thread, those waits stalled the agent for a quarter of its time under
 * full output. Here they overlap with the loop's work, and one callback
 * carries up to CHUNK_BYTES.
 *
 * Back-pressure: the thread stops reading while paused or while QUEUE_BYTES
 * wait for the loop, so a writer that outruns us blocks in the kernel.
 *
 * Stopping: the thread polls the fd together with a pipe that close() writes
 * to, and reads only what poll() says is there, so it never sits in read().
 * The fd stays blocking (see fds.c for why we never set O_NONBLOCK).
 */
#define _GNU_SOURCE
#include "olympus_native.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#define CHUNK_BYTES (64 * 1024)
#define QUEUE_BYTES (256 * 1024)

typedef struct chunk {
  struct chunk* next;
  int error;      /* 0, or the errno that ended reading */
  bool end;       /* end of input */
  size_t size;
  char data[];
} chunk_t;

typedef struct {
  int fd;
  int stop_pipe[2];
  napi_env env;
  napi_ref callback;
  napi_async_context async_context;
  uv_async_t async;
  pthread_t thread;
  pthread_mutex_t lock;
  pthread_cond_t wake;
  /* guarded by lock */
  chunk_t* head;
  chunk_t* tail;
  size_t queued_bytes;
  bool paused;
  bool stopping;
  bool gathering; /* the thread holds bytes it has not delivered yet */
  /* loop thread only */
  bool finished; /* end or error delivered: the thread has returned */
  bool closed;
} reader_t;

/* Appends a chunk and wakes the loop. */
static void deliver(reader_t* reader, chunk_t* chunk) {
  chunk->next = NULL;
  pthread_mutex_lock(&reader->lock);
  if (reader->tail != NULL) {
    reader->tail->next = chunk;
  } else {
    reader->head = chunk;
  }
  reader->tail = chunk;
  reader->queued_bytes += chunk->size;
  reader->gathering = false;
  pthread_mutex_unlock(&reader->lock);
  uv_async_send(&reader->async);
}

static void deliver_status(reader_t* reader, bool end, int error) {
  chunk_t* chunk = calloc(1, sizeof *chunk);
  if (chunk == NULL) {
    abort(); /* a few bytes: no recovery would be sounder */
  }
  chunk->end = end;
  chunk->error = error;
  deliver(reader, chunk);
}

static void set_gathering(reader_t* reader, bool gathering) {
  pthread_mutex_lock(&reader->lock);
  reader->gathering = gathering;
  pthread_mutex_unlock(&reader->lock);
}

/* Waits until reading may go on; false when stopping. */
static bool wait_for_turn(reader_t* reader) {
  pthread_mutex_lock(&reader->lock);
  while (!reader->stopping && (reader->paused || reader->queued_bytes >= QUEUE_BYTES)) {
    pthread_cond_wait(&reader->wake, &reader->lock);
  }
  bool go_on = !reader->stopping;
  pthread_mutex_unlock(&reader->lock);
  return go_on;
}

/* 1 when fd is readable (or hung up), 0 when not within timeout_ms or when
 * close() asked us to stop, -1 with errno on error. */
static int wait_readable(reader_t* reader, int timeout_ms) {
  struct pollfd entries[2] = {{.fd = reader->fd, .events = POLLIN}, {.fd = reader->stop_pipe[0], .events = POLLIN}};
  int ready = TEMP_FAILURE_RETRY(poll(entries, 2, timeout_ms));
  if (ready <= 0) {
    return ready;
  }
  if (entries[1].revents != 0) {
    return 0;
  }
  if (entries[0].revents & POLLNVAL) {
    errno = EBADF;
    return -1;
  }
  return 1;
}

static void* read_loop(void* argument) {
  reader_t* reader = argument;
  while (wait_for_turn(reader)) {
    int ready = wait_readable(reader, -1);
    if (ready < 0) {
      deliver_status(reader, false, errno);
      return NULL;
    }
    if (ready == 0) {
      continue; /* asked to stop: wait_for_turn says so */
    }
    set_gathering(reader, true);
    chunk_t* chunk = malloc(sizeof *chunk + CHUNK_BYTES);
    if (chunk == NULL) {
      abort();
    }
    chunk->size = 0;
    chunk->end = false;
    chunk->error = 0;
    bool end = false;
    int error = 0;
    /* Gather what is there now, up to a chunk, then hand it over. */
    while (chunk->size < CHUNK_BYTES) {
      ssize_t count = read(reader->fd, chunk->data + chunk->size, CHUNK_BYTES - chunk->size);
      if (count > 0) {
        chunk->size += (size_t)count;
        if (wait_readable(reader, 0) == 1) {
          continue;
        }
        break;
      }
      if (count < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) {
        break;
      }
      if (count == 0 || errno == EIO) {
        end = true; /* EIO: a PTY master whose slave side is closed */
      } else {
        error = errno;
      }
      break;
    }
    /* Bytes first, then the end or error as a chunk of its own. */
    if (chunk->size > 0) {
      deliver(reader, chunk);
    } else {
      free(chunk);
      set_gathering(reader, false);
    }
    if (end || error != 0) {
      deliver_status(reader, end, error);
      return NULL;
    }
  }
  return NULL;
}

static napi_value chunk_value(napi_env env, chunk_t* chunk) {
  napi_value value;
  if (chunk->error != 0) {
    /* throw_errno builds the error Node-style; take it back as a value. */
    throw_errno(env, "read", -1, chunk->error);
    if (napi_get_and_clear_last_exception(env, &value) != napi_ok) {
      return NULL;
    }
    return value;
  }
  if (chunk->end) {
    return napi_get_null(env, &value) == napi_ok ? value : NULL;
  }
  return napi_create_buffer_copy(env, chunk->size, chunk->data, NULL, &value) == napi_ok ? value : NULL;
}

/* Loop thread: hands queued chunks to JS, in order. */
static void on_async(uv_async_t* handle) {
  reader_t* reader = handle->data;
  pthread_mutex_lock(&reader->lock);
  chunk_t* chunk = reader->head;
  reader->head = reader->tail = NULL;
  reader->queued_bytes = 0;
  pthread_cond_signal(&reader->wake);
  pthread_mutex_unlock(&reader->lock);

  napi_env env = reader->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) {
    abort();
  }
  while (chunk != NULL) {
    chunk_t* next = chunk->next;
    if (!reader->closed && !reader->finished) {
      reader->finished = chunk->end || chunk->error != 0;
      if (reader->finished) {
        uv_unref((uv_handle_t*)&reader->async); /* nothing more will come */
      }
      napi_value callback, global, argument = chunk_value(env, chunk);
      if (argument != NULL && napi_get_reference_value(env, reader->callback, &callback) == napi_ok &&
          napi_get_global(env, &global) == napi_ok) {
        call_back(env, reader->async_context, global, callback, 1, &argument);
      }
    }
    free(chunk);
    chunk = next;
  }
  napi_close_handle_scope(env, scope);
}

static void free_queue(reader_t* reader) {
  for (chunk_t* chunk = reader->head; chunk != NULL;) {
    chunk_t* next = chunk->next;
    free(chunk);
    chunk = next;
  }
  reader->head = reader->tail = NULL;
}

static void on_async_closed(uv_handle_t* handle) {
  reader_t* reader = handle->data;
  free_queue(reader);
  pthread_mutex_destroy(&reader->lock);
  pthread_cond_destroy(&reader->wake);
  free(reader);
}

/* Stops and joins the thread, then lets the handle go. Idempotent. */
static void close_reader(reader_t* reader) {
  if (reader->closed) {
    return;
  }
  reader->closed = true;
  pthread_mutex_lock(&reader->lock);
  reader->stopping = true;
  pthread_cond_signal(&reader->wake);
  pthread_mutex_unlock(&reader->lock);
  ssize_t ignored = write(reader->stop_pipe[1], "", 1);
  (void)ignored;
  pthread_join(reader->thread, NULL);
  close(reader->stop_pipe[0]);
  close(reader->stop_pipe[1]);
  napi_delete_reference(reader->env, reader->callback);
  napi_async_destroy(reader->env, reader->async_context);
  uv_close((uv_handle_t*)&reader->async, on_async_closed);
}

static void set_paused(reader_t* reader, bool paused) {
  pthread_mutex_lock(&reader->lock);
  reader->paused = paused;
  pthread_cond_signal(&reader->wake);
  pthread_mutex_unlock(&reader->lock);
  /* A paused or finished reader does not keep Node running. */
  if (paused || reader->finished) {
    uv_unref((uv_handle_t*)&reader->async);
  } else {
    uv_ref((uv_handle_t*)&reader->async);
  }
}

static napi_value reader_pause(napi_env env, napi_callback_info info) {
  reader_t* reader = unwrap_this(env, info, 0, NULL, NULL, "Reader");
  if (reader != NULL && !reader->closed) {
    set_paused(reader, true);
  }
  return NULL;
}

static napi_value reader_resume(napi_env env, napi_callback_info info) {
  reader_t* reader = unwrap_this(env, info, 0, NULL, NULL, "Reader");
  if (reader != NULL && !reader->closed) {
    set_paused(reader, false);
  }
  return NULL;
}

/* Whether no output is on its way: none in the thread's hands, queued for the
 * loop, or in the fd (not even an end). A stalled loop runs expired timers
 * before the reads behind them: a timer that takes silence for the end asks. */
static napi_value reader_idle(napi_env env, napi_callback_info info) {
  reader_t* reader = unwrap_this(env, info, 0, NULL, NULL, "Reader");
  if (reader == NULL) {
    return NULL;
  }
  bool idle = reader->closed || reader->finished;
  if (!idle) {
    pthread_mutex_lock(&reader->lock);
    bool busy = reader->head != NULL || reader->gathering;
    pthread_mutex_unlock(&reader->lock);
    struct pollfd entry = {.fd = reader->fd, .events = POLLIN};
    idle = !busy && TEMP_FAILURE_RETRY(poll(&entry, 1, 0)) == 0;
  }
  napi_value value;
  return napi_get_boolean(env, idle, &value) == napi_ok ? value : NULL;
}

static napi_value reader_close(napi_env env, napi_callback_info info) {
  napi_value self;
  reader_t* reader = unwrap_this(env, info, 0, NULL, &self, "Reader");
  if (reader != NULL && !reader->closed) {
    close_reader(reader);
    napi_remove_wrap(env, self, NULL); /* on_async_closed frees it */
  }
  return NULL;
}

/* The JS object was collected without close(): stop the thread all the same. */
static void finalize(napi_env env, void* data, void* hint) {
  (void)env;
  (void)hint;
  close_reader(data);
}

/* new Reader(fd, callback): starts paused; resume() starts reading. */
static napi_value reader_new(napi_env env, napi_callback_info info) {
  napi_value argv[2], self, name;
  int fd;
  napi_valuetype type;
  if (!get_constructor_args(env, info, "Reader", 2, argv, &self, &fd)) {
    return NULL;
  }
  CHECK(env, napi_typeof(env, argv[1], &type));
  if (type != napi_function) {
    napi_throw_type_error(env, NULL, "Reader: callback must be a function");
    return NULL;
  }

  reader_t* reader = calloc(1, sizeof *reader);
  if (reader == NULL) {
    return throw_errno(env, "Reader", fd, ENOMEM);
  }
  if (pipe2(reader->stop_pipe, O_CLOEXEC) != 0) {
    int error = errno;
    free(reader);
    return throw_errno(env, "pipe2", -1, error);
  }
  uv_loop_t* loop;
  reader->fd = fd;
  reader->env = env;
  reader->paused = true;
  pthread_mutex_init(&reader->lock, NULL);
  pthread_cond_init(&reader->wake, NULL);
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || uv_async_init(loop, &reader->async, on_async) != 0) {
    close(reader->stop_pipe[0]);
    close(reader->stop_pipe[1]);
    free(reader);
    return napi_failure(env);
  }
  reader->async.data = reader;
  uv_unref((uv_handle_t*)&reader->async); /* paused */
  int error = pthread_create(&reader->thread, NULL, read_loop, reader);
  if (error != 0) {
    close(reader->stop_pipe[0]);
    close(reader->stop_pipe[1]);
    reader->closed = true;
    uv_close((uv_handle_t*)&reader->async, on_async_closed);
    return throw_errno(env, "pthread_create", fd, error);
  }
  if (napi_create_reference(env, argv[1], 1, &reader->callback) != napi_ok ||
      napi_create_string_utf8(env, "OlympusReader", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_async_init(env, NULL, name, &reader->async_context) != napi_ok ||
      napi_wrap(env, self, reader, finalize, NULL, NULL) != napi_ok) {
    napi_value failure = napi_failure(env);
    close_reader(reader);
    return failure;
  }
  return self;
}

napi_value define_reader_class(napi_env env) {
  static const method_t methods[] = {{"pause", reader_pause}, {"resume", reader_resume}, {"idle", reader_idle}, {"close", reader_close}};
  return define_class(env, "Reader", reader_new, methods, sizeof methods / sizeof methods[0]);
}
