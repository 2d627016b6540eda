// SPDX-License-Identifier: Apache-2.0
// SWIG interface that generates the private extension `bluefog._bluefog` from bluefog.h. It stays
// thin: typemaps carry DLPack tensors, rank/weight lists, argument structs and out-parameters
// across the boundary; everything Pythonic lives in the pure-Python package above it.
//
// Conventions of the generated functions (names and argument order are bluefog.h's):
//  - A bf_status result becomes None on BF_OK, else an exception: ValueError for
//    BF_ERR_INVALID_ARGUMENT and BF_ERR_SUSPENDED (BlueFog's SUSPEND_ERROR), RuntimeError otherwise, carrying bf_last_error() as its message and
//    the status code as `.status`. bf_wait alone returns the raw status (BF_ERR_TIMEOUT is normal).
//  - Out-parameters are returned (several as a list, in argument order); handles are ints.
//  - `const DLTensor*` / `DLTensor*` take a "dltensor" capsule (borrowed: not renamed, so its
//    owner keeps it) or any object with __dlpack__ (exported for the duration of the call only).
//  - `DLManagedTensor**` takes a slot from managed_slot_new(); managed_slot_take() hands the result
//    out as a "dltensor" capsule that NumPy, PyTorch and JAX import without copying.
//  - Argument structs are given as a dict of their field names (None: all defaults); pointer +
//    count fields are given as one list. Topologies are capsules freed by bf_topology_free.
//    The window structs' has_* flags follow from the dict: has_self_weight (bf_win_op_args) and
//    has_weights (bf_win_update_args) from "self_weight", has_ranks from "ranks".
%module(package="bluefog", threads="1") _bluefog

