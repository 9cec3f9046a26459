/* The module's entry point: the functions and classes it exports. */
#include "olympus_native.h"

NAPI_MODULE_INIT() {
  napi_property_descriptor functions[] = {
    {"socketpair", NULL, js_socketpair, NULL, NULL, NULL, napi_enumerable, NULL},
    {"socketType", NULL, js_socket_type, NULL, NULL, NULL, napi_enumerable, NULL},
    {"shutdownWrite", NULL, js_shutdown_write, NULL, NULL, NULL, napi_enumerable, NULL},
    {"pipe", NULL, js_pipe, NULL, NULL, NULL, napi_enumerable, NULL},
    {"dup", NULL, js_dup, NULL, NULL, NULL, napi_enumerable, NULL},
    {"sendmsg", NULL, js_sendmsg, NULL, NULL, NULL, napi_enumerable, NULL},
    {"recvmsg", NULL, js_recvmsg, NULL, NULL, NULL, napi_enumerable, NULL},
    {"read", NULL, js_read, NULL, NULL, NULL, napi_enumerable, NULL},
    {"write", NULL, js_write, NULL, NULL, NULL, napi_enumerable, NULL},
    {"openpty", NULL, js_openpty, NULL, NULL, NULL, napi_enumerable, NULL},
    {"setWindowSize", NULL, js_set_window_size, NULL, NULL, NULL, napi_enumerable, NULL},
    {"getWindowSize", NULL, js_get_window_size, NULL, NULL, NULL, napi_enumerable, NULL},
    {"foregroundProcessGroup", NULL, js_foreground_process_group, NULL, NULL, NULL, napi_enumerable, NULL},
    {"pidfdOpen", NULL, js_pidfd_open, NULL, NULL, NULL, napi_enumerable, NULL},
    {"startGuardian", NULL, js_start_guardian, NULL, NULL, NULL, napi_enumerable, NULL},
    {"peerPid", NULL, js_peer_pid, NULL, NULL, NULL, napi_enumerable, NULL},
    {"startStandIn", NULL, js_start_stand_in, NULL, NULL, NULL, napi_enumerable, NULL},
    {"reap", NULL, js_reap, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  CHECK(env, napi_define_properties(env, exports, sizeof functions / sizeof functions[0], functions));

  napi_value poller = define_poller_class(env);
  if (poller == NULL) {
    return NULL;
  }
  CHECK(env, napi_set_named_property(env, exports, "Poller", poller));

  napi_value reader = define_reader_class(env);
  if (reader == NULL) {
    return NULL;
  }
  CHECK(env, napi_set_named_property(env, exports, "Reader", reader));
  return exports;
}
