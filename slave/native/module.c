/* The module's entry point: the functions and classes it exports. */
#include "olympus_native.h"

NAPI_MODULE_INIT() {
#define DESCRIBE_FUNCTION(js_name, function) {js_name, NULL, function, NULL, NULL, NULL, napi_enumerable, NULL},
  napi_property_descriptor functions[] = {OLYMPUS_FUNCTIONS(DESCRIBE_FUNCTION)};
#undef DESCRIBE_FUNCTION
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