%{
#include <Python.h>

#include <cstdint>
#include <initializer_list>
#include <type_traits>
#include <string>
#include <vector>

#include "bluefog.h"

namespace {

constexpr const char* kTopologyCapsule = "bluefog.topology";
constexpr const char* kSlotCapsule = "bluefog.managed_slot";
constexpr const char* kDLTensorCapsule = "dltensor";

// Raises the Python exception for a failed call. Must run on the calling thread right after the
// call, before any other bf_* call, since bf_last_error() is thread-local.
void bfpy_raise(bf_status status) {
  const char* detail = bf_last_error();
  std::string text = (detail != nullptr && *detail != '\0') ? detail : bf_status_string(status);
  PyObject* type = status == BF_ERR_INVALID_ARGUMENT || status == BF_ERR_SUSPENDED
                       ? PyExc_ValueError
                       : PyExc_RuntimeError;
  PyObject* exc = PyObject_CallFunction(type, "s", text.c_str());
  if (exc == nullptr) return;
  PyObject* code = PyLong_FromLong(static_cast<long>(status));
  if (code != nullptr) {
    PyObject_SetAttrString(exc, "status", code);
    Py_DECREF(code);
  }
  PyErr_SetObject(type, exc);
  Py_DECREF(exc);
}

// DLTensor from a "dltensor" capsule (borrowed) or from obj.__dlpack__() (the new capsule is
// returned in *owned and must be released after the call). None gives NULL, which the library
// reports with its own message. Returns 0 or -1 with a Python exception set.
int bfpy_tensor(PyObject* obj, DLTensor** tensor, PyObject** owned) {
  *owned = nullptr;
  if (obj == Py_None) {
    *tensor = nullptr;
    return 0;
  }
  PyObject* capsule = obj;
  if (!PyCapsule_CheckExact(obj)) {
    if (!PyObject_HasAttrString(obj, "__dlpack__")) {
      PyErr_Format(PyExc_TypeError,
                   "expected an array with __dlpack__ or a 'dltensor' capsule, got %s",
                   Py_TYPE(obj)->tp_name);
      return -1;
    }
    capsule = PyObject_CallMethod(obj, "__dlpack__", nullptr);
    if (capsule == nullptr) return -1;
    *owned = capsule;
  }
  if (!PyCapsule_IsValid(capsule, kDLTensorCapsule)) {
    PyErr_SetString(PyExc_TypeError,
                    "expected a 'dltensor' capsule (one already consumed cannot be reused)");
    Py_XDECREF(*owned);
    *owned = nullptr;
    return -1;
  }
  auto* managed =
      static_cast<DLManagedTensor*>(PyCapsule_GetPointer(capsule, kDLTensorCapsule));
  *tensor = &managed->dl_tensor;
  return 0;
}

// A capsule following the DLPack exchange protocol: whoever imports it renames it to
// "used_dltensor" and takes over the deleter; if nobody does, the destructor frees the tensor.
void bfpy_dltensor_destructor(PyObject* capsule) {
  if (!PyCapsule_IsValid(capsule, kDLTensorCapsule)) return;
  auto* managed =
      static_cast<DLManagedTensor*>(PyCapsule_GetPointer(capsule, kDLTensorCapsule));
  if (managed != nullptr && managed->deleter != nullptr) managed->deleter(managed);
}

// A slot is a heap cell receiving a DLManagedTensor* from an operation, possibly after the call
// returns (async forms), so it lives in a capsule the Python layer keeps until completion.
void bfpy_slot_destructor(PyObject* capsule) {
  auto* cell = static_cast<DLManagedTensor**>(PyCapsule_GetPointer(capsule, kSlotCapsule));
  if (cell == nullptr) return;
  if (*cell != nullptr && (*cell)->deleter != nullptr) (*cell)->deleter(*cell);
  delete cell;
}

void bfpy_topology_destructor(PyObject* capsule) {
  bf_topology_free(static_cast<bf_topology*>(PyCapsule_GetPointer(capsule, kTopologyCapsule)));
}

int bfpy_topology(PyObject* obj, bf_topology** out) {
  if (obj == Py_None) {
    *out = nullptr;
    return 0;
  }
  if (!PyCapsule_IsValid(obj, kTopologyCapsule)) {
    PyErr_Format(PyExc_TypeError, "expected a bluefog topology capsule, got %s",
                 Py_TYPE(obj)->tp_name);
    return -1;
  }
  *out = static_cast<bf_topology*>(PyCapsule_GetPointer(obj, kTopologyCapsule));
  return 0;
}

// Sequences of numbers (None: empty, with *given = false).
template <typename T>
int bfpy_numbers(PyObject* obj, const char* what, std::vector<T>* out, bool* given) {
  out->clear();
  *given = obj != nullptr && obj != Py_None;
  if (!*given) return 0;
  PyObject* seq = PySequence_Fast(obj, what);
  if (seq == nullptr) return -1;
  const Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
  out->reserve(static_cast<size_t>(n));
  for (Py_ssize_t k = 0; k < n; ++k) {
    PyObject* item = PySequence_Fast_GET_ITEM(seq, k);
    if constexpr (std::is_same_v<T, int>) {
      const long value = PyLong_AsLong(item);
      if (value == -1 && PyErr_Occurred()) break;
      if (value < INT32_MIN || value > INT32_MAX) {
        PyErr_Format(PyExc_OverflowError, "%s: %ld does not fit in a C int", what, value);
        break;
      }
      out->push_back(static_cast<int>(value));
    } else {
      const double value = PyFloat_AsDouble(item);
      if (value == -1.0 && PyErr_Occurred()) break;
      out->push_back(value);
    }
  }
  Py_DECREF(seq);
  return PyErr_Occurred() ? -1 : 0;
}

PyObject* bfpy_list(const int* values, int count) {
  PyObject* list = PyList_New(count);
  for (int k = 0; list != nullptr && k < count; ++k) {
    PyList_SET_ITEM(list, k, PyLong_FromLong(values[k]));
  }
  return list;
}

PyObject* bfpy_list(const double* values, int count) {
  PyObject* list = PyList_New(count);
  for (int k = 0; list != nullptr && k < count; ++k) {
    PyList_SET_ITEM(list, k, PyFloat_FromDouble(values[k]));
  }
  return list;
}

// Reads argument structs from a dict of field names. Every key must be a known field, so a typo
// is a TypeError instead of a silently ignored option.
class FieldReader {
 public:
  FieldReader(PyObject* dict, const char* type) : dict_(dict), type_(type) {}

  int Check(std::initializer_list<const char*> known) const {
    if (dict_ == Py_None) return 0;
    if (!PyDict_Check(dict_)) {
      PyErr_Format(PyExc_TypeError, "%s must be a dict or None, got %s", type_,
                   Py_TYPE(dict_)->tp_name);
      return -1;
    }
    PyObject* key;
    PyObject* value;
    Py_ssize_t pos = 0;
    while (PyDict_Next(dict_, &pos, &key, &value)) {
      bool found = false;
      for (const char* name : known) {
        if (PyUnicode_Check(key) && PyUnicode_CompareWithASCIIString(key, name) == 0) found = true;
      }
      if (!found) {
        PyErr_Format(PyExc_TypeError, "%s has no field %R", type_, key);
        return -1;
      }
    }
    return 0;
  }

  PyObject* Get(const char* field) const {
    if (dict_ == Py_None) return nullptr;
    PyObject* value = PyDict_GetItemString(dict_, field);
    return value == Py_None ? nullptr : value;
  }

  int Int(const char* field, int* out) const {
    PyObject* value = Get(field);
    if (value == nullptr) return 0;
    const long v = PyLong_AsLong(value);
    if (v == -1 && PyErr_Occurred()) return -1;
    *out = static_cast<int>(v);
    return 0;
  }

  int Double(const char* field, double* out) const {
    PyObject* value = Get(field);
    if (value == nullptr) return 0;
    const double v = PyFloat_AsDouble(value);
    if (v == -1.0 && PyErr_Occurred()) return -1;
    *out = v;
    return 0;
  }

  int String(const char* field, std::string* storage, const char** out) const {
    PyObject* value = Get(field);
    if (value == nullptr) return 0;
    const char* text = PyUnicode_AsUTF8(value);
    if (text == nullptr) return -1;
    *storage = text;
    *out = storage->c_str();
    return 0;
  }

  template <typename T>
  int List(const char* field, std::vector<T>* storage, bool* given) const {
    return bfpy_numbers(Get(field), field, storage, given);
  }

 private:
  PyObject* dict_;
  const char* type_;
};

// Storage behind a bf_neighbor_args read from Python; lives until the call returns (the library
// copies what it keeps).
struct NeighborArgsStorage {
  bf_neighbor_args args{};
  std::string name;
  std::vector<int> src_ranks, dst_ranks;
  std::vector<double> src_weights, dst_weights;
};

int bfpy_neighbor_args(PyObject* dict, NeighborArgsStorage* s, bf_neighbor_args** out) {
  *out = nullptr;
  if (dict == Py_None) return 0;
  FieldReader r(dict, "bf_neighbor_args");
  if (r.Check({"name", "has_weights", "self_weight", "src_ranks", "src_weights", "dynamic",
               "dst_ranks", "dst_weights", "check_topology", "compression", "topk_ratio",
               "error_feedback", "consensus_step"}) != 0) {
    return -1;
  }
  bf_neighbor_args& a = s->args;
  a.struct_size = sizeof(bf_neighbor_args);
  bool src_given = false, src_w_given = false, dst_given = false, dst_w_given = false;
  int compression = 0, feedback = 0;
  if (r.Int("compression", &compression) || r.Double("topk_ratio", &a.topk_ratio) ||
      r.Int("error_feedback", &feedback) || r.Double("consensus_step", &a.consensus_step)) {
    return -1;
  }
  a.compression = static_cast<bf_compression>(compression);
  a.error_feedback = static_cast<bf_error_feedback>(feedback);
  if (r.String("name", &s->name, &a.name) || r.Int("has_weights", &a.has_weights) ||
      r.Double("self_weight", &a.self_weight) || r.Int("dynamic", &a.dynamic) ||
      r.Int("check_topology", &a.check_topology) ||
      r.List("src_ranks", &s->src_ranks, &src_given) ||
      r.List("src_weights", &s->src_weights, &src_w_given) ||
      r.List("dst_ranks", &s->dst_ranks, &dst_given) ||
      r.List("dst_weights", &s->dst_weights, &dst_w_given)) {
    return -1;
  }
  if (src_w_given && s->src_weights.size() != s->src_ranks.size()) {
    PyErr_Format(PyExc_ValueError, "src_weights has %zu entries but src_ranks has %zu",
                 s->src_weights.size(), s->src_ranks.size());
    return -1;
  }
  if (dst_w_given && s->dst_weights.size() != s->dst_ranks.size()) {
    PyErr_Format(PyExc_ValueError, "dst_weights has %zu entries but dst_ranks has %zu",
                 s->dst_weights.size(), s->dst_ranks.size());
    return -1;
  }
  a.src_count = static_cast<int>(s->src_ranks.size());
  a.src_ranks = src_given ? s->src_ranks.data() : nullptr;
  a.src_weights = src_w_given ? s->src_weights.data() : nullptr;
  a.dst_count = static_cast<int>(s->dst_ranks.size());
  a.dst_ranks = dst_given ? s->dst_ranks.data() : nullptr;
  a.dst_weights = dst_w_given ? s->dst_weights.data() : nullptr;
  *out = &a;
  return 0;
}

// Storage behind a bf_win_op_args / bf_win_update_args read from Python; lives until the call
// returns (the library copies what an async operation keeps).
struct WinOpArgsStorage {
  bf_win_op_args args{};
  std::vector<int> ranks;
  std::vector<double> weights;
};

int bfpy_win_op_args(PyObject* dict, WinOpArgsStorage* s, bf_win_op_args** out) {
  *out = nullptr;
  if (dict == Py_None) return 0;
  FieldReader r(dict, "bf_win_op_args");
  if (r.Check({"self_weight", "ranks", "weights", "require_mutex"}) != 0) return -1;
  bf_win_op_args& a = s->args;
  a.struct_size = sizeof(bf_win_op_args);
  bool ranks_given = false, weights_given = false;
  if (r.Double("self_weight", &a.self_weight) || r.Int("require_mutex", &a.require_mutex) ||
      r.List("ranks", &s->ranks, &ranks_given) || r.List("weights", &s->weights, &weights_given)) {
    return -1;
  }
  if (weights_given && (!ranks_given || s->weights.size() != s->ranks.size())) {
    PyErr_Format(PyExc_ValueError, "weights has %zu entries but ranks has %zu",
                 s->weights.size(), s->ranks.size());
    return -1;
  }
  a.has_self_weight = r.Get("self_weight") != nullptr;
  a.has_ranks = ranks_given;
  a.count = static_cast<int>(s->ranks.size());
  a.ranks = s->ranks.data();
  a.weights = weights_given ? s->weights.data() : nullptr;
  *out = &a;
  return 0;
}

struct WinUpdateArgsStorage {
  bf_win_update_args args{};
  std::vector<int> ranks;
  std::vector<double> weights;
};

// Weights are given when "self_weight" is: then "ranks" (and "weights") name the buffers read.
int bfpy_win_update_args(PyObject* dict, WinUpdateArgsStorage* s, bf_win_update_args** out) {
  *out = nullptr;
  if (dict == Py_None) return 0;
  FieldReader r(dict, "bf_win_update_args");
  if (r.Check({"self_weight", "ranks", "weights", "reset", "require_mutex"}) != 0) return -1;
  bf_win_update_args& a = s->args;
  a.struct_size = sizeof(bf_win_update_args);
  bool ranks_given = false, weights_given = false;
  if (r.Double("self_weight", &a.self_weight) || r.Int("reset", &a.reset) ||
      r.Int("require_mutex", &a.require_mutex) || r.List("ranks", &s->ranks, &ranks_given) ||
      r.List("weights", &s->weights, &weights_given)) {
    return -1;
  }
  if (weights_given && (!ranks_given || s->weights.size() != s->ranks.size())) {
    PyErr_Format(PyExc_ValueError, "weights has %zu entries but ranks has %zu",
                 s->weights.size(), s->ranks.size());
    return -1;
  }
  a.has_weights = r.Get("self_weight") != nullptr;
  a.count = static_cast<int>(s->ranks.size());
  a.ranks = s->ranks.data();
  a.weights = weights_given ? s->weights.data() : nullptr;
  *out = &a;
  return 0;
}

// Capacity for schedule results: every list holds at most `size` ranks.
int bfpy_capacity(const bf_topology* topology) { return bf_topology_size(topology); }
int bfpy_capacity(int world_size) { return world_size; }

}  // namespace
%}

%include <stdint.i>
%include <typemaps.i>

// The header's export macro means nothing to SWIG.
#define BF_API

// ------------------------------------------------------------------------------------------------
// Status results.

%typemap(out) bf_status {
  if ($1 != BF_OK) {
    bfpy_raise($1);
    SWIG_fail;
  }
  $result = SWIG_Py_Void();
}
// bf_wait reports the operation's own status, and BF_ERR_TIMEOUT is an ordinary answer.
%typemap(out) bf_status bf_wait {
  $result = PyLong_FromLong(static_cast<long>($1));
}

// ------------------------------------------------------------------------------------------------
// Tensors.

%typemap(in) const DLTensor * (PyObject *owned_capsule = nullptr),
             DLTensor * (PyObject *owned_capsule = nullptr) {
  if (bfpy_tensor($input, &$1, &owned_capsule) != 0) SWIG_fail;
}
%typemap(freearg) const DLTensor *, DLTensor * {
  Py_XDECREF(owned_capsule$argnum);
}

%typemap(in) DLManagedTensor ** {
  if (!PyCapsule_IsValid($input, kSlotCapsule)) {
    PyErr_Format(PyExc_TypeError, "expected a slot from managed_slot_new(), got %s",
                 Py_TYPE($input)->tp_name);
    SWIG_fail;
  }
  $1 = static_cast<DLManagedTensor**>(PyCapsule_GetPointer($input, kSlotCapsule));
  if (*$1 != nullptr) {
    PyErr_SetString(PyExc_ValueError, "this result slot already holds a tensor; take it first");
    SWIG_fail;
  }
}

// ------------------------------------------------------------------------------------------------
// Handles, plain out-parameters.

%typemap(in, numinputs=0) bf_handle *handle (bf_handle handle_store = 0) {
  $1 = &handle_store;
}
%typemap(argout) bf_handle *handle {
  $result = SWIG_Python_AppendOutput($result, PyLong_FromUnsignedLongLong(*$1));
}

%apply int *OUTPUT { int *is_weighted, int *done, int *enabled, int *locked };
%apply double *OUTPUT { double *weight, double *rho, double *p };

// ------------------------------------------------------------------------------------------------
// Topologies: capsules owning a bf_topology (the capsule frees it; bf_topology_free is not bound).

%typemap(in) const bf_topology *, bf_topology * {
  if (bfpy_topology($input, &$1) != 0) SWIG_fail;
}
%typemap(in, numinputs=0) bf_topology **out (bf_topology *topology_store = nullptr) {
  $1 = &topology_store;
}
%typemap(argout) bf_topology **out {
  // bf_get_machine_topology gives NULL when none is set: None.
  PyObject* topology_obj = *$1 == nullptr
      ? SWIG_Py_Void()
      : PyCapsule_New(*$1, kTopologyCapsule, bfpy_topology_destructor);
  $result = SWIG_Python_AppendOutput($result, topology_obj);
}
%ignore bf_topology_free;

// Number lists in (None: NULL).
%typemap(in) const int * (std::vector<int> ints_store, bool ints_given) {
  if (bfpy_numbers($input, "$1_name", &ints_store, &ints_given) != 0) SWIG_fail;
  $1 = ints_given ? ints_store.data() : nullptr;
}
%typemap(in) const double * (std::vector<double> doubles_store, bool doubles_given) {
  if (bfpy_numbers($input, "$1_name", &doubles_store, &doubles_given) != 0) SWIG_fail;
  $1 = doubles_given ? doubles_store.data() : nullptr;
}

// A rank list with its count (bf_infer_topology, bf_win_mutex_acquire/release). None gives NULL
// (the window mutexes then mean the out-neighbors); an empty list gives a non-NULL empty list.
%typemap(in) (const int *ranks, int count)
    (std::vector<int> ranks_in, bool ranks_given, int no_ranks = 0) {
  if (bfpy_numbers($input, "ranks", &ranks_in, &ranks_given) != 0) SWIG_fail;
  $1 = !ranks_given ? nullptr : ranks_in.empty() ? &no_ranks : ranks_in.data();
  $2 = static_cast<int>(ranks_in.size());
}

// bf_topology_to_matrix: the size*size matrix comes back as a flat list.
%typemap(in, numinputs=0) double *matrix (std::vector<double> matrix_store) {
  $1 = nullptr;
}
%typemap(check) double *matrix {
  const int n = bf_topology_size(arg1);
  if (n > 0) {
    matrix_store$argnum.resize(static_cast<size_t>(n) * n);
    $1 = matrix_store$argnum.data();
  }
}
%typemap(argout) double *matrix {
  $result = SWIG_Python_AppendOutput(
      $result, bfpy_list(matrix_store$argnum.data(), static_cast<int>(matrix_store$argnum.size())));
}

// bf_topology_in/out_neighbors: (ranks, weights).
%typemap(in, numinputs=0) (int *ranks, double *weights, int capacity, int *count)
    (std::vector<int> ranks_store, std::vector<double> weights_store, int count_store = 0) {
  $1 = nullptr;
  $2 = nullptr;
  $3 = 0;
  $4 = &count_store;
}
%typemap(check) (int *ranks, double *weights, int capacity, int *count) {
  const int n = bf_topology_size(arg1);
  if (n > 0) {
    ranks_store$argnum.resize(static_cast<size_t>(n));
    weights_store$argnum.resize(static_cast<size_t>(n));
    $1 = ranks_store$argnum.data();
    $2 = weights_store$argnum.data();
    $3 = n;
  }
}
%typemap(argout) (int *ranks, double *weights, int capacity, int *count) {
  $result = SWIG_Python_AppendOutput(
      $result, Py_BuildValue("(NN)", bfpy_list($1, *$4), bfpy_list($2, *$4)));
}

// Schedules: (send, recv).
%define BFPY_SCHEDULE_OUT(SEND, RECV)
%typemap(in, numinputs=0) (int *SEND, int *send_count, int *RECV, int *recv_count, int capacity)
    (std::vector<int> send_store, std::vector<int> recv_store, int send_n = 0, int recv_n = 0) {
  $1 = nullptr;
  $2 = &send_n;
  $3 = nullptr;
  $4 = &recv_n;
  $5 = 0;
}
%typemap(check) (int *SEND, int *send_count, int *RECV, int *recv_count, int capacity) {
  const int n = bfpy_capacity(arg1);
  if (n > 0) {
    send_store$argnum.resize(static_cast<size_t>(n));
    recv_store$argnum.resize(static_cast<size_t>(n));
    $1 = send_store$argnum.data();
    $3 = recv_store$argnum.data();
    $5 = n;
  }
}
%typemap(argout) (int *SEND, int *send_count, int *RECV, int *recv_count, int capacity) {
  $result = SWIG_Python_AppendOutput(
      $result, Py_BuildValue("(NN)", bfpy_list($1, *$2), bfpy_list($3, *$4)));
}
%enddef
BFPY_SCHEDULE_OUT(send_ranks, recv_ranks)
BFPY_SCHEDULE_OUT(send_machines, recv_machines)

// ------------------------------------------------------------------------------------------------
// Windows.

// bf_win_names: the names as one string ("a\nb\n"). The action asks for the size first, then
// fills a buffer of that size (again if a window was created in between).
%typemap(in, numinputs=0) (char *buffer, size_t capacity, size_t *needed)
    (std::string names_store, size_t needed_store = 0) {
  $1 = nullptr;
  $2 = 0;
  $3 = &needed_store;
}
%typemap(argout) (char *buffer, size_t capacity, size_t *needed) {
  $result = SWIG_Python_AppendOutput(
      $result, PyUnicode_FromString($1 != nullptr ? $1 : ""));
}
%feature("action") bf_win_names {
  for (;;) {
    result = bf_win_names(arg1, arg2, arg3);
    if (result != BF_OK || (arg1 != nullptr && *arg3 <= arg2)) break;
    names_store1.assign(*arg3 > 0 ? *arg3 : 1, '\0');
    arg1 = &names_store1[0];
    arg2 = names_store1.size();
  }
}

// bf_win_versions: (ranks, versions) of the window's in-neighbors.
%typemap(in, numinputs=0) (int *ranks, int *versions, int capacity, int *count)
    (std::vector<int> ranks_store, std::vector<int> versions_store, int count_store = 0) {
  const int n = bf_size() > 0 ? bf_size() : 0;
  ranks_store.resize(static_cast<size_t>(n) + 1);
  versions_store.resize(static_cast<size_t>(n) + 1);
  $1 = ranks_store.data();
  $2 = versions_store.data();
  $3 = n;
  $4 = &count_store;
}
%typemap(argout) (int *ranks, int *versions, int capacity, int *count) {
  const int shown = *$4 < $3 ? *$4 : $3;
  $result = SWIG_Python_AppendOutput(
      $result, Py_BuildValue("(NN)", bfpy_list($1, shown), bfpy_list($2, shown)));
}

%typemap(in) const bf_win_op_args * (WinOpArgsStorage win_op_store) {
  if (bfpy_win_op_args($input, &win_op_store, &$1) != 0) SWIG_fail;
}
%typemap(in) const bf_win_update_args * (WinUpdateArgsStorage win_update_store) {
  if (bfpy_win_update_args($input, &win_update_store, &$1) != 0) SWIG_fail;
}
%ignore bf_win_op_args;
%ignore bf_win_update_args;

// ------------------------------------------------------------------------------------------------
// Argument structs from dicts. The structs themselves get no Python classes.

%typemap(in) const bf_init_options *
    (bf_init_options options_store, std::uintptr_t comm_address = 0, std::string prefix_store) {
  $1 = nullptr;
  if ($input != Py_None) {
    FieldReader r($input, "bf_init_options");
    options_store = bf_init_options{};
    options_store.struct_size = sizeof(bf_init_options);
    int matching = 0, compression = 0;
    double fusion_bytes = 0.0;
    if (r.Check({"mpi_comm", "nodes_per_machine", "matching_mode", "stall_warning_s",
                 "timeline_prefix", "fusion_threshold_bytes", "cycle_time_ms", "compression",
                 "topk_ratio"}) ||
        r.Int("compression", &compression) ||
        r.Double("topk_ratio", &options_store.topk_ratio) ||
        r.Int("nodes_per_machine", &options_store.nodes_per_machine) ||
        r.Int("matching_mode", &matching) ||
        r.Double("stall_warning_s", &options_store.stall_warning_s) ||
        r.String("timeline_prefix", &prefix_store, &options_store.timeline_prefix) ||
        r.Double("fusion_threshold_bytes", &fusion_bytes) ||
        r.Double("cycle_time_ms", &options_store.cycle_time_ms)) {
      SWIG_fail;
    }
    options_store.matching_mode = static_cast<bf_matching_mode>(matching);
    options_store.compression = static_cast<bf_compression>(compression);
    options_store.fusion_threshold_bytes = static_cast<int64_t>(fusion_bytes);
    // mpi_comm: the address of an MPI_Comm (e.g. mpi4py's MPI._addressof(comm)).
    if (PyObject* address = r.Get("mpi_comm")) {
      comm_address = static_cast<std::uintptr_t>(PyLong_AsUnsignedLongLong(address));
      if (PyErr_Occurred()) SWIG_fail;
      options_store.mpi_comm = reinterpret_cast<const void*>(comm_address);
    }
    $1 = &options_store;
  }
}

%typemap(in) const bf_op_args * (bf_op_args args_store, std::string name_store) {
  $1 = nullptr;
  if ($input != Py_None) {
    FieldReader r($input, "bf_op_args");
    args_store = bf_op_args{};
    args_store.struct_size = sizeof(bf_op_args);
    if (r.Check({"name"}) || r.String("name", &name_store, &args_store.name)) SWIG_fail;
    $1 = &args_store;
  }
}

%typemap(in) const bf_allreduce_args * (bf_allreduce_args args_store, std::string name_store) {
  $1 = nullptr;
  if ($input != Py_None) {
    FieldReader r($input, "bf_allreduce_args");
    args_store = bf_allreduce_args{};
    args_store.struct_size = sizeof(bf_allreduce_args);
    int reduce_op = 0;
    if (r.Check({"name", "op", "machine_local"}) ||
        r.String("name", &name_store, &args_store.name) || r.Int("op", &reduce_op) ||
        r.Int("machine_local", &args_store.machine_local)) {
      SWIG_fail;
    }
    args_store.op = static_cast<bf_reduce_op>(reduce_op);
    $1 = &args_store;
  }
}

%typemap(in) const bf_neighbor_args * (NeighborArgsStorage neighbor_store) {
  if (bfpy_neighbor_args($input, &neighbor_store, &$1) != 0) SWIG_fail;
}

%ignore bf_init_options;
%ignore bf_op_args;
%ignore bf_allreduce_args;
%ignore bf_neighbor_args;

// ------------------------------------------------------------------------------------------------
// Helpers for DLPack results. They touch Python objects, so they keep the GIL.

%nothread managed_slot_new;
%nothread managed_slot_take;
%nothread dltensor_device;
%nothread dltensor_info;

%inline %{
// A fresh slot for a DLManagedTensor** result.
PyObject* managed_slot_new() {
  auto* cell = new DLManagedTensor*(nullptr);
  PyObject* capsule = PyCapsule_New(cell, kSlotCapsule, bfpy_slot_destructor);
  if (capsule == nullptr) delete cell;
  return capsule;
}

// The slot's tensor as a "dltensor" capsule (the slot is emptied), or None if it holds none.
PyObject* managed_slot_take(PyObject* slot) {
  if (!PyCapsule_IsValid(slot, kSlotCapsule)) {
    PyErr_SetString(PyExc_TypeError, "expected a slot from managed_slot_new()");
    return nullptr;
  }
  auto* cell = static_cast<DLManagedTensor**>(PyCapsule_GetPointer(slot, kSlotCapsule));
  if (*cell == nullptr) Py_RETURN_NONE;
  PyObject* capsule = PyCapsule_New(*cell, kDLTensorCapsule, bfpy_dltensor_destructor);
  if (capsule != nullptr) *cell = nullptr;
  return capsule;
}

// (device_type, device_id) of a "dltensor" capsule, for __dlpack_device__.
PyObject* dltensor_device(PyObject* capsule) {
  if (!PyCapsule_IsValid(capsule, kDLTensorCapsule)) {
    PyErr_SetString(PyExc_TypeError, "expected a 'dltensor' capsule");
    return nullptr;
  }
  auto* managed =
      static_cast<DLManagedTensor*>(PyCapsule_GetPointer(capsule, kDLTensorCapsule));
  return Py_BuildValue("(ii)", static_cast<int>(managed->dl_tensor.device.device_type),
                       managed->dl_tensor.device.device_id);
}

// (data address, shape, (dtype code, bits, lanes)) of a "dltensor" capsule (compact tensors), so
// NumPy can view it through __array_interface__ (numpy.from_dlpack would make it read-only).
PyObject* dltensor_info(PyObject* capsule) {
  if (!PyCapsule_IsValid(capsule, kDLTensorCapsule)) {
    PyErr_SetString(PyExc_TypeError, "expected a 'dltensor' capsule");
    return nullptr;
  }
  const DLTensor& t =
      static_cast<DLManagedTensor*>(PyCapsule_GetPointer(capsule, kDLTensorCapsule))->dl_tensor;
  PyObject* shape = PyTuple_New(t.ndim);
  for (int d = 0; shape != nullptr && d < t.ndim; ++d) {
    PyTuple_SET_ITEM(shape, d, PyLong_FromLongLong(t.shape[d]));
  }
  const auto address = reinterpret_cast<std::uintptr_t>(t.data) + t.byte_offset;
  return Py_BuildValue("(KN(iii))", static_cast<unsigned long long>(t.data ? address : 0), shape,
                       static_cast<int>(t.dtype.code), static_cast<int>(t.dtype.bits),
                       static_cast<int>(t.dtype.lanes));
}
%}

// bf_set_cuda_stream takes a cudaStream_t, which Python holds as an integer
// (torch.cuda.Stream.cuda_stream, cupy's Stream.ptr).
%ignore bf_set_cuda_stream;
%inline %{
bf_status set_cuda_stream_address(unsigned long long stream) {
  return bf_set_cuda_stream(reinterpret_cast<void*>(static_cast<std::uintptr_t>(stream)));
}
%}

%include "bluefog.h"
